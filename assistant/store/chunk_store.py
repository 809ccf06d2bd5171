"""The Chroma store: passages with their embeddings, and a catalogue with one record per article.

Reads go through langchain-chroma; writes use chromadb's collection API directly so that
each passage is stored with an embedding computed once by the ingest pipeline (of the
title-carrying text) while the stored document stays the plain passage.

Consistency without transactions: the catalogue record is written after an article's passages
and names the content hash they carry; an update or a delete first blanks the record's hash
(a delete removes the record last). Searches return only passages whose hash matches their
article's record, so an ingest killed at any point never shows a half-written article, and the
next ingest (which compares the same hashes) finishes it.

Many processes: Chroma is the one source of truth, owned by one server process (see
assistant/store/server.py). Every write of an article is first noted in a change log (a third
collection, `<collection>_changes`), and every catalogue record carries the article's MinHash
signature, so the keyword and signature indexes beside the store are derived caches that any
process brings up to date from Chroma without re-embedding (assistant/store/index_sync.py). The writes
of one article and a delete never interleave: both hold the store's write lock (a file lock in
DATA_DIR, for the processes of one machine).

An ingest writes the articles of one flush together (`write_articles`): one change-log upsert, one
blanking of the records it replaces, one upsert of all passages, one delete of leftover passages,
the keyword rows (one transaction per article, found through an index: no scan), one upsert of the
records, in that order, so every crash point leaves what a crash between two single-article writes
leaves.

The passages collection's metadata records which vectors it holds (`vectors`: the embedding model,
see assistant/encoders/embeddings.py `vectors_name`); a store opened with an encoder that makes other vectors
is refused with one line naming the command that re-embeds it (`python -m ingest --reembed`).
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import NotFoundError
from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings

from assistant.store.audit import AuditLog
from assistant.store.client import local_client, remote_client
from assistant.store.server import OWNER_LOCK, StoreUnavailable
from assistant.config import Settings
from assistant.filters import UNKNOWN_DAY
from assistant.store.index_sync import CHANGE_LOG_DAYS, IndexSync
from assistant.store.keyword_common import KeywordEngine
from assistant.store.keyword_engines import open_keyword_index
from assistant.store.passage_cache import PassageCache, passage_from
from assistant.infra.locks import FileLock, LockBusy, file_lock
from assistant.store.signature_index import SignatureIndex
from assistant.types import Chunk, Passage
from assistant.store.vectors import Backend, backend_for_vectors, backends_for, vectors_name
from assistant.store.writer_lease import WriterLease

logger = logging.getLogger(__name__)

_COSINE = {"hnsw": {"space": "cosine"}}
_CATALOGUE_VECTOR = [1.0]  # catalogue records are looked up by id, never by similarity
_BEING_WRITTEN = ""  # the content hash of a record whose article is being replaced or deleted
"""Change-log entries older than this are pruned; a process that has not synced for that long
compares every record instead (a full reconcile)."""
_PRUNE_EVERY = 600.0  # seconds between a writer's prunes of the change log
VECTORS_KEY = "vectors"
"""Key of the passages collection's metadata naming the vectors it holds."""
REEMBED_KEY = "reembedding_from"
"""Present while `python -m ingest --reembed` has not finished: the vectors it replaces."""
LEGACY_VECTORS = "all-MiniLM-L6-v2"
"""What a store with passages but no record holds: it was built before records were kept, by torch MiniLM."""


class VectorsMismatch(StoreUnavailable):
    """The store holds vectors of another encoder than the one configured."""


@dataclass(frozen=True)
class ArticleWrite:
    """One article of a batched write: its record, passages and their vectors."""

    record: StoredArticle
    chunks: Sequence[Chunk]
    vectors: np.ndarray
    new: bool = False
    """The article has no record yet (nothing to hide first)."""
    signature: bytes | None = None


@dataclass(frozen=True)
class AlternativeSource:
    """Another outlet's copy of a stored article (a near-duplicate), kept as a source, not stored again."""

    id: str
    title: str
    source: str
    url: str
    published: str
    content_hash: str
    origin: str


Candidate = tuple[Passage, str]
"""A passage found by a search and the content hash it was written with (checked by `ChunkStore.complete`)."""


@dataclass(frozen=True)
class Change:
    """A change-log entry: an article about to be written ("put") or deleted ("delete") at time `at`."""

    id: str
    article_id: str
    op: str
    at: float


@dataclass(frozen=True)
class StoredArticle:
    """A catalogue record: what `python -m ingest --list` shows."""

    id: str
    title: str
    source: str
    url: str
    published: str
    chunks: int
    content_hash: str
    origin: str
    alternatives: tuple[AlternativeSource, ...] = ()
    added_by: str = ""
    """Who stored this version: the signed-in user of the web app, `cli`, or `feed:URL`."""
    added_at: str = ""
    """When this version was stored (UTC, ISO 8601); `origin` says from which file or URL."""


class ChunkStore:
    """Passages and article catalogue in one Chroma database (local directory or server),
    with the keyword index beside it kept in step."""

    data_dir: Path | None = None
    """The DATA_DIR of the local indexes (and of the local server's Chroma folder): where a full disk is checked."""

    def __init__(self, client: chromadb.ClientAPI, collection: str, embeddings: Embeddings | None = None,
                 keywords: KeywordEngine | None = None, signatures: SignatureIndex | None = None,
                 write_lock: FileLock | None = None, sync_seconds: float = 1.0,
                 audit: AuditLog | None = None, vectors: str | None = None, backend: str = "",
                 passages: PassageCache | None = None) -> None:
        """`vectors`: what the configured encoder makes (`backend`: the EMBEDDING_BACKEND that makes them);
        a store holding other vectors raises VectorsMismatch. None: not checked (listing, deleting)."""
        self.client = client
        self.audit = audit
        self.keywords = keywords
        self.signatures = signatures
        self.passages = passages
        self.write_lock = write_lock
        self.vectorstore = Chroma(
            client=client,
            collection_name=collection,
            embedding_function=embeddings,
            collection_configuration=_COSINE,
        )
        self.chunks = client.get_collection(collection)
        self.catalogue = client.get_or_create_collection(f"{collection}_articles")
        self.changes = client.get_or_create_collection(f"{collection}_changes")
        self.index_sync = IndexSync(self, sync_seconds)
        self._pruned = 0.0
        self._max_batch: int | None = None
        self._vectors_recorded = (self.chunks.metadata or {}).get(VECTORS_KEY)
        self.vectors = vectors
        self.backend = backend
        if vectors is not None:
            self.check_vectors(vectors, backend)

    def recorded_vectors(self, fresh: bool = False) -> tuple[str | None, str | None]:
        """(the vectors the passages hold, the vectors an unfinished re-embed replaces): (None, None) for an
        empty store without a record; a store built before records were kept holds LEGACY_VECTORS."""
        collection = self.client.get_collection(self.chunks.name) if fresh else self.chunks
        previous = (collection.metadata or {}).get(REEMBED_KEY)
        return held_vectors(collection), (None if previous is None else str(previous))

    def check_vectors(self, vectors: str, backend: str = "", fresh: bool = False) -> None:
        """Refuse (VectorsMismatch, one line) a store whose passages hold other vectors than `vectors`."""
        recorded, previous = self.recorded_vectors(fresh)
        if recorded is None or recorded == vectors:
            if previous is not None:
                logger.warning("the store's passages are being re-embedded from %s to %s (unfinished): "
                               "run `python -m ingest --reembed` to finish", previous, recorded)
            return
        backend = backend or self.backend
        configured = f"EMBEDDING_BACKEND={backend}" if backend else "the configured encoder"
        unfinished = f" (a re-embed from {previous} is unfinished)" if previous is not None else ""
        raise VectorsMismatch(
            f"the store's passages (collection {self.chunks.name}) hold {recorded} vectors{unfinished}, but "
            f"{configured} makes {vectors} vectors: re-embed them with `python -m ingest --reembed` (with "
            f"{configured}), or set EMBEDDING_BACKEND={' or '.join(backends_for(recorded)) or 'as before'}")

    def record_vectors(self, vectors: str, previous: str | None = None) -> None:
        """Write the record of the vectors the passages hold (`previous`: those an unfinished re-embed replaces)."""
        meta = {key: value for key, value in (self.client.get_collection(self.chunks.name).metadata or {}).items()
                if key not in (VECTORS_KEY, REEMBED_KEY)}
        meta[VECTORS_KEY] = vectors
        if previous is not None:
            meta[REEMBED_KEY] = previous
        self.chunks.modify(metadata=meta)
        self._vectors_recorded = vectors

    def _claim_vectors(self) -> None:
        """Before passages are written: record the vectors they are in a store without a record (caller holds
        writing()); another process may have recorded other vectors meanwhile (VectorsMismatch)."""
        if self.vectors is None or self._vectors_recorded == self.vectors:
            return
        recorded, _ = self.recorded_vectors(fresh=True)
        if recorded is None or recorded == self.vectors:
            self.record_vectors(self.vectors)
        else:
            self.check_vectors(self.vectors, fresh=True)

    def max_batch(self) -> int:
        """The most records one Chroma call takes."""
        if self._max_batch is None:
            self._max_batch = int(self.client.get_max_batch_size())
        return self._max_batch

    writer_lease: WriterLease | None = None
    """Set by build_store with CHROMA_HOST: writes of other machines are kept apart too (writer_lease.py)."""

    @contextmanager
    def writing(self, timeout: float | None = None, local: bool = False) -> Iterator[None]:
        """Hold the store's write lock: writes of articles and deletes never interleave across processes
        (of one machine), and with a writer lease, across machines (else WriterBusy). Re-entrant; `timeout`
        seconds, else LockBusy. `local`: only this DATA_DIR's indexes change (no lease needed)."""
        with self.write_lock.hold(timeout) if self.write_lock is not None else nullcontext():
            with self.writer_lease.hold() if self.writer_lease is not None and not local else nullcontext():
                yield

    def log_changes(self, article_ids: Sequence[str], op: str) -> None:
        """Note in the change log that these articles are about to be written ("put") or deleted ("delete").

        Written before the change itself: a process that reads an entry whose change has not landed yet
        looks again on its next sync (see IndexSync)."""
        if not article_ids:
            return
        now = time.time()
        self.changes.upsert(ids=[f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}" for _ in article_ids],
                            embeddings=[_CATALOGUE_VECTOR] * len(article_ids), documents=[op] * len(article_ids),
                            metadatas=[{"article_id": article_id, "op": op, "at": now} for article_id in article_ids])
        if now - self._pruned > _PRUNE_EVERY:
            self._pruned = now
            self.changes.delete(where={"at": {"$lt": now - CHANGE_LOG_DAYS * 86400}})

    def sync(self, force: bool = False) -> None:
        """Bring the keyword and signature indexes up to date with what other processes wrote."""
        self.index_sync.sync(force)

    def version(self) -> tuple[int, int]:
        """Changes whenever an article is added, updated or deleted by any process (for caches)."""
        return self.catalogue.count(), self.changes.count()

    def write_article(self, record: StoredArticle, chunks: Sequence[Chunk], vectors: np.ndarray,
                      new: bool = False, signature: bytes | None = None, action: str | None = None,
                      by: str | None = None) -> None:
        """Store an article's passages, drop any left over from an older version, then mark it complete
        (see `write_articles`)."""
        self.write_articles([ArticleWrite(record, chunks, vectors, new, signature)], action, by)

    def write_articles(self, writes: Sequence[ArticleWrite], action: str | None = None,
                       by: str | None = None) -> None:
        """Store several articles' passages, drop any left over from older versions, then mark them complete,
        each Chroma step one batched call for all of them.

        Articles not known to be `new` are hidden from searches first (their records' hashes blanked), so a
        crash at any step leaves no half-written article visible. The caller has noted the writes in the
        change log (`log_changes`) and holds `writing()`.
        """
        if not writes:
            return
        self._claim_vectors()
        hidden = [write.record.id for write in writes if not write.new]
        if hidden:
            self.catalogue.update(ids=hidden, metadatas=[{"content_hash": _BEING_WRITTEN}] * len(hidden))
            self.index_sync.note_versions(dict.fromkeys(hidden, _BEING_WRITTEN))
        chunks = [chunk for write in writes for chunk in write.chunks]
        if chunks:
            vectors = np.concatenate([np.asarray(write.vectors, dtype=np.float32) for write in writes if write.chunks])
            step = self.max_batch()
            for start in range(0, len(chunks), step):
                part = chunks[start:start + step]
                self.chunks.upsert(ids=[chunk.id for chunk in part], embeddings=vectors[start:start + step],
                                   documents=[chunk.text for chunk in part],
                                   metadatas=[chunk.metadata for chunk in part])
        leftovers: list[Any] = [{"$and": [{"article_id": write.record.id}, {"position": {"$gte": len(write.chunks)}}]}
                                for write in writes]
        for start in range(0, len(leftovers), 100):
            part = leftovers[start:start + 100]
            self.chunks.delete(where=part[0] if len(part) == 1 else {"$or": part})
        if self.keywords is not None:  # one commit for all (a crash before it leaves these records hidden)
            with self.keywords.batch():
                for write in writes:
                    self.keywords.replace_article(write.record.id, write.record.content_hash,
                                                  [_keyword_row(c.id, c.metadata, c.text) for c in write.chunks])
        if self.passages is not None:
            with self.passages.batch():
                for write in writes:
                    self.passages.replace_article(write.record.id, write.record.content_hash,
                                                  [(c.id, c.text, c.metadata, vector)
                                                   for c, vector in zip(write.chunks, write.vectors, strict=True)])
        self.write_records([write.record for write in writes], [write.signature for write in writes])
        for write in writes:
            self.note(by or write.record.added_by or "cli", action or ("added" if write.new else "updated"),
                      write.record.id, write.record.title, write.record.origin)

    def note(self, who: str, action: str, article_id: str, title: str, detail: str = "") -> None:
        """Add a line to the audit log (when the store keeps one)."""
        if self.audit is not None:
            self.audit.record(who, action, article_id, title, detail)

    def write_records(self, records: Sequence[StoredArticle], signatures: Sequence[bytes | None] | None = None) -> None:
        """Write catalogue records: each marks its article complete in the version its content hash names.

        A record's document holds the article's MinHash signature (base64; empty when the text is too
        short), so any process can rebuild the signature index from Chroma."""
        signatures = signatures or [None] * len(records)
        self.catalogue.upsert(
            ids=[record.id for record in records],
            embeddings=[_CATALOGUE_VECTOR] * len(records),
            documents=[_SIGNATURE_PREFIX + base64.b64encode(signature).decode() if signature is not None else ""
                       for signature in signatures],
            metadatas=[{**{field: getattr(record, field) for field in _RECORD_FIELDS},
                        "alternatives": _alternatives_json(record.alternatives)} for record in records],
        )
        self.index_sync.note_versions({record.id: record.content_hash for record in records})

    def set_alternatives(self, article_id: str, alternatives: Sequence[AlternativeSource]) -> None:
        """Replace the alternative sources recorded on a stored article (nothing else of it changes)."""
        self.catalogue.update(ids=[article_id], metadatas=[{"alternatives": _alternatives_json(alternatives)}])

    def repair_keywords(self, article_id: str, content_hash: str) -> None:
        """Rebuild an article's keyword entries from its stored passages (no embedding needed)."""
        self.rebuild_keywords({article_id: content_hash})

    def rebuild_keywords(self, versions: Mapping[str, str]) -> set[str]:
        """Rebuild the keyword entries and cached passages of articles ({id: content hash}) from their passages
        in Chroma, each where it names another version; returns the ids none of whose passages of that version
        are stored (yet)."""
        if (self.keywords is None and self.passages is None) or not versions:
            return set()
        ids = list(versions)
        keyword_hashes = self.keywords.hashes(ids) if self.keywords is not None else {}
        cached_hashes = self.passages.hashes(ids) if self.passages is not None else {}
        keywords_due = {a for a in ids if self.keywords is not None and keyword_hashes.get(a) != versions[a]}
        cache_due = {a for a in ids if self.passages is not None and cached_hashes.get(a) != versions[a]}
        missing: set[str] = set()
        due = [article_id for article_id in ids if article_id in keywords_due or article_id in cache_due]
        for start in range(0, len(due), 100):
            batch = due[start:start + 100]
            include: list[Any] = ["documents", "metadatas"] + (["embeddings"] if cache_due & set(batch) else [])
            stored = self.chunks.get(where={"article_id": {"$in": batch}}, include=include)
            found: dict[str, list[tuple[str, str, Mapping[str, Any], Any]]] = {article_id: [] for article_id in batch}
            vectors = stored.get("embeddings")
            for number, (chunk_id, document, meta) in enumerate(zip(
                    stored["ids"], stored["documents"] or [], stored["metadatas"] or [], strict=True)):
                meta = meta or {}
                article_id = str(meta.get("article_id", ""))
                if article_id in found and versions.get(article_id) == meta.get("content_hash"):
                    found[article_id].append((chunk_id, document or "", meta,
                                              vectors[number] if vectors is not None else None))
            missing |= {article_id for article_id, passages in found.items() if not passages}
            if self.keywords is not None:
                with self.keywords.batch():  # one commit per 100 articles (a tantivy commit costs tens of ms)
                    for article_id in keywords_due.intersection(batch):
                        self.keywords.replace_article(article_id, versions[article_id], [
                            _keyword_row(chunk_id, meta, text) for chunk_id, text, meta, _ in found[article_id]])
            if self.passages is not None:
                with self.passages.batch():
                    for article_id in cache_due.intersection(batch):
                        self.passages.replace_article(article_id, versions[article_id], found[article_id])
        return missing

    def forget_locally(self, article_id: str) -> None:
        """Drop a deleted article's keyword, cached passage and signature entries (what this DATA_DIR keeps
        beside Chroma)."""
        if self.keywords is not None:
            self.keywords.delete_article(article_id)
        if self.passages is not None:
            self.passages.delete_article(article_id)
        if self.signatures is not None:
            self.signatures.delete_article(article_id)

    def changes_since(self, at: float) -> list[Change]:
        """Change-log entries from time `at` on, oldest first."""
        found = self.changes.get(where={"at": {"$gte": at}}, include=["metadatas"])
        entries = [Change(entry_id, str(meta["article_id"]), str(meta["op"]), float(meta["at"]))
                   for entry_id, meta in zip(found["ids"], found["metadatas"] or [], strict=True) if meta]
        return sorted(entries, key=lambda entry: (entry.at, entry.id))

    def records_with_signatures(self, article_ids: Sequence[str]) -> dict[str, tuple[str, bytes | None]]:
        """{article id: (content hash, stored signature)} of these articles' records, absent ones left out."""
        found = self.catalogue.get(ids=list(article_ids), include=["metadatas", "documents"])
        return {article_id: (str((meta or {}).get("content_hash", "")), stored_signature(document))
                for article_id, meta, document in zip(found["ids"], found["metadatas"] or [],
                                                      found["documents"] or [], strict=True)}

    def keyword_hashes(self) -> dict[str, str]:
        return self.keywords.hashes() if self.keywords is not None else {}

    def signature_hashes(self) -> dict[str, str]:
        return self.signatures.hashes() if self.signatures is not None else {}

    def delete_article(self, article_id: str, by: str = "cli", action: str = "deleted") -> bool:
        """Remove an article (its alternative sources with it), its passages and signature for good; False
        when it was not stored. (assistant/store/trash.py keeps a copy first where a delete must be undoable.)"""
        with self.writing():
            found = self.catalogue.get(ids=[article_id], include=["metadatas"])
            known = bool(found["ids"])
            if known:  # hidden first; the record goes last, so a crash in between leaves it to delete again
                self.note(by, action, article_id, str(((found["metadatas"] or [{}])[0] or {}).get("title", "")))
                self.log_changes([article_id], "delete")
                self.catalogue.update(ids=[article_id], metadatas=[{"content_hash": _BEING_WRITTEN}])
                self.index_sync.note_versions({article_id: _BEING_WRITTEN})
            self.chunks.delete(where={"article_id": article_id})
            self.forget_locally(article_id)
            self.catalogue.delete(ids=[article_id])
            self.index_sync.note_versions({article_id: None})
            return known

    def records(self, article_ids: Sequence[str]) -> dict[str, StoredArticle]:
        """The catalogue records of these articles as they are now (absent ones left out)."""
        if not article_ids:
            return {}
        result = self.catalogue.get(ids=list(dict.fromkeys(article_ids)), include=["metadatas"])
        return {article_id: record_from_meta(article_id, meta or {})
                for article_id, meta in zip(result["ids"], result["metadatas"] or [], strict=True)}

    def articles(self) -> list[StoredArticle]:
        """Every stored article, newest first."""
        result = self.catalogue.get(include=["metadatas"])
        records = [record_from_meta(article_id, meta) for article_id, meta in zip(result["ids"], result["metadatas"] or [],
                                                                          strict=True)]
        return sorted(records, key=lambda record: (record.published, record.title), reverse=True)

    def count_articles(self) -> int:
        return self.catalogue.count()

    def count_chunks(self) -> int:
        return self.chunks.count()

    def sources(self) -> list[str]:
        return sorted({record.source for record in self.articles() if record.source})

    def search(self, vector: Sequence[float], k: int, where: dict[str, Any] | None = None) -> list[Passage]:
        """The k passages closest to the query vector (cosine), best first."""
        return self.complete(self.search_candidates(vector, k, where))

    def get_passages(self, chunk_ids: Sequence[str], vector: Sequence[float]) -> list[Passage]:
        """Passages by id, scored by cosine similarity to the query vector (for keyword-only hits)."""
        return self.complete(self.passage_candidates(chunk_ids, vector))

    def dense_hits(self, vector: Sequence[float], k: int,
                   where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the k passages closest to the query vector, best first: ids and
        distances only, the server's lightest answer (text and fields come from `passages_by_id`)."""
        if k <= 0:
            return []
        found = self.chunks.query(query_embeddings=[[float(value) for value in vector]], n_results=k, where=where,
                                  include=["distances"])  # type: ignore[list-item]
        return [(chunk_id, 1.0 - float(distance))
                for chunk_id, distance in zip(found["ids"][0], (found["distances"] or [[]])[0], strict=True)]

    def passages_by_id(self, chunk_ids: Sequence[str], vector: Sequence[float],
                       scores: Mapping[str, float] | None = None) -> list[Passage]:
        """The complete passages among these ids, in the order given, scored by `scores` (the dense search's)
        or their cosine similarity to the query vector.

        A passage comes from the passage cache when the cache holds it in the version the article's record
        named at the last index sync (run before each question: the change log names every write before it
        starts), with no call to the server; any other passage is fetched from Chroma and checked against the
        catalogue (`complete`)."""
        scores = scores or {}
        found: dict[str, Passage] = {}
        if (versions := self._cache_versions()) is not None:
            assert self.passages is not None
            for passage, digest in self.passages.candidates(chunk_ids, vector):
                if is_current(versions, passage.article_id, digest):
                    score = scores.get(passage.chunk_id)
                    found[passage.chunk_id] = passage if score is None else replace(passage, score=round(score, 4))
        missing = [chunk_id for chunk_id in dict.fromkeys(chunk_ids) if chunk_id not in found]
        if missing:
            for passage in self.complete(self._fetched(missing, vector)):
                score = scores.get(passage.chunk_id)
                found[passage.chunk_id] = passage if score is None else replace(passage, score=round(score, 4))
        return [found[chunk_id] for chunk_id in dict.fromkeys(chunk_ids) if chunk_id in found]

    def article_vectors(self, article_ids: Sequence[str]) -> list[tuple[str, np.ndarray]]:
        """(article id, vector) of every stored passage of these articles: from the passage cache for articles
        it holds in their current version (as `passages_by_id` decides), the rest from Chroma."""
        found: list[tuple[str, np.ndarray]] = []
        missing = list(dict.fromkeys(article_ids))
        if (versions := self._cache_versions()) is not None:
            assert self.passages is not None
            for article_id, (digest, vectors) in self.passages.article_vectors(missing).items():
                if is_current(versions, article_id, digest):
                    found.extend((article_id, row) for row in vectors)
            held = {article_id for article_id, _ in found}
            missing = [article_id for article_id in missing if article_id not in held]
        for start in range(0, len(missing), 100):
            fetched = self.chunks.get(where={"article_id": {"$in": missing[start:start + 100]}},
                                      include=["metadatas", "embeddings"])
            embeddings: Any = fetched.get("embeddings")
            for index, meta in enumerate(fetched["metadatas"] or []):
                found.append((str((meta or {}).get("article_id", "")),
                              np.asarray(embeddings[index], dtype=np.float32)))
        return found

    def _cache_versions(self) -> Mapping[str, str] | None:
        """The article versions the passage cache is read against (the last index sync's); None when there is
        no cache or no sync yet, and then nothing is read from it."""
        return self.index_sync.versions if self.passages is not None and self.index_sync.known else None

    def search_candidates(self, vector: Sequence[float], k: int,
                          where: dict[str, Any] | None = None) -> list[Candidate]:
        """As `search`, before `complete` (so one catalogue read can serve several searches)."""
        if k <= 0:
            return []
        hits = self.vectorstore.similarity_search_by_vector_with_relevance_scores(
            [float(value) for value in vector], k=k, filter=where
        )
        return [(passage_from(document.id or "", document.page_content, document.metadata, 1.0 - float(distance)),
                 str(document.metadata.get("content_hash", ""))) for document, distance in hits]

    def passage_candidates(self, chunk_ids: Sequence[str], vector: Sequence[float]) -> list[Candidate]:
        """As `get_passages`, before `complete`: from the local passage cache, and from Chroma those it lacks."""
        if not chunk_ids:
            return []
        cached = self.passages.candidates(chunk_ids, vector) if self.passages is not None else []
        held = {passage.chunk_id for passage, _ in cached}
        missing = [chunk_id for chunk_id in chunk_ids if chunk_id not in held]
        if not missing:
            return cached
        fetched = {passage.chunk_id: (passage, digest) for passage, digest in self._fetched(missing, vector)}
        by_id = {**{passage.chunk_id: (passage, digest) for passage, digest in cached}, **fetched}
        return [by_id[chunk_id] for chunk_id in chunk_ids if chunk_id in by_id]

    def _fetched(self, chunk_ids: Sequence[str], vector: Sequence[float]) -> list[Candidate]:
        """Passages by id from Chroma, with their content hashes, scored by cosine similarity to the vector."""
        found = self.chunks.get(ids=list(chunk_ids), include=["documents", "metadatas", "embeddings"])
        query = np.asarray(vector, dtype=np.float32)
        return [(passage_from(chunk_id, document or "", meta or {}, float(np.asarray(embedding, dtype=np.float32) @ query)),
                 str((meta or {}).get("content_hash", "")))
                for chunk_id, document, meta, embedding in zip(found["ids"], found["documents"],
                                                               found["metadatas"] or [], found["embeddings"],
                                                               strict=True)]

    def complete(self, candidates: Sequence[Candidate], versions: Mapping[str, str] | None = None) -> list[Passage]:
        """The passages that belong to the version of their article its catalogue record names
        (`versions`: those records' content hashes, when the caller has read them already)."""
        if versions is None:
            versions = self.current_versions({passage.article_id for passage, _ in candidates})
        return [passage for passage, digest in candidates if is_current(versions, passage.article_id, digest)]

    def current_versions(self, article_ids: Iterable[str] | None = None) -> dict[str, str]:
        """{article id: the content hash its record names ("" while it is being written)} of these stored
        articles, or of every one (None)."""
        ids = None if article_ids is None else sorted(set(article_ids))
        if ids == []:
            return {}
        records = self.catalogue.get(ids=ids, include=["metadatas"])
        return {article_id: str((meta or {}).get("content_hash", "")) for article_id, meta
                in zip(records["ids"], records["metadatas"] or [], strict=True)}


def is_current(versions: Mapping[str, str], article_id: str, digest: str) -> bool:
    """Whether `digest` is the version of the article its record names ("" names none: being written)."""
    return bool(digest) and versions.get(article_id) == digest


def _keyword_row(chunk_id: str, meta: Mapping[str, Any], text: str) -> tuple[str, str, str, str, int]:
    return chunk_id, str(meta.get("title", "")), text, str(meta.get("source", "")), int(meta.get("day", UNKNOWN_DAY))


_RECORD_FIELDS = ("title", "source", "url", "published", "chunks", "content_hash", "origin", "added_by", "added_at")
_LATER_FIELDS = {"added_by": "", "added_at": ""}  # absent from records written before provenance was kept


def _alternatives_json(alternatives: Sequence[AlternativeSource]) -> str:
    return json.dumps([asdict(alternative) for alternative in alternatives])


_SIGNATURE_PREFIX = "minhash:"


def stored_signature(document: str | None) -> bytes | None:
    """The signature a catalogue record's document holds (b"" for a text too short to have one),
    None for a record written before signatures were kept in Chroma."""
    if not document or not document.startswith(_SIGNATURE_PREFIX):
        return None
    return base64.b64decode(document[len(_SIGNATURE_PREFIX):])


def record_from_meta(article_id: str, meta: Mapping[str, Any]) -> StoredArticle:
    alternatives = tuple(AlternativeSource(**item) for item in json.loads(str(meta.get("alternatives") or "[]")))
    return StoredArticle(id=article_id, **{field: meta.get(field, _LATER_FIELDS.get(field)) for field in _RECORD_FIELDS},
                         alternatives=alternatives)


def build_client(settings: Settings) -> chromadb.ClientAPI:
    """A client of the Chroma server at CHROMA_HOST; else of the local server that owns DATA_DIR/chroma
    (started if none runs); with CHROMA_MODE=embedded, the directory opened in this process alone."""
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_host:
        return remote_client(settings.chroma_host, settings.chroma_port, chroma_settings)
    if settings.chroma_mode == "server":
        return local_client(settings.data_dir, chroma_settings)
    path = settings.data_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    _claim(settings.data_dir / OWNER_LOCK, path)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


_CLAIMED: set[Path] = set()


def _claim(lock_path: Path, path: Path) -> None:
    """Hold the directory's owner lock for the rest of this process: no server or other process opens it."""
    lock = file_lock(lock_path)
    if lock.path in _CLAIMED:
        return
    try:
        lock.claim()
    except LockBusy as error:
        raise StoreUnavailable(f"{path} is open in another process ({error}); use CHROMA_MODE=server (the default) "
                               "in every process that shares it") from None
    _CLAIMED.add(lock.path)


def held_vectors(chunks: chromadb.Collection) -> str | None:
    """The vectors a passages collection records, LEGACY_VECTORS when it has passages but no record (built
    before records were kept), None when it is empty and has none."""
    recorded = (chunks.metadata or {}).get(VECTORS_KEY)
    if recorded is None and chunks.count() > 0:
        recorded = LEGACY_VECTORS
    return None if recorded is None else str(recorded)


def store_backend(settings: Settings) -> Backend:
    """The EMBEDDING_BACKEND to use with this store: the setting, or for `auto` the one that makes the
    vectors its passages hold (assistant/encoders/embeddings.py `backend_for_vectors`)."""
    if settings.embedding_backend != "auto":
        return settings.embedding_backend
    try:
        return backend_for_vectors(held_vectors(build_client(settings).get_collection(settings.collection)))
    except NotFoundError:
        return backend_for_vectors(None)


def build_store(settings: Settings, embeddings: Embeddings | None = None, check_vectors: bool = True) -> ChunkStore:
    """The store of these settings. With `check_vectors`, a store whose passages hold vectors of another
    encoder than EMBEDDING_BACKEND's (or `embeddings`', when it says) raises VectorsMismatch."""
    backend = getattr(embeddings, "backend", None) or store_backend(settings)
    vectors = getattr(embeddings, "vectors", None) or vectors_name(backend)
    keywords = open_keyword_index(settings)
    signatures = SignatureIndex(settings.data_dir / f"{settings.collection}_signatures.sqlite3",
                                settings.near_duplicate_threshold) if settings.near_duplicate_threshold else None
    passages = PassageCache(settings.data_dir / f"{settings.collection}_passages.sqlite3") \
        if keywords is not None else None  # only keyword-only candidates are read from it
    store = ChunkStore(build_client(settings), settings.collection, embeddings, keywords, signatures,
                       file_lock(settings.data_dir / f"{settings.collection}.write.lock"), settings.index_sync_seconds,
                       AuditLog(settings.data_dir / f"{settings.collection}_audit.jsonl"),
                       vectors if check_vectors else None, backend, passages)
    if settings.chroma_host:  # app machines sharing one server: one writes at a time
        store.writer_lease = WriterLease(store.client, settings.collection, settings.data_dir,
                                         settings.writer_lease_seconds, settings.writer_lease_wait)
    store.data_dir = settings.data_dir.resolve()
    return store
