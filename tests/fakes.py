"""A fast, deterministic stand-in for the embedding model, for tests about the pipeline and the store."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence

import chromadb
import numpy as np

from assistant.store.keyword_index import KeywordIndex
from assistant.store.signature_index import SignatureIndex
from assistant.store.chunk_store import ChunkStore


class FakeEncoder:
    """Implements TextEncoder: unit vectors derived from each text's hash; one token per word."""

    max_tokens = 256

    def __init__(self, dimensions: int = 16) -> None:
        self.dimensions = dimensions
        self.encoded = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.encoded += len(texts)
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            vector = np.random.default_rng(seed).standard_normal(self.dimensions).astype(np.float32)
            rows.append(vector / np.linalg.norm(vector))
        return np.array(rows, dtype=np.float32).reshape(len(texts), self.dimensions)

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        return [len(text.split()) for text in texts]


def memory_store(threshold: float = 0.8) -> ChunkStore:
    """A store held in memory only (a fresh collection each time): quick enough for property tests."""
    client = chromadb.EphemeralClient()
    signatures = SignatureIndex(":memory:", threshold) if threshold else None
    return ChunkStore(client, f"t{uuid.uuid4().hex[:12]}", None, KeywordIndex(":memory:"), signatures)
