"""Plain-text language tools: sentences, normalized words and stopwords (`text`), the time a question
names (`dates`), dates written in article text (`text_dates`) and the key terms of questions and
answers (`key_terms`).

May import: `assistant.infra` and the top-level `config`, `types`, `filters`; no store, model or LangChain.
Public names: `text.split_sentences`, `text.normalize`, `dates.time_window`, `text_dates.find_dates`,
`key_terms.key_terms`.
"""
