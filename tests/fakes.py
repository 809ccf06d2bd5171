"""Fast, deterministic stand-ins: the embedding model and an in-memory store (tests about the pipeline and the
store), and an answering backend that records what the chain asks of it (tests about the answerer interface)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import chromadb
import numpy as np

from assistant.answering.answerers.base import NOT_FOUND, Answerer, Capabilities, Draft
from assistant.answering.history import Turn
from assistant.store.keyword_index import KeywordIndex
from assistant.store.signature_index import SignatureIndex
from assistant.store.chunk_store import ChunkStore
from assistant.types import Passage


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


class RecordingAnswerer(Answerer):
    """Implements Answerer with the given capabilities: records each call of `stream` and
    `standalone_question` with its arguments, streams `pieces` then a not-found Draft, and rewrites
    every follow-up as `rewritten`."""

    name = "recording"

    def __init__(self, capabilities: Capabilities = Capabilities(), pieces: Sequence[str] = ("Recorded answer.",),
                 rewritten: str = "The rewritten question?") -> None:
        self.capabilities = capabilities
        self.pieces = list(pieces)
        self.rewritten = rewritten
        self.streamed: list[tuple[str, list[Passage], date | None]] = []
        self.rewrites: list[tuple[str, list[Turn], date | None]] = []

    def stream(self, question: str, passages: Sequence[Passage], as_of: date | None = None) -> Iterator[str | Draft]:
        self.streamed.append((question, list(passages), as_of))
        yield from self.pieces
        yield Draft(NOT_FOUND, found=False)

    def standalone_question(self, question: str, history: Sequence[Turn], as_of: date | None = None) -> str:
        self.rewrites.append((question, list(history), as_of))
        return self.rewritten


def send_html(handler: Any, body: bytes) -> None:
    """A test web server's 200 answer with an HTML page (for BaseHTTPRequestHandler.do_GET)."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html; charset=utf-8")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
