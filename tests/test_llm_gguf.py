"""Assembling the local model's GGUF file from its parts: small fake parts in temporary folders."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from assistant.answering.answerers.gguf import ModelFileError, assemble, find_parts


def make_parts(folder: Path, contents: list[bytes]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for number, content in enumerate(contents, start=1):
        part = folder / f"part{number:02d}.bin"
        part.write_bytes(content)
        parts.append(part)
    return parts


CONTENTS = [b"GGUF" + b"a" * 100, b"b" * 50, b"c" * 7]
WHOLE = b"".join(CONTENTS)
SHA = hashlib.sha256(WHOLE).hexdigest()


def test_parts_are_joined_in_order_and_checked(tmp_path: Path) -> None:
    parts = make_parts(tmp_path / "parts", CONTENTS)
    target = tmp_path / "models" / "model.gguf"
    assert assemble(parts, target, len(WHOLE), SHA) == target
    assert target.read_bytes() == WHOLE
    assert sorted(path.name for path in target.parent.iterdir()) == ["model.gguf", "model.gguf.sha256"]


def test_an_assembled_file_is_reused_without_its_parts(tmp_path: Path) -> None:
    parts = make_parts(tmp_path / "parts", CONTENTS)
    target = tmp_path / "model.gguf"
    assemble(parts, target, len(WHOLE), SHA)
    for part in parts:
        part.unlink()
    assert assemble(parts, target, len(WHOLE), SHA).read_bytes() == WHOLE


def test_wrong_checksum_is_refused_and_leaves_no_file(tmp_path: Path) -> None:
    parts = make_parts(tmp_path / "parts", CONTENTS)
    target = tmp_path / "models" / "model.gguf"
    with pytest.raises(ModelFileError, match=f"wrong sha256: expected {'0' * 64}, got {SHA}"):
        assemble(parts, target, len(WHOLE), "0" * 64)
    assert list(target.parent.iterdir()) == []


def test_wrong_size_is_refused(tmp_path: Path) -> None:
    parts = make_parts(tmp_path / "parts", CONTENTS)
    with pytest.raises(ModelFileError, match=f"wrong size: expected {len(WHOLE) + 1} bytes, got {len(WHOLE)}"):
        assemble(parts, tmp_path / "model.gguf", len(WHOLE) + 1, SHA)


def test_missing_part_is_named(tmp_path: Path) -> None:
    parts = make_parts(tmp_path / "parts", CONTENTS)
    parts[1].unlink()
    target = tmp_path / "model.gguf"
    with pytest.raises(ModelFileError, match=r"model part 2 of 3 missing: .*part02\.bin"):
        assemble(parts, target, len(WHOLE), SHA)
    assert not target.exists()


def test_a_part_package_that_is_not_installed_is_named() -> None:
    with pytest.raises(ModelFileError, match="package newsdesk-no-such-part is not installed"):
        find_parts(["newsdesk-no-such-part"])
