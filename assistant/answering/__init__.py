"""Writing the answer from the retrieved passages: the answerers (`answerers/`: the local model, Ollama,
OpenAI-compatible servers, the extractive fallback), the prompts, the conversation history, and the
checks of what an answer cites (`citations`, `verification`).

May import: `assistant.retrieval`, `assistant.encoders`, `assistant.store`, `assistant.nlp`,
`assistant.infra` and the top-level `config`, `types`, `filters`. Public names:
`answerers.build_answerer`, `answerers.Answerer`, `history.Turn`, `verification.CitationVerifier`.
"""
