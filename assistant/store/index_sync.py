"""Keeps this DATA_DIR's keyword index, passage cache and signature index up to date with Chroma, the one
source of truth.

The three are derived caches: every passage's text and vector and every article's MinHash
signature are stored in Chroma, and each index row names the content hash it was built from.
A process that writes an article updates its own DATA_DIR's indexes itself; what another
process wrote (another DATA_DIR against the same CHROMA_HOST, or a writer killed half-way)
reaches this one through the change log: every `sync()` (at most every INDEX_SYNC_SECONDS,
before each retrieval and at the start of each ingest) reads the log entries of the last
OVERLAP seconds and brings each named article's rows to the hash its catalogue record names,
from its stored passages, without embedding anything. An entry whose change has not landed yet
(the record is still being written) stays pending and is looked at again next time. The first
sync of a process, and one after more than CHANGE_LOG_DAYS without syncing, compares every
catalogue record instead (a full reconcile).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from assistant.infra.locks import LockBusy
from assistant.store.keyword_common import KeywordEngine
from assistant.store.signature_index import SignatureIndex

CHANGE_LOG_DAYS = 2.0
"""How long the store's change log keeps an entry: a process that has not synced for longer compares
every article instead."""


class IndexedStore(Protocol):
    """What the sync needs of the store (assistant/store/chunk_store.py ChunkStore)."""

    keywords: KeywordEngine | None
    signatures: SignatureIndex | None
    passages: Any
    """The passage cache (assistant/store/passage_cache.py) or None: kept like the keyword index."""

    def changes_since(self, at: float) -> list[Any]: ...

    def current_versions(self, article_ids: Iterable[str] | None = None) -> dict[str, str]: ...

    def writing(self, timeout: float | None = None, local: bool = False) -> AbstractContextManager[None]: ...

    def records_with_signatures(self, article_ids: Sequence[str]) -> dict[str, tuple[str, bytes | None]]: ...

    def forget_locally(self, article_id: str) -> None: ...

    def rebuild_keywords(self, versions: Mapping[str, str]) -> set[str]: ...


logger = logging.getLogger(__name__)

OVERLAP = 120.0
"""Seconds of the change log read again at each sync: covers writes whose entry and record land a
little apart, and clocks of writing machines that are a little off."""


class IndexSync:
    """Brings one store's keyword and signature indexes up to date; thread-safe, never raises from `sync`."""

    def __init__(self, store: IndexedStore, interval: float) -> None:
        self.store = store
        self.interval = interval
        self._cursor: float | None = None  # newest change-log time handled; None: reconcile first
        self._settled: set[str] = set()  # change-log entries whose change this DATA_DIR already reflects
        self._next = 0.0
        self._lock = threading.Lock()
        self.versions: dict[str, str] = {}
        """{article id: the content hash its catalogue record named} as of the last sync (and this process's own
        writes since; "" while it is being written): which passages a search may return without asking the
        catalogue (ChunkStore.passages_by_id). Complete once `known`."""
        self.known = False

    def note_versions(self, versions: Mapping[str, str | None]) -> None:
        """Records this process wrote (a hash; "" hidden while being written; None deleted)."""
        for article_id, digest in versions.items():
            if digest is None:
                self.versions.pop(article_id, None)
            else:
                self.versions[article_id] = digest

    @property
    def enabled(self) -> bool:
        return any(index is not None for index in (self.store.keywords, self.store.signatures, self.store.passages))

    def sync(self, force: bool = False) -> None:
        """Catch up with the change log (one read of its last entries: every call), or compare every article
        (the first time, after a pause past CHANGE_LOG_DAYS, and until every article settled: at most every
        `interval` seconds unless `force`)."""
        if not self.enabled:
            return
        started = time.time()
        reconcile = self._cursor is None or self._cursor < started - self._retention()
        if reconcile and not force and time.monotonic() < self._next:
            return
        if not self._lock.acquire(blocking=force):
            return  # another thread of this process is syncing right now
        try:
            if reconcile:
                self._next = time.monotonic() + self.interval
                if self._reconcile():
                    self._cursor = started - OVERLAP  # entries of writes still landing are read next time
            else:
                self._catch_up()
        except LockBusy:
            self._next = 0.0  # a writer of this DATA_DIR holds the lock: try again at the next call
        except Exception:  # the indexes only add recall; a failed sync must never fail a question
            logger.warning("could not bring the keyword/signature indexes up to date", exc_info=True)
        finally:
            self._lock.release()

    @staticmethod
    def _retention() -> float:
        return CHANGE_LOG_DAYS * 86400 - OVERLAP

    def _catch_up(self) -> None:
        assert self._cursor is not None
        entries = self.store.changes_since(self._cursor - OVERLAP)
        pending = [entry for entry in entries if entry.id not in self._settled]
        if pending:
            deleted = {entry.article_id for entry in pending if entry.op == "delete"}
            unsettled = self._update({entry.article_id for entry in pending}, deleted)
            self._settled.update(entry.id for entry in pending if entry.article_id not in unsettled)
        window = {entry.id for entry in entries}
        self._settled &= window  # entries that left the window are never read again
        if entries:
            self._cursor = max(self._cursor, max(entry.at for entry in entries))

    def _reconcile(self) -> bool:
        """Compare every record with the local rows; True when everything could be settled."""
        records = self.store.current_versions()
        self.versions, self.known = dict(records), True
        local = self._local_hashes(None)
        recent = {entry.article_id: entry.op for entry in self.store.changes_since(time.time() - OVERLAP)}
        changed = {article_id for article_id, digest in records.items() if digest and any(
            hashes.get(article_id) != digest for hashes in local)}
        orphans = {article_id for hashes in local for article_id in hashes if article_id not in records}
        # rows without a record are being written right now (a recent "put") or belong to a deleted article
        deleted = {article_id for article_id in orphans if recent.get(article_id) != "put"}
        unsettled = self._update(changed | deleted, deleted)
        return not unsettled and not (orphans - deleted)

    def _local_hashes(self, article_ids: Collection[str] | None) -> list[dict[str, str]]:
        return [index.hashes(article_ids) for index in (self.store.keywords, self.store.signatures,
                                                        self.store.passages) if index is not None]

    def _update(self, article_ids: Iterable[str], deleted: Collection[str]) -> set[str]:
        """Bring the articles' rows to their records' versions (or delete them); returns those whose
        change has not landed yet. Holds the store's write lock, so no local writer is half-way."""
        article_ids = sorted(set(article_ids))
        if not article_ids:
            return set()
        unsettled: set[str] = set()
        with self.store.writing(timeout=0, local=True):
            current = self.store.records_with_signatures(article_ids)
            keyword_hashes = self.store.keywords.hashes(article_ids) if self.store.keywords is not None else {}
            cached_hashes = self.store.passages.hashes(article_ids) if self.store.passages is not None else {}
            signature_hashes = self.store.signatures.hashes(article_ids) if self.store.signatures is not None else {}
            rebuild: dict[str, str] = {}
            for article_id in article_ids:
                record = current.get(article_id)
                self.note_versions({article_id: record[0] if record is not None else None})
                if record is None:
                    if article_id in deleted:
                        self.store.forget_locally(article_id)
                    else:
                        unsettled.add(article_id)  # a "put" whose record is not written yet
                    continue
                digest, signature = record
                if not digest:
                    unsettled.add(article_id)  # being replaced or deleted right now
                    continue
                if (self.store.keywords is not None and keyword_hashes.get(article_id) != digest) or (
                        self.store.passages is not None and cached_hashes.get(article_id) != digest):
                    rebuild[article_id] = digest  # both rebuilt from the passages stored in Chroma
                if self.store.signatures is not None and signature_hashes.get(article_id) != digest:
                    if signature is None:  # written before signatures were kept in Chroma
                        logger.info("%s: no signature stored in Chroma; re-ingest it to detect its copies",
                                    article_id)
                    else:
                        self.store.signatures.replace_article(article_id, digest, signature)
            unsettled |= self.store.rebuild_keywords(rebuild)
        if article_ids:
            logger.info("index sync: %d articles brought up to date, %d pending",
                        len(article_ids) - len(unsettled), len(unsettled))
        return unsettled
