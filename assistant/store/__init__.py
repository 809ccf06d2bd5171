"""The article store: Chroma (passages with their vectors, one catalogue record per article, the change
log) and what is derived from it in DATA_DIR (the keyword and near-duplicate indexes and their sync),
the local Chroma server that owns DATA_DIR/chroma, the trash and the audit log.

May import: `assistant.nlp`, `assistant.infra` and the top-level `config`, `types`, `filters`; never an
encoder (the store is handed a LangChain `Embeddings`), retrieval or answering.
Public names: `chunk_store.build_store`, `chunk_store.ChunkStore`, `chunk_store.StoredArticle`,
`server.ensure_server`, `server.stop_server`, `trash.Trash`, `audit.AuditLog`, `vectors.vectors_name`.
"""
