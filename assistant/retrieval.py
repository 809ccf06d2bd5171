"""Find the passages that answer a question: embed it once, search the store with filters."""

from __future__ import annotations

from typing import Any

from assistant.embeddings import TextEncoder
from assistant.filters import Filters, parse_filters
from assistant.store import ChunkStore
from assistant.types import Passage


class Retriever:
    """Dense retrieval over the store; filters restrict by source, date range and article ids."""

    def __init__(self, store: ChunkStore, encoder: TextEncoder) -> None:
        self.store = store
        self.encoder = encoder

    def retrieve(self, question: str, k: int = 10, filters: Filters | dict[str, Any] | None = None) -> list[Passage]:
        """The k passages most relevant to the question, best first."""
        if not question.strip():
            raise ValueError("question is empty")
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        where = parse_filters(filters).where()
        vector = self.encoder.encode([question])[0]
        return self.store.search(vector, k, where)
