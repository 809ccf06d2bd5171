"""The trash: deleted and replaced article versions, kept for TRASH_DAYS so a click can be undone.

Moving an article to the trash copies its catalogue record (with its signature) and its passages
with their embeddings into two collections of their own (`<collection>_trash_articles`,
`<collection>_trash`), which searches never read, then deletes the article from the store as
usual. Restoring writes the same passages, vectors and record back (nothing is re-embedded),
after moving whatever version is stored now to the trash in turn. Entries older than TRASH_DAYS
are purged whenever the trash is listed or added to; `python -m ingest --purge-trash` empties it.
Chroma holds the trash, so every process and app machine of the store sees the same one.
"""

from __future__ import annotations

import time
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

import numpy as np

from assistant.store.audit import now_iso
from assistant.store.chunk_store import ChunkStore, StoredArticle, record_from_meta, stored_signature
from assistant.types import Chunk

_VECTOR = [1.0]
_BATCH = 1000


@dataclass(frozen=True)
class TrashedArticle:
    trash_id: str
    record: StoredArticle
    trashed_at: str
    trashed_by: str
    reason: str


class Trash:
    """Deleted and replaced versions of one store's articles."""

    def __init__(self, store: ChunkStore, days: float = 30.0) -> None:
        self.store = store
        self.days = days
        name = store.chunks.name
        self.passages = store.client.get_or_create_collection(f"{name}_trash")
        self.records = store.client.get_or_create_collection(f"{name}_trash_articles")

    def put(self, article_id: str, by: str, reason: str = "deleted") -> TrashedArticle | None:
        """Move the stored version of an article to the trash; None when it is not stored."""
        with self.store.writing():
            found = self.store.catalogue.get(ids=[article_id], include=["metadatas", "documents"])
            if not found["ids"]:
                return None
            meta = dict((found["metadatas"] or [{}])[0] or {})
            record = record_from_meta(article_id, meta)
            passages = self.store.chunks.get(
                where={"$and": [{"article_id": article_id}, {"content_hash": record.content_hash}]},
                include=["documents", "metadatas", "embeddings"])
            trash_id = f"{article_id}@{time.time_ns()}"
            if passages["ids"]:
                self.passages.upsert(ids=[f"{trash_id}#{chunk_id}" for chunk_id in passages["ids"]],
                                     embeddings=np.asarray(passages["embeddings"], dtype=np.float32),
                                     documents=list(passages["documents"] or []),
                                     metadatas=[{**(m or {}), "trash_id": trash_id} for m in passages["metadatas"] or []])
            trashed_at = now_iso()
            self.records.upsert(ids=[trash_id], embeddings=[_VECTOR], documents=[(found["documents"] or [""])[0] or ""],
                                metadatas=[{**meta, "article_id": article_id, "trashed_at": trashed_at,
                                            "trashed_by": by, "reason": reason, "at": time.time()}])
            self.store.delete_article(article_id, by=by, action=f"moved to the trash ({reason})")
        self.purge(expired_only=True)
        return TrashedArticle(trash_id, record, trashed_at, by, reason)

    def list(self) -> list[TrashedArticle]:
        """Everything in the trash, newest first (expired entries are purged first)."""
        self.purge(expired_only=True)
        found = self.records.get(include=["metadatas"])
        return sorted((_trashed(trash_id, meta or {}) for trash_id, meta in zip(found["ids"], found["metadatas"] or [],
                                                                                 strict=True)),
                      key=lambda entry: entry.trashed_at, reverse=True)

    def holds(self, article_ids: AbstractSet[str]) -> set[str]:
        """Of these article ids, those a trashed version holds, as its article or as one of its alternative
        sources (nothing is purged: this only reads)."""
        if not article_ids:
            return set()
        found = self.records.get(include=["metadatas"])
        held: set[str] = set()
        for trash_id, meta in zip(found["ids"], found["metadatas"] or [], strict=True):
            record = _trashed(trash_id, meta or {}).record
            held |= {record.id, *(alternative.id for alternative in record.alternatives)} & article_ids
        return held

    def restore(self, trash_id: str, by: str) -> StoredArticle:
        """Put a trashed version back (the version stored now, if any, goes to the trash); KeyError when the
        entry is not in the trash (any more)."""
        with self.store.writing():
            found = self.records.get(ids=[trash_id], include=["metadatas", "documents"])
            if not found["ids"]:
                raise KeyError(f"{trash_id} is not in the trash")
            entry = _trashed(trash_id, (found["metadatas"] or [{}])[0] or {})
            passages = self.passages.get(where={"trash_id": trash_id}, include=["documents", "metadatas", "embeddings"])
            record = entry.record
            self.put(record.id, by, reason=f"replaced by the restored version of {entry.trashed_at}")
            chunks = sorted((_chunk(chunk_id.split("#", 1)[1], document or "", meta or {}) for chunk_id, document, meta
                             in zip(passages["ids"], passages["documents"] or [], passages["metadatas"] or [],
                                    strict=True)), key=lambda chunk: chunk.position)
            by_id = dict(zip((chunk_id.split("#", 1)[1] for chunk_id in passages["ids"]),
                             np.asarray(passages["embeddings"], dtype=np.float32), strict=True))
            vectors = np.asarray([by_id[chunk.id] for chunk in chunks], dtype=np.float32)
            signature = stored_signature((found["documents"] or [""])[0])
            self.store.log_changes([record.id], "put")
            self.store.write_article(replace(record, chunks=len(chunks)), chunks, vectors, new=True,
                                     signature=signature, action="restored from the trash", by=by)
            if self.store.signatures is not None and signature is not None:
                self.store.signatures.replace_article(record.id, record.content_hash, signature)
            self._delete([trash_id])
        return record

    def purge(self, expired_only: bool = False) -> int:
        """Remove trashed versions for good: all of them, or those older than `days`; returns how many.

        Holds the store's write lock, as `put` and `restore` do: a restore never races a purge of its entry,
        and two purges never both purge (and log) one entry."""
        where: Any = {"at": {"$lt": time.time() - self.days * 86400}} if expired_only else None
        if not self.records.get(where=where, include=[], limit=1)["ids"]:  # nothing to purge: listing only reads
            return 0
        with self.store.writing():
            found = self.records.get(where=where, include=["metadatas"])
            if found["ids"]:
                for trash_id, meta in zip(found["ids"], found["metadatas"] or [], strict=True):
                    self.store.note("trash" if expired_only else "cli", "purged from the trash",
                                    str((meta or {}).get("article_id", "")), str((meta or {}).get("title", "")),
                                    trash_id)
                self._delete(list(found["ids"]))
        return len(found["ids"])

    def _delete(self, trash_ids: list[str]) -> None:
        for start in range(0, len(trash_ids), _BATCH):
            batch = trash_ids[start:start + _BATCH]
            self.passages.delete(where={"trash_id": {"$in": batch}})
            self.records.delete(ids=batch)


def _trashed(trash_id: str, meta: dict[str, Any]) -> TrashedArticle:
    record = record_from_meta(str(meta.get("article_id", trash_id.split("@", 1)[0])), meta)
    return TrashedArticle(trash_id, record, str(meta.get("trashed_at", "")), str(meta.get("trashed_by", "")),
                          str(meta.get("reason", "")))


def _chunk(chunk_id: str, text: str, meta: dict[str, Any]) -> Chunk:
    metadata = {key: value for key, value in meta.items() if key != "trash_id"}
    return Chunk(id=chunk_id, article_id=str(metadata.get("article_id", "")), position=int(metadata.get("position", 0)),
                 text=text, embed_text="", section=str(metadata.get("section", "")), metadata=metadata)


def expiry(entry: TrashedArticle, days: float) -> str:
    """The day (UTC) an entry will be purged."""
    trashed = datetime.fromisoformat(entry.trashed_at) if entry.trashed_at else datetime.now(timezone.utc)
    return datetime.fromtimestamp(trashed.timestamp() + days * 86400, timezone.utc).date().isoformat()
