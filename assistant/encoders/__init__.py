"""The sentence encoder: all-MiniLM-L6-v2 from its PyPI package, on torch or ONNX Runtime (float or
int8), exported to ONNX once per DATA_DIR/models.

May import: `assistant.store` (which vectors a store holds), `assistant.nlp`, `assistant.infra` and the
top-level `config`, `types`. Public names: `embeddings.build_embeddings`, `embeddings.MiniLMEmbeddings`,
`embeddings.TextEncoder`.
"""
