"""Followed questions in Chroma, beside the store's catalogue, so every process and app machine sees them.

Two collections: `<collection>_follows`, one record per (user, question): its embedding is the question's
vector (for the cheap check), its document the answers and changes as JSON (codec.py), its metadata what the
check needs without reading the answers (user, question, times, the passages the answer could see and the
dense score a new passage needs to be among the search's candidates); and `<collection>_follow_state`, whose
one record holds the time up to which the store's writes have been checked.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from assistant.following.codec import dumps_state, loads_state
from assistant.following.types import FollowChange, Followed
from assistant.store.chunk_store import ChunkStore
from assistant.types import Answer

_STATE_VECTOR = [1.0]  # the state record is read by id, never by similarity
_CURSOR = "checked_up_to"
SeenPassage = tuple[str, str, str]
"""(chunk id, hash of the passage text as retrieved, article id) of a passage an answer could see."""


def now() -> float:
    """The time to record, to the millisecond: Chroma keeps a float metadata value to about 15 significant
    digits, so a full `time.time()` read back could differ from the one a caller kept (by 1e-7 s)."""
    return round(time.time(), 3)


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def follow_id(user: str, question: str) -> str:
    """One id per user and question: following a question twice keeps one follow."""
    return hashlib.sha1(f"{user}\x1f{' '.join(question.split()).lower()}".encode()).hexdigest()[:20]


@dataclass(frozen=True)
class FollowRecord:
    """What the check reads of a follow (its metadata and question vector, not its answers)."""

    follow_id: str
    user: str
    question: str
    created_at: float
    answered_at: float
    changed_at: float | None
    seen_at: float
    seen: frozenset[SeenPassage]
    floor: float
    """The lowest dense score among the search candidates when it was answered (-1: any passage may enter)."""
    mode: str
    vectors: str
    vector: np.ndarray | None = None

    @property
    def seen_chunks(self) -> set[str]:
        return {chunk_id for chunk_id, _, _ in self.seen}

    @property
    def seen_articles(self) -> set[str]:
        return {article_id for _, _, article_id in self.seen}


def _record(follow: str, meta: Mapping[str, Any], vector: Any = None) -> FollowRecord:
    changed = meta.get("changed_at")
    return FollowRecord(
        follow_id=follow, user=str(meta.get("user", "")), question=str(meta.get("question", "")),
        created_at=float(meta.get("created_at", 0.0)), answered_at=float(meta.get("answered_at", 0.0)),
        changed_at=None if changed is None else float(changed), seen_at=float(meta.get("seen_at", 0.0)),
        seen=frozenset(tuple(entry) for entry in json.loads(str(meta.get("seen") or "[]"))),
        floor=float(meta.get("floor", -1.0)), mode=str(meta.get("mode", "answer")),
        vectors=str(meta.get("vectors", "")),
        vector=None if vector is None else np.asarray(vector, dtype=np.float32))


def answer_metadata(answer: Answer, answered_at: float, floor: float) -> dict[str, Any]:
    """The metadata fields a (new) answer sets: when, the passages it could see, the candidates' floor."""
    seen = sorted({(p.chunk_id, text_hash(p.text), p.article_id) for p in answer.passages})
    return {"answered_at": answered_at, "seen": json.dumps(seen), "floor": floor, "mode": answer.mode}


class FollowStore:
    """The followed questions of one ChunkStore (any user's: callers filter by user)."""

    def __init__(self, store: ChunkStore) -> None:
        name = store.chunks.name
        self.follows = store.client.get_or_create_collection(f"{name}_follows")
        self.state = store.client.get_or_create_collection(f"{name}_follow_state")

    def count(self) -> int:
        return self.follows.count()


    def records(self, user: str | None = None, ids: Sequence[str] | None = None,
                vectors: bool = False) -> list[FollowRecord]:
        """The follows' metadata (and question vectors), of one user or every one, or these ids."""
        include: list[Any] = ["metadatas", "embeddings"] if vectors else ["metadatas"]
        found = self.follows.get(ids=list(ids) if ids is not None else None,
                                 where={"user": user} if user is not None else None, include=include)
        embeddings = found.get("embeddings") if vectors else None
        return [_record(follow, meta or {}, embeddings[index] if embeddings is not None else None)
                for index, (follow, meta) in enumerate(zip(found["ids"], found["metadatas"] or [], strict=True))]

    def followed(self, user: str | None = None, ids: Sequence[str] | None = None) -> list[Followed]:
        """The follows with their answers and changes."""
        found = self.follows.get(ids=list(ids) if ids is not None else None,
                                 where={"user": user} if user is not None else None,
                                 include=["metadatas", "documents"])
        result = []
        for follow, meta, document in zip(found["ids"], found["metadatas"] or [], found["documents"] or [],
                                          strict=True):
            record = _record(follow, meta or {})
            answer, previous, changes = loads_state(document)
            result.append(Followed(follow_id=follow, user=record.user, question=record.question,
                                   created_at=record.created_at, answer=answer,
                                   answered_at=record.answered_at if answer is not None else None,
                                   changed_at=record.changed_at, seen_at=record.seen_at, changes=changes,
                                   previous=previous))
        return result

    def document(self, follow: str) -> tuple[Answer | None, Answer | None, tuple[FollowChange, ...]]:
        found = self.follows.get(ids=[follow], include=["documents"])
        return loads_state((found["documents"] or [None])[0] if found["ids"] else None)

    def add(self, follow: str, vector: np.ndarray, metadata: dict[str, Any], answer: Answer) -> None:
        self.follows.upsert(ids=[follow], embeddings=[[float(v) for v in vector]], metadatas=[metadata],
                            documents=[dumps_state(answer, None, ())])

    def update(self, follow: str, metadata: dict[str, Any], document: str | None = None,
               vector: np.ndarray | None = None) -> None:
        """Set these metadata fields (the others stay), and the document and vector when given (a document
        goes with its vector: Chroma would embed a document given alone with its own model)."""
        if document is not None and vector is None:
            raise ValueError("a follow's document is updated with its question vector")
        self.follows.update(ids=[follow], metadatas=[metadata],
                            **({"documents": [document]} if document is not None else {}),
                            **({"embeddings": [[float(v) for v in vector]]} if vector is not None else {}))

    def delete(self, follow: str) -> None:
        self.follows.delete(ids=[follow])

    def cursor(self) -> float | None:
        """The time up to which the store's writes have been checked (None: never)."""
        found = self.state.get(ids=[_CURSOR], include=["metadatas"])
        metas = found["metadatas"] or []
        return float(metas[0]["at"]) if found["ids"] and metas and metas[0] else None

    def set_cursor(self, at: float) -> None:
        self.state.upsert(ids=[_CURSOR], embeddings=[_STATE_VECTOR], metadatas=[{"at": at}], documents=[""])


def has_follows(store: ChunkStore) -> bool:
    """Whether anyone follows a question on this store (without creating the follows' collection)."""
    from chromadb.errors import NotFoundError

    try:
        return store.client.get_collection(f"{store.chunks.name}_follows").count() > 0
    except NotFoundError:
        return False
