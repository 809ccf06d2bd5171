"""Uploaded files -> articles in the store, with one result per file.

The name the browser sends is only ever shown to the user: each upload is written into a fresh
temporary folder under a generated name that keeps nothing of it but a supported suffix.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import tempfile
import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Literal

from assistant.config import Settings
from assistant.types import Article
from ingest.loaders import SUPPORTED_SUFFIXES, LoadError, load_file, unknown_type
from ingest.pipeline import IngestBatch, Ingestor, IngestReport
from ui.components import one_line

logger = logging.getLogger(__name__)

Status = Literal["ingested", "unchanged", "error"]
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")
_NAME_CHARS = 120


@dataclass(frozen=True)
class Upload:
    name: str
    """As the browser sent it: shown to the user, never used as a path."""
    data: bytes


@dataclass(frozen=True)
class UploadResult:
    file: str
    status: Status
    details: str


def accepted_types() -> list[str]:
    """The suffixes the ingest command reads, read at run time (e.g. [".json", ".jsonl", ".md", ...])."""
    return sorted(SUPPORTED_SUFFIXES)


def display_name(name: str) -> str:
    """The file's own name, without any folders or control characters, shortened to fit a table cell."""
    base = PurePath(name.replace("\\", "/")).name
    return _UNPRINTABLE.sub("", base)[:_NAME_CHARS] or "(unnamed)"


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.3g} MB"


def _where(error: LoadError, path: Path, name: str) -> LoadError:
    """The loader's error about the temporary file, told about the uploaded file instead."""
    rest = error.where.removeprefix(str(path.resolve())).removeprefix(str(path)).lstrip(":").strip()
    return LoadError(f"{name} line {rest}" if rest.isdigit() else f"{name} {rest}".strip(), error.problem)


def _relabelled(items: Iterable[Article | LoadError], path: Path, origin: str, name: str) -> list[Article | LoadError]:
    """Articles record `origin` (unique per upload, so they never replace another upload's articles)."""
    resolved = str(path.resolve())
    return [_where(item, path, name) if isinstance(item, LoadError)
            else dataclasses.replace(item, origin=item.origin.replace(resolved, origin)) for item in items]


def _result(name: str, report: IngestReport) -> UploadResult:
    stored = report.new + report.updated
    counts = ", ".join(f"{count} {label}" for count, label in (
        (report.new, "new"), (report.updated, "updated"), (report.unchanged, "unchanged"),
        (report.near_duplicates, "near-duplicate of a stored article"), (report.failed, "failed")) if count)
    problems = "; ".join(report.errors[:3]) + (f"; and {len(report.errors) - 3} more" if len(report.errors) > 3 else "")
    known = report.unchanged + report.near_duplicates
    if stored:
        return UploadResult(name, "ingested", counts + (f". {problems}" if problems else ""))
    if report.failed:
        return UploadResult(name, "error", problems + (f" ({counts})" if known else ""))
    if report.near_duplicates:
        return UploadResult(name, "unchanged", counts + ": recorded as another source of it")
    if report.unchanged:
        return UploadResult(name, "unchanged", "already in the library" if report.unchanged == 1
                            else f"{report.unchanged} articles already in the library")
    return UploadResult(name, "error", "no articles in the file")


@dataclass(frozen=True)
class UploadLimits:
    """What one submission (one press of "Add to library") may bring."""

    max_files: int
    max_total_bytes: int
    max_file_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> UploadLimits:
        return cls(settings.max_upload_files, int(settings.max_upload_mb * 1e6), int(settings.max_file_mb * 1e6))


class UploadRefused(ValueError):
    """The submission as a whole is over a limit; nothing of it was read."""


def submission_problem(sizes: Sequence[int], limits: UploadLimits) -> str | None:
    """Why a submission of files of these sizes (bytes) is refused as a whole, or None."""
    if len(sizes) > limits.max_files:
        return (f"{len(sizes)} files is more than one upload takes ({limits.max_files}, MAX_UPLOAD_FILES): "
                "add them in several uploads.")
    if sum(sizes) > limits.max_total_bytes:
        return (f"The files come to {_megabytes(sum(sizes))}, over the {_megabytes(limits.max_total_bytes)} "
                "one upload takes (MAX_UPLOAD_MB): add them in several uploads.")
    return None


def _load(upload: Upload, max_bytes: int) -> tuple[str, list[Article | LoadError] | UploadResult]:
    """Check, save and parse one uploaded file: its display name and its articles, or an "error" result."""
    name = display_name(upload.name)
    suffix = PurePath(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        return name, UploadResult(name, "error", unknown_type(suffix))
    if len(upload.data) > max_bytes:
        return name, UploadResult(name, "error", f"file is {_megabytes(len(upload.data))}, "
                                  f"over the {_megabytes(max_bytes)} limit (MAX_FILE_MB)")
    with tempfile.TemporaryDirectory(prefix="newsdesk-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(upload.data)
        items = _relabelled(load_file(path, max_bytes), path, f"upload:{uuid.uuid4().hex[:12]}/{name}", name)
    return name, items


def _ingested(name: str, report: IngestReport) -> UploadResult:
    logger.info("upload %s: %s", name, report.summary())
    return _result(name, report)


def ingest_upload(upload: Upload, ingestor: Ingestor, max_bytes: int,
                  write_lock: Callable[[], AbstractContextManager[object]]) -> UploadResult:
    """One file on its own (it reads the stored articles itself); every problem becomes an "error" result."""
    name, loaded = _load(upload, max_bytes)
    if isinstance(loaded, UploadResult):
        return loaded
    with write_lock():
        report = ingestor.ingest(loaded)
    return _ingested(name, report)


def ingest_uploads(uploads: Sequence[Upload], ingestor: Ingestor, limits: UploadLimits,
                   write_lock: Callable[[], AbstractContextManager[object]],
                   on_file: Callable[[int, str], None] = lambda index, name: None) -> list[UploadResult]:
    """One submission: each file in turn (`on_file(index, name)` before each), one result per file.

    Raises UploadRefused when the submission is over `limits` (nothing is read then). The store is
    write-locked for the whole submission and the stored articles are read once for all its files.
    One file's failure never stops the others.
    """
    if problem := submission_problem([len(upload.data) for upload in uploads], limits):
        raise UploadRefused(problem)
    results: list[UploadResult] = []
    with write_lock():
        try:
            batch = IngestBatch(ingestor)
        except Exception as error:  # e.g. the store is unreachable: every file gets the reason
            logger.exception("could not read the stored articles for an upload")
            return [UploadResult(display_name(upload.name), "error", one_line(error)) for upload in uploads]
        for index, upload in enumerate(uploads):
            on_file(index, display_name(upload.name))
            try:
                name, loaded = _load(upload, limits.max_file_bytes)
                results.append(loaded if isinstance(loaded, UploadResult) else _ingested(name, batch.ingest(loaded)))
            except Exception as error:  # e.g. the store is unreachable: report it and go on
                logger.exception("upload %r failed", upload.name)
                results.append(UploadResult(display_name(upload.name), "error", one_line(error)))
    return results
