"""Ingest articles: skip unchanged ones and copies of stored ones, chunk and embed the rest in batches,
upsert, replace, delete."""

from __future__ import annotations

import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import PurePath
from typing import Any

import numpy as np

from assistant.store.audit import now_iso
from assistant.config import Settings
from assistant.encoders.embeddings import TextEncoder
from assistant.filters import UNKNOWN_DAY, day_number
from assistant.store.chunk_store import AlternativeSource, ArticleWrite, ChunkStore, StoredArticle
from assistant.store.errors import DiskFull, is_disk_full, no_room
from assistant.store.trash import Trash
from assistant.types import Article, Chunk
from ingest.chunking import chunk_article
from ingest.dedup import DuplicateFinder, article_signature, signature_bytes
from ingest.fields import FieldError, checked_article
from ingest.loaders import HTML_SUFFIXES, MARKDOWN_SUFFIXES, TEXT_SUFFIXES, LoadError, describe

logger = logging.getLogger(__name__)

CHUNKER_VERSION = "1"
"""Part of every content hash: bump it when chunking changes so stored articles are re-chunked."""
DEFAULT_MAX_ARTICLE_BYTES = int(Settings.model_fields["max_article_mb"].default * 1e6)


@dataclass
class IngestReport:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    near_duplicates: int = 0
    """Articles recognised as copies of stored ones and recorded as their alternative sources."""
    failed: int = 0
    chunks: int = 0
    repaired: int = 0
    deleted_meanwhile: int = 0
    """Updates not written: another process deleted the article while this run prepared them (the delete sticks)."""
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"new {self.new}, updated {self.updated}, unchanged {self.unchanged}, "
            f"near-duplicates {self.near_duplicates}, failed {self.failed}, "
            f"chunks written {self.chunks}, {self.seconds:.1f} s"
            + (f" (index entries repaired for {self.repaired})" if self.repaired else "")
            + (f" (not stored: {self.deleted_meanwhile} deleted by another process meanwhile)"
               if self.deleted_meanwhile else "")
        )


def _stop_if_disk_full(error: BaseException, store: ChunkStore) -> None:
    """A full disk stops the run (the command says so in one line): every later write would fail too, and an
    article reported failed might in fact be stored. Re-running the command completes the store. The error
    says so itself (ENOSPC, SQLite's "database or disk is full"), or the Chroma server reports another
    failure (e.g. "Error in compaction") while DATA_DIR has no room left."""
    if is_disk_full(error):
        raise DiskFull(store.data_dir or "?") from error
    if store.data_dir is not None and no_room(store.data_dir):
        raise DiskFull(store.data_dir) from error


def content_hash(article: Article, max_tokens: int) -> str:
    """Changes whenever anything stored for the article would change."""
    parts = [CHUNKER_VERSION, str(max_tokens), article.title, article.standfirst, article.text,
             article.source, article.url, article.published.isoformat() if article.published else "",
             article.author]
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:16]


def chunk_metadata(article: Article, digest: str) -> dict[str, str | int | float]:
    """Article fields stored with each of its passages (section and position are added per chunk)."""
    return {
        "article_id": article.id,
        "title": article.title,
        "source": article.source,
        "url": article.url,
        "author": article.author,
        "published": article.published.isoformat() if article.published else "",
        "day": day_number(article.published) if article.published else UNKNOWN_DAY,
        "content_hash": digest,
    }


def _is_whole_file(origin: str) -> bool:
    """Text, Markdown and HTML files hold one article, so a new version of the file replaces the old article."""
    return PurePath(origin).suffix.lower() in TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES


def _published(article: Article) -> str:
    return article.published.isoformat() if article.published else ""


def _where(article: Article) -> str:
    return article.origin or article.id


@dataclass
class _Pending:
    """An article to store (`chunks`), or a copy to record on the article `copy_of`."""

    article: Article
    digest: str
    chunks: list[Chunk]
    signature: np.ndarray | None
    replaces: list[str]
    """Older articles of the same whole file, deleted once this one is stored."""
    is_update: bool
    copy_of: str | None = None
    drops_copy: tuple[str, str] | None = None
    """(article id, alternative id): an older version of this article recorded as a copy, to forget."""
    was_stored: bool = False
    """The article had a record when this run read the store: writing it is an update of that record."""


class Ingestor:
    """Writes articles into a ChunkStore, embedding each new passage exactly once.

    With the store's signature index (NEAR_DUPLICATE_THRESHOLD above 0), a new article that is a
    near-duplicate of a stored one is not stored again but recorded as its alternative source.
    Passages are embedded `batch_chunks` at a time: the model sorts each call's texts by length, so a
    large call pads less (1,024 encoded 3-6% faster than 4 calls of 256).
    """

    def __init__(self, store: ChunkStore, encoder: TextEncoder, max_tokens: int = 256,
                 batch_chunks: int = 1024, max_article_bytes: int = DEFAULT_MAX_ARTICLE_BYTES,
                 added_by: str = "cli", settings: Settings | None = None, news: Any = None) -> None:
        self.store = store
        self.settings = settings
        """With settings, each ingest that wrote articles then checks the followed questions (check_follows)."""
        self.news = news
        """The process's NewsAssistant, when it has one, for that check (else one is built from the settings)."""
        self.added_by = added_by
        """Who the articles' provenance names (an article's own `added_by`, e.g. `feed:URL`, wins)."""
        self.encoder = encoder
        self.max_tokens = min(max_tokens, encoder.max_tokens)
        self.batch_chunks = batch_chunks
        self.max_article_bytes = max_article_bytes

    @classmethod
    def from_settings(cls, settings: Settings, store: ChunkStore, encoder: TextEncoder,
                      added_by: str = "cli", news: Any = None) -> Ingestor:
        return cls(store, encoder, settings.chunk_max_tokens, max_article_bytes=int(settings.max_article_mb * 1e6),
                   added_by=added_by, settings=settings, news=news)

    def ingest(self, items: Iterable[Article | LoadError],
               on_error: Callable[[str], None] = lambda line: None) -> IngestReport:
        """Ingest every article; each LoadError or failed article is reported and the rest go on."""
        started = time.perf_counter()
        run = _Run(self, on_error)
        run.add_all(items)
        run.flush()
        run.report.seconds = time.perf_counter() - started
        check_follows(self, run.report)
        return run.report


class IngestBatch:
    """Several ingests on one reading of the stored articles, each with its own report: the files of one
    upload read the catalogue once, not once per file. Each call ends with a flush, which re-reads the
    records it touches under the store's write lock, as a single ingest does; the web app also holds its
    own write lock for the whole batch, so no other session of it writes in between."""

    def __init__(self, ingestor: Ingestor) -> None:
        self._run = _Run(ingestor, lambda line: None)

    def ingest(self, items: Iterable[Article | LoadError],
               on_error: Callable[[str], None] = lambda line: None) -> IngestReport:
        """As `Ingestor.ingest`, on the state the earlier calls of this batch left."""
        started = time.perf_counter()
        run = self._run
        run.report, run.on_error, run.seen = IngestReport(), on_error, set()
        run.add_all(items)
        run.flush()
        run.report.seconds = time.perf_counter() - started
        check_follows(run.ingestor, run.report)
        return run.report


def check_follows(ingestor: Ingestor, report: IngestReport) -> None:
    """After an ingest that wrote articles: check the followed questions (assistant/following). A failure is
    a warning only; the next check (another ingest, or `updates()`) covers these articles too."""
    if ingestor.settings is None or not (report.new or report.updated):
        return
    try:
        from assistant.following import check_after_write

        check_after_write(ingestor.settings, ingestor.store, ingestor.encoder, news=ingestor.news)
    except Exception as error:
        logger.warning("could not check the followed questions (%s); the next check covers these articles", error)


class _Run:
    """The state of one `Ingestor.ingest` call: what is stored, what waits to be embedded, the report."""

    def __init__(self, ingestor: Ingestor, on_error: Callable[[str], None]) -> None:
        self.ingestor = ingestor
        self.store = ingestor.store
        self.finder = DuplicateFinder(self.store.signatures) if self.store.signatures is not None else None
        self.on_error = on_error
        self.report = IngestReport()
        self.store.sync(force=True)  # signatures and keywords of what other processes stored, for copies and repairs
        self.records = {record.id: record for record in self.store.articles()}
        self.keyword_hashes = self.store.keyword_hashes()
        self.signature_hashes = self.store.signature_hashes()
        self.by_origin: dict[str, list[str]] = defaultdict(list)  # several after a crash mid-replacement
        for record in self.records.values():
            if _is_whole_file(record.origin):
                self.by_origin[record.origin].append(record.id)
        self.copies = {alternative.id: (record.id, alternative) for record in self.records.values()
                       for alternative in record.alternatives}
        self.copy_by_origin = {alternative.origin: alternative.id for _, alternative in self.copies.values()
                               if _is_whole_file(alternative.origin)}
        self.seen: set[str] = set()
        self.pending: list[_Pending] = []
        self.repairs: list[tuple[Article, str, list[str]]] = []
        """Unchanged articles to check for what a crash left undone, at the next flush (under the write lock)."""

    def fail(self, line: str) -> None:
        self.report.failed += 1
        self.report.errors.append(line)
        self.on_error(line)

    def add_all(self, items: Iterable[Article | LoadError]) -> None:
        """Add every item: whatever goes wrong with one item (or while reading it) is that item's error line."""
        iterator = iter(items)
        failed_last = False
        while True:
            try:
                item = next(iterator)
            except StopIteration:
                return
            except Exception as error:  # a source that failed outside its own per-item error handling
                self.fail(f"input could not be read further ({describe(error)})")
                if failed_last:  # an iterator that fails twice in a row is done
                    return
                failed_last = True
                continue
            failed_last = False
            if isinstance(item, LoadError):
                self.fail(str(item))
                continue
            try:
                self.add(item)
            except Exception as error:
                _stop_if_disk_full(error, self.store)
                where = _where(item) if isinstance(item, Article) else type(item).__name__
                self.fail(f"{where}: could not ingest the article ({describe(error)})")

    def add(self, article: Article) -> None:
        try:  # every field checked and cleaned first: sizes, caps, types, control characters
            article = checked_article(article, self.ingestor.max_article_bytes)
        except FieldError as error:
            self.fail(f"{_where(article) if isinstance(article, Article) else 'input'}: {error}")
            return
        if article.id in self.seen:
            logger.info("%s: article %s appears more than once; kept the first", article.origin, article.id)
            return
        self.seen.add(article.id)
        digest = content_hash(article, self.ingestor.max_tokens)
        previous = self.records.get(article.id)
        older = [other for other in self.by_origin.get(article.origin, []) if other != article.id] \
            if _is_whole_file(article.origin) else []
        if previous is not None and previous.content_hash == digest:
            self.repairs.append((article, digest, older))
            lost = self.finder is not None and self.signature_hashes.get(article.id) != digest
            if lost and (signature := article_signature(article)) is not None:
                self.finder.stage(article.id, signature)  # copies later in this run match it
            self.report.unchanged += 1
            return
        known_copy = self.copies.get(article.id)
        if known_copy is not None and known_copy[1].content_hash == digest:
            self.report.unchanged += 1
            return
        stale_copy = known_copy[1].id if known_copy else self.copy_by_origin.get(article.origin) \
            if _is_whole_file(article.origin) else None
        drops_copy = (self.copies[stale_copy][0], stale_copy) if stale_copy in self.copies else None
        signature = article_signature(article)  # kept in Chroma too, for the signature index of every DATA_DIR
        if self.finder is not None and signature is not None and previous is None and not older:
            match = self.finder.find(signature, self._exists)
            if match is not None:
                self.pending.append(_Pending(article, digest, chunks=[], signature=signature, replaces=[],
                                             is_update=False, copy_of=match.article_id, drops_copy=drops_copy))
                return
        self.pending.append(_Pending(article, digest, self._chunks(article, digest), signature, older,
                                     is_update=previous is not None or bool(older), drops_copy=drops_copy,
                                     was_stored=previous is not None))
        if signature is not None and self.finder is not None:
            self.finder.stage(article.id, signature)
        if sum(len(entry.chunks) for entry in self.pending) >= self.ingestor.batch_chunks:
            self.flush()

    def _chunks(self, article: Article, digest: str) -> list[Chunk]:
        return chunk_article(article, self.ingestor.encoder.token_counts, self.ingestor.max_tokens,
                             chunk_metadata(article, digest))

    def _exists(self, article_id: str) -> bool:
        """Stored, or about to be: a copy may follow its original in the same batch."""
        return article_id in self.records or any(entry.article.id == article_id and entry.copy_of is None
                                                 for entry in self.pending)

    def _repair(self, article: Article, digest: str, older: list[str]) -> None:
        """Finish what a crash left undone for an unchanged article: rebuild its keyword and signature
        entries, delete the older article of its file it replaced, forget it as another article's copy.
        Nothing is done for an article another process deleted or changed since this run began."""
        current = self.records.get(article.id)
        if current is None or current.content_hash != digest:
            return
        for other in older:
            self._delete(other)
        stale_copy = self.copies.get(article.id)
        if stale_copy is not None:
            self._set_alternatives(stale_copy[0], drop=article.id)
        repaired = bool(older) or stale_copy is not None
        if self.store.keywords is not None and self.keyword_hashes.get(article.id) != digest:
            self.store.repair_keywords(article.id, digest)
            repaired = True
        if self.finder is not None and self.signature_hashes.get(article.id) != digest:
            self.finder.store(article.id, digest, article_signature(article))
            repaired = True
        self.report.repaired += int(repaired)

    def flush(self) -> None:
        """Embed the passages of the pending articles in one call, then, holding the store's write lock,
        store the articles on the records as they are now (their passages, leftover deletes, keyword rows
        and records each in one batched write, after the change-log entries), then record the copies.

        Another process may have changed the store since this run read it: the records of every article
        the flush touches are read again under the lock, so a delete made meanwhile sticks (nothing is
        written onto a deleted article, and a copy of one is stored as an article of its own), and what another
        process stored meanwhile in the same version is unchanged (not written, nor logged, again)."""
        if not self.pending and not self.repairs:
            return
        self._refresh([entry.copy_of for entry in self.pending if entry.copy_of is not None])
        self._orphaned_copies_to_articles()
        texts = [chunk.embed_text for entry in self.pending for chunk in entry.chunks]
        vectors = self.ingestor.encoder.encode(texts) if texts else np.zeros((0, 0), dtype=np.float32)
        offsets = np.cumsum([0] + [len(entry.chunks) for entry in self.pending])
        pending = [(entry, vectors[offsets[i]:offsets[i + 1]]) for i, entry in enumerate(self.pending)]
        with self.store.writing():
            self._refresh(self._touched())
            for index in self._orphaned_copies_to_articles():  # deleted while the passages were embedded
                entry = self.pending[index]
                pending[index] = (entry, self.ingestor.encoder.encode([chunk.embed_text for chunk in entry.chunks]))
            kept = self._unsettled()
            self.pending, pending = [self.pending[i] for i in kept], [(self.pending[i], pending[i][1]) for i in kept]
            self.store.log_changes([entry.copy_of or entry.article.id for entry in self.pending], "put")
            self._store_all([(entry, article_vectors) for entry, article_vectors in pending if entry.copy_of is None])
            for entry in self.pending:
                if entry.copy_of is not None:
                    try:
                        self._record_copy(entry)
                    except Exception as error:  # a store failure loses this copy only
                        _stop_if_disk_full(error, self.store)
                        self.fail(f"{_where(entry.article)}: could not store article ({error})")
            for article, digest, older in self.repairs:
                try:
                    self._repair(article, digest, older)
                except Exception as error:
                    _stop_if_disk_full(error, self.store)
                    self.fail(f"{_where(article)}: could not repair the article's index entries ({error})")
        self.pending = []
        self.repairs = []
        if self.finder is not None:
            self.finder.clear_staged()

    def _touched(self) -> list[str]:
        """Every stored article the pending writes and repairs read or change."""
        ids: list[str] = []
        for entry in self.pending:
            ids += [entry.article.id, *entry.replaces, *([entry.copy_of] if entry.copy_of else []),
                    *([entry.drops_copy[0]] if entry.drops_copy else [])]
        for article, _, older in self.repairs:
            ids += [article.id, *older, *([self.copies[article.id][0]] if article.id in self.copies else [])]
        return ids

    def _refresh(self, article_ids: list[str]) -> None:
        """Read these articles' records again: another process may have changed or deleted them."""
        if not article_ids:
            return
        current = self.store.records(article_ids)
        for article_id in article_ids:
            if article_id in current:
                self.records[article_id] = current[article_id]
            else:
                self.records.pop(article_id, None)

    def _unsettled(self) -> list[int]:
        """Positions in `pending` of the entries still to write, on the records as they are now (read again
        under the write lock). Left out: an update of an article another process deleted meanwhile (the
        delete sticks), and an article or copy another process stored meanwhile in this very version
        (unchanged). An article another process stored meanwhile in another version becomes an update."""
        kept = []
        for index, entry in enumerate(self.pending):
            article = entry.article
            current = self.records.get(article.id)
            if entry.copy_of is None and entry.was_stored and current is None:
                logger.info("%s: %s was deleted while this run prepared its update; not stored again",
                            _where(article), article.id)
                self.report.deleted_meanwhile += 1
            elif entry.copy_of is None and current is not None and current.content_hash == entry.digest:
                self.report.unchanged += 1
            elif entry.copy_of is not None and any(
                    alternative.id == article.id and alternative.content_hash == entry.digest
                    for alternative in getattr(self.records.get(entry.copy_of), "alternatives", ())):
                self.report.unchanged += 1
            else:
                if entry.copy_of is None and current is not None and not entry.is_update:
                    self.pending[index] = replace(entry, is_update=True)
                kept.append(index)
        return kept

    def _orphaned_copies_to_articles(self) -> list[int]:
        """Pending copies whose original is no longer stored become articles of their own (chunked here,
        to be embedded by the caller); returns their positions in `pending`."""
        orphaned = []
        for index, entry in enumerate(self.pending):
            if entry.copy_of is not None and not self._exists(entry.copy_of):
                logger.info("%s: the article it copies (%s) was deleted; stored as an article of its own",
                            _where(entry.article), entry.copy_of)
                self.pending[index] = replace(entry, copy_of=None, chunks=self._chunks(entry.article, entry.digest))
                orphaned.append(index)
        return orphaned

    def _store_all(self, entries: list[tuple[_Pending, np.ndarray]]) -> None:
        """Write the articles of a flush in batched calls (store.write_articles), then what follows each one:
        the older articles of its file deleted, its signature, a stale copy of it forgotten. Should the batch
        fail, each article is written on its own, so a store failure loses that article only."""
        if not entries:
            return
        writes = [self._write_of(entry, vectors) for entry, vectors in entries]
        try:
            self.store.write_articles(writes)
            done = [True] * len(entries)
        except Exception as error:
            _stop_if_disk_full(error, self.store)
            logger.warning("batched write failed (%s); writing the articles one at a time", error)
            done = []
            for (entry, _), write in zip(entries, writes, strict=True):
                try:
                    self.store.write_articles([write])
                    done.append(True)
                except Exception as article_error:
                    _stop_if_disk_full(article_error, self.store)
                    self.fail(f"{_where(entry.article)}: could not store article ({article_error})")
                    done.append(False)
        for write, stored in zip(writes, done, strict=True):
            if stored:
                self.records[write.record.id] = write.record
        signatures = self.store.signatures.batch() if self.store.signatures is not None else nullcontext()
        with signatures:
            for (entry, _), write, stored in zip(entries, writes, done, strict=True):
                if not stored:
                    continue
                try:
                    self._after_store(entry)
                except Exception as error:
                    _stop_if_disk_full(error, self.store)
                    self.fail(f"{_where(entry.article)}: could not store article ({error})")

    def _write_of(self, entry: _Pending, vectors: np.ndarray) -> ArticleWrite:
        article = entry.article
        previous = self.records.get(article.id) or next(
            (self.records[other] for other in entry.replaces if other in self.records), None)
        record = StoredArticle(
            id=article.id, title=article.title, source=article.source, url=article.url,
            published=_published(article), chunks=len(entry.chunks), content_hash=entry.digest,
            origin=article.origin, alternatives=previous.alternatives if previous else (),
            added_by=article.added_by or self.ingestor.added_by, added_at=now_iso(),
        )
        return ArticleWrite(record, entry.chunks, vectors, new=article.id not in self.records,
                            signature=signature_bytes(entry.signature))

    def _after_store(self, entry: _Pending) -> None:
        article = entry.article
        for other in entry.replaces:
            self._delete(other)
        if self.finder is not None:
            self.finder.store(article.id, entry.digest, entry.signature)
        if entry.drops_copy:
            self._set_alternatives(entry.drops_copy[0], drop=entry.drops_copy[1])
        self.report.chunks += len(entry.chunks)
        if entry.is_update:
            self.report.updated += 1
        else:
            self.report.new += 1

    def _delete(self, article_id: str) -> None:
        self.store.delete_article(article_id)
        self.records.pop(article_id, None)

    def _record_copy(self, entry: _Pending) -> None:
        article = entry.article
        if entry.copy_of not in self.records:
            self.fail(f"{_where(article)}: near-duplicate of {entry.copy_of}, which could not be stored")
            return
        if entry.drops_copy and entry.drops_copy[0] != entry.copy_of:
            self._set_alternatives(entry.drops_copy[0], drop=entry.drops_copy[1])
        alternative = AlternativeSource(id=article.id, title=article.title, source=article.source, url=article.url,
                                        published=_published(article), content_hash=entry.digest,
                                        origin=article.origin)
        self._set_alternatives(entry.copy_of, drop=entry.drops_copy[1] if entry.drops_copy else None,
                               add=alternative)
        logger.info("%s: near-duplicate of %s; recorded as its alternative source", _where(article), entry.copy_of)
        self.report.near_duplicates += 1

    def _set_alternatives(self, article_id: str, drop: str | None = None,
                          add: AlternativeSource | None = None) -> None:
        record = self.records.get(article_id)
        if record is None:
            return
        kept = [alternative for alternative in record.alternatives
                if alternative.id not in {drop, add.id if add else None}]
        alternatives = tuple(kept + ([add] if add else []))
        self.store.set_alternatives(article_id, alternatives)
        self.records[article_id] = replace(record, alternatives=alternatives)


def delete_articles(store: ChunkStore, article_ids: Iterable[str], by: str = "cli",
                    trash: Trash | None = None) -> tuple[list[str], list[str]]:
    """Delete articles (passages and catalogue record): into the trash when one is given (restorable for
    TRASH_DAYS), else for good; returns (deleted, not found)."""
    deleted: list[str] = []
    missing: list[str] = []
    for article_id in article_ids:
        done = trash.put(article_id, by) is not None if trash is not None else store.delete_article(article_id, by=by)
        (deleted if done else missing).append(article_id)
    return deleted, missing
