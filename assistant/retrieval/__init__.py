"""Finding the passages for a question: dense and keyword search side by side, fused, with the date
priors and one or two passages per article.

May import: `assistant.encoders`, `assistant.store`, `assistant.nlp`, `assistant.infra` and the
top-level `config`, `types`, `filters`. Public names: `retriever.Retriever`, `retriever.retrieval_settings`.
"""
