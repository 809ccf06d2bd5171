"""Sentence vectors from an exported MiniLM ONNX file with ONNX Runtime (no torch at run time).

Tokenizes with the package's own `tokenizer.json` (the same word pieces as sentence-transformers),
sorts each call's texts by length and encodes them `batch_size` at a time, padded to the longest
of the batch and cut at the model's 256-token window, as sentence-transformers does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


class OnnxSentenceEncoder:
    """Not thread-safe on its own: MiniLMEmbeddings serialises calls."""

    def __init__(self, onnx_path: Path, model_path: Path, batch_size: int = 16, threads: int | None = None) -> None:
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as error:
            raise RuntimeError(f"EMBEDDING_BACKEND=onnx needs onnxruntime and tokenizers ({error}); "
                               "pip install -r requirements.txt") from None
        self.batch_size = batch_size
        config = json.loads((model_path / "sentence_bert_config.json").read_text(encoding="utf-8"))
        self.max_tokens = int(config.get("max_seq_length", 256))
        self._counter = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        self._counter.no_truncation()
        self._counter.no_padding()
        self._tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        self._tokenizer.enable_truncation(self.max_tokens)
        self._tokenizer.enable_padding()
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self._session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self._inputs = {entry.name for entry in self._session.get_inputs()}
        self.dimensions = int(self._session.get_outputs()[0].shape[1])
        logger.info("loaded %s with ONNX Runtime", onnx_path)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length vectors, one row per text, in the order given."""
        vectors = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        order = np.argsort([-len(text) for text in texts], kind="stable")
        for start in range(0, len(texts), self.batch_size):
            rows = order[start:start + self.batch_size]
            encoded = self._tokenizer.encode_batch([texts[row] for row in rows])
            ids = np.array([item.ids for item in encoded], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": np.array([item.attention_mask for item in encoded],
                                                                 dtype=np.int64),
                    "token_type_ids": np.zeros_like(ids)}
            vectors[rows] = self._session.run(None, {name: value for name, value in feed.items()
                                                     if name in self._inputs})[0]
        return vectors

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Word-piece tokens of each text, without the [CLS]/[SEP] the model adds."""
        return [len(item.ids) for item in self._counter.encode_batch(list(texts), add_special_tokens=False)]
