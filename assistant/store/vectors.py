"""Which vectors a store holds, and which EMBEDDING_BACKENDs make them.

The store records the name of its passages' vectors (`vectors_name`); the encoders (assistant/encoders/)
make them. Both sides use these names, so they live here, below the encoders.
"""

from __future__ import annotations

from typing import Literal

Backend = Literal["torch", "onnx", "onnx-int8"]
MODEL_NAME = "all-MiniLM-L6-v2"


def vectors_name(backend: str) -> str:
    """What a store records about the vectors a backend makes: torch and onnx compute the same float
    vectors (measured on dev passages: cosine 1.0000, largest difference 2e-7), onnx-int8 others."""
    return f"{MODEL_NAME} int8" if backend == "onnx-int8" else MODEL_NAME


def backends_for(vectors: str) -> list[str]:
    """The EMBEDDING_BACKENDs that make these vectors."""
    return [backend for backend in ("torch", "onnx", "onnx-int8") if vectors_name(backend) == vectors]


NEW_STORE_BACKEND: Backend = "onnx-int8"
"""EMBEDDING_BACKEND=auto for a store without passages: 2.1x torch's passages/s (bench/encoder.py), dev recall
as torch's (README, "Embedding backends")."""


def backend_for_vectors(recorded: str | None) -> Backend:
    """EMBEDDING_BACKEND=auto: the fastest backend that makes the vectors a store records (None: an empty
    store, which gets NEW_STORE_BACKEND's). Vectors no backend makes get onnx's, which the store refuses."""
    if recorded is None:
        return NEW_STORE_BACKEND
    return "onnx-int8" if recorded == vectors_name("onnx-int8") else "onnx"
