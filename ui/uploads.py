"""Uploaded files -> articles in the store, with one result per file.

The name the browser sends is only ever shown to the user: each upload is written into a fresh
temporary folder under a generated name that keeps nothing of it but a supported suffix.

An uploaded article that would change a stored one (same id, other content) is never stored at once:
it is held back as a `Conflict` until an editor confirms; `replace_with_upload` then moves the stored
version to the trash and stores the uploaded one. New and unchanged articles go through at once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import tempfile
import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Literal
from urllib.parse import urlsplit

from assistant.config import Settings
from assistant.store.chunk_store import StoredArticle
from assistant.store.trash import Trash
from assistant.types import Article
from ingest.fields import checked_article
from ingest.loaders import SUPPORTED_SUFFIXES, LoadError, load_file, unknown_type
from ingest.pipeline import IngestBatch, Ingestor, IngestReport, content_hash
from ui.components import one_line

logger = logging.getLogger(__name__)

Status = Literal["ingested", "unchanged", "held back", "error"]
UPLOAD_ORIGIN = "upload:"
"""Uploaded articles' origin: `upload:<12 hex digits, new for each file>/<display name>`, then `:LINE` or
`#ITEM` for JSON Lines and JSON arrays. Unique per upload, so an upload never replaces the articles of
another file (as an edited file given to the ingest command does), and shown as the file's name."""
REPLACED_BY_UPLOAD = "replaced by an upload"
"""The reason a stored version replaced by a confirmed upload is in the trash."""
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


def origin_label(origin: str) -> str:
    """Where an article came from, for display: an upload's file name ("notes.md (upload)"), a URL, or a
    file's name with its line or item ("news.jsonl:3"); never a folder of the server."""
    if origin.startswith(UPLOAD_ORIGIN):
        return f"{origin.partition('/')[2] or origin} (upload)"
    if urlsplit(origin).scheme.lower() in ("http", "https"):
        return origin
    return PurePath(origin).name or origin


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


def _result(name: str, report: IngestReport, held: int = 0) -> UploadResult:
    """The file's result from its ingest report and the number of its articles held back (conflicts)."""
    stored = report.new + report.updated
    counts = ", ".join(f"{count} {label}" for count, label in (
        (report.new, "new"), (report.updated, "updated"), (held, "held back"), (report.unchanged, "unchanged"),
        (report.near_duplicates, "near-duplicate of a stored article"), (report.failed, "failed")) if count)
    problems = "; ".join(report.errors[:3]) + (f"; and {len(report.errors) - 3} more" if len(report.errors) > 3 else "")
    known = report.unchanged + report.near_duplicates
    if stored:
        return UploadResult(name, "ingested", counts + (f". {problems}" if problems else ""))
    if held:
        would = "would replace a stored article" if held == 1 else "would replace stored articles"
        return UploadResult(name, "held back", f"{counts}: {would} (see below)" + (f". {problems}" if problems else ""))
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
        items = _relabelled(load_file(path, max_bytes), path, f"{UPLOAD_ORIGIN}{uuid.uuid4().hex[:12]}/{name}", name)
    return name, items


@dataclass(frozen=True)
class Conflict:
    """An uploaded article that would change a stored one: held back until an editor confirms."""

    file: str
    """The display name of the uploaded file it came from."""
    article: Article
    """As uploaded (fields checked), ready to ingest."""
    stored: StoredArticle
    """The stored version it would replace, as it was when the upload was read."""

    @property
    def key(self) -> str:
        """Names the conflict (one per article id) in widget keys."""
        return hashlib.sha1(self.article.id.encode()).hexdigest()[:12]


class _HoldBack:
    """Across the files of one submission: which uploaded articles would change stored ones.

    An article the submission let through already (an earlier file brought it) is not from elsewhere,
    so a later file of the same submission may update it, as before."""

    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor
        self.conflicts: dict[str, Conflict] = {}
        self.passed: set[str] = set()

    def split(self, name: str, items: Sequence[Article | LoadError]) -> tuple[list[Article | LoadError], int]:
        """The items to ingest now, and how many of the file's articles are held back."""
        checked: dict[int, Article] = {}
        for index, item in enumerate(items):
            if isinstance(item, Article):
                try:
                    checked[index] = checked_article(item, self.ingestor.max_article_bytes)
                except (TypeError, ValueError):  # FieldError: the ingest reports why the article cannot be stored
                    pass
        stored = self.ingestor.store.records([article.id for article in checked.values()
                                              if article.id not in self.passed])
        kept: list[Article | LoadError] = []
        held = 0
        for index, item in enumerate(items):
            article = checked.get(index)
            if article is None or article.id in self.passed:
                kept.append(item)
            elif article.id in self.conflicts:  # a second version of an article held back: the first one is shown
                logger.info("upload %s: article %s is held back already; kept the first version", name, article.id)
                held += 1
            elif (previous := stored.get(article.id)) is not None and \
                    previous.content_hash != content_hash(article, self.ingestor.max_tokens):
                self.conflicts[article.id] = Conflict(name, article, previous)
                held += 1
            else:
                self.passed.add(article.id)
                kept.append(item)
        return kept, held


def _ingest_file(name: str, loaded: list[Article | LoadError], hold: _HoldBack,
                 ingest: Callable[[list[Article | LoadError]], IngestReport]) -> UploadResult:
    """A loaded file: conflicts held back, the rest ingested; its result."""
    items, held = hold.split(name, loaded)
    report = ingest(items) if items or not held else IngestReport()
    logger.info("upload %s: %s%s", name, report.summary(), f", held back {held}" if held else "")
    return _result(name, report, held)


def ingest_upload(upload: Upload, ingestor: Ingestor, max_bytes: int,
                  write_lock: Callable[[], AbstractContextManager[object]]) -> UploadResult:
    """One file on its own (it reads the stored articles itself); every problem becomes an "error" result.
    Articles that would change stored ones are held back (counted in the result), never stored."""
    name, loaded = _load(upload, max_bytes)
    if isinstance(loaded, UploadResult):
        return loaded
    with write_lock():
        return _ingest_file(name, loaded, _HoldBack(ingestor), ingestor.ingest)


@dataclass(frozen=True)
class Submission:
    results: list[UploadResult]
    """One per file, in the order given."""
    conflicts: list[Conflict]
    """The uploaded articles held back because they would change stored ones."""


def ingest_submission(uploads: Sequence[Upload], ingestor: Ingestor, limits: UploadLimits,
                      write_lock: Callable[[], AbstractContextManager[object]],
                      on_file: Callable[[int, str], None] = lambda index, name: None) -> Submission:
    """One submission: each file in turn (`on_file(index, name)` before each), one result per file, and
    the articles held back because they would change stored ones.

    Raises UploadRefused when the submission is over `limits` (nothing is read then). The store is
    write-locked for the whole submission and the stored articles are read once for all its files.
    One file's failure never stops the others.
    """
    if problem := submission_problem([len(upload.data) for upload in uploads], limits):
        raise UploadRefused(problem)
    results: list[UploadResult] = []
    hold = _HoldBack(ingestor)
    with write_lock():
        try:
            batch = IngestBatch(ingestor)
        except Exception as error:  # e.g. the store is unreachable: every file gets the reason
            logger.exception("could not read the stored articles for an upload")
            return Submission([UploadResult(display_name(upload.name), "error", one_line(error)) for upload in uploads],
                              [])
        for index, upload in enumerate(uploads):
            on_file(index, display_name(upload.name))
            try:
                name, loaded = _load(upload, limits.max_file_bytes)
                results.append(loaded if isinstance(loaded, UploadResult) else
                               _ingest_file(name, loaded, hold, batch.ingest))
            except Exception as error:  # e.g. the store is unreachable: report it and go on
                logger.exception("upload %r failed", upload.name)
                results.append(UploadResult(display_name(upload.name), "error", one_line(error)))
    return Submission(results, list(hold.conflicts.values()))


def ingest_uploads(uploads: Sequence[Upload], ingestor: Ingestor, limits: UploadLimits,
                   write_lock: Callable[[], AbstractContextManager[object]],
                   on_file: Callable[[int, str], None] = lambda index, name: None) -> list[UploadResult]:
    """`ingest_submission`'s results only: articles that would change stored ones stay held back."""
    return ingest_submission(uploads, ingestor, limits, write_lock, on_file).results


@dataclass(frozen=True)
class Replacement:
    """What confirming a conflict did."""

    status: Literal["replaced", "changed", "failed"]
    """"replaced": the stored version is in the trash, the uploaded one stored; "changed": the stored
    article changed since the upload was read, nothing was done; "failed": the uploaded version could not
    be stored, the stored one is back."""
    detail: str = ""
    current: StoredArticle | None = None
    """For "changed": the version stored now."""


def replace_with_upload(conflict: Conflict, ingestor: Ingestor, trash: Trash, by: str) -> Replacement:
    """The confirmed replacement: the stored version goes to the trash (restorable), then the uploaded
    article is stored, all under the store's write lock. Nothing is done when the stored version is no
    longer the one the editor saw."""
    store = ingestor.store
    article_id = conflict.article.id
    with store.writing():
        current = store.records([article_id]).get(article_id)
        if current is not None and current.content_hash != conflict.stored.content_hash:
            return Replacement("changed", current=current)
        trashed = trash.put(article_id, by, reason=REPLACED_BY_UPLOAD) if current is not None else None
        report = ingestor.ingest([conflict.article])
        if report.new + report.updated + report.near_duplicates:
            logger.info("%s replaced %s by the upload of %s", by, article_id, conflict.file)
            return Replacement("replaced")
        if trashed is not None:  # nothing stored: the replaced version comes back
            trash.restore(trashed.trash_id, by)
        return Replacement("failed", "; ".join(report.errors) or "the article was not stored")
