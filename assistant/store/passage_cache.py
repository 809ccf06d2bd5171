"""Every passage's text, fields and vector kept beside the store: keyword-only candidates cost no server call.

A question's keyword search finds passages the dense search did not; ranking and the relevance floor
need each one's text, fields and cosine similarity to the question. Fetching them from the Chroma
server with their vectors was the largest call of a question (a 40-passage get with vectors: 20 ms
through the local server). This SQLite file holds the same data, written by the same code paths as
the keyword index (an ingest's own writes; the index sync for what other processes wrote, from the
passages stored in Chroma) and, like it, records the content hash each article's rows were built
from, so the sync repairs a stale or missing article. Vectors are kept as float16 (768 bytes for
384 dimensions; the cosine differs from float32's by under 0.001). A passage not held here (a cache
still being filled, an article written by another process since the last sync) is fetched from Chroma.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.store.sqlite import HashedRows
from assistant.types import Passage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS passages (chunk_id TEXT PRIMARY KEY, article_id TEXT NOT NULL,
                                     content_hash TEXT NOT NULL, text TEXT NOT NULL, fields TEXT NOT NULL,
                                     vector BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS passages_by_article ON passages (article_id);
CREATE TABLE IF NOT EXISTS articles (article_id TEXT PRIMARY KEY, content_hash TEXT NOT NULL);
"""
FIELDS = ("article_id", "title", "source", "url", "published", "section", "position")
"""The passage's metadata the cache keeps (what `passage_from` reads), besides its content hash."""

CachedPassage = tuple[str, str, Mapping[str, Any], Any]
"""(chunk_id, text, metadata, vector) of one passage, as written to Chroma."""


def passage_from(chunk_id: str, text: str, meta: Mapping[str, Any], score: float) -> Passage:
    """A Passage from a stored passage's text and metadata, scored."""
    return Passage(
        chunk_id=chunk_id,
        article_id=str(meta.get("article_id", "")),
        title=str(meta.get("title", "")),
        text=text,
        score=round(score, 4),
        source=str(meta.get("source", "")),
        url=str(meta.get("url", "")),
        published=str(meta.get("published", "")),
        section=str(meta.get("section", "")),
        position=int(meta.get("position", 0)),
    )


class PassageCache(HashedRows):
    """Passages by chunk id with their float16 vectors; thread-safe, and safe with several writing processes."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(path, _SCHEMA)

    def replace_article(self, article_id: str, content_hash: str, passages: Sequence[CachedPassage]) -> None:
        """Replace an article's passages with these (of the version `content_hash` names)."""
        rows = [(chunk_id, article_id, content_hash, text,
                 json.dumps({field: meta.get(field) for field in FIELDS if meta.get(field) is not None}),
                 np.asarray(vector, dtype=np.float16).tobytes())
                for chunk_id, text, meta, vector in passages]
        with self._writer.write() as connection:
            connection.execute("DELETE FROM passages WHERE article_id = ?", (article_id,))
            connection.executemany("INSERT OR REPLACE INTO passages VALUES (?, ?, ?, ?, ?, ?)", rows)
            connection.execute("INSERT OR REPLACE INTO articles VALUES (?, ?)", (article_id, content_hash))

    def delete_article(self, article_id: str) -> None:
        with self._writer.write() as connection:
            connection.execute("DELETE FROM passages WHERE article_id = ?", (article_id,))
            connection.execute("DELETE FROM articles WHERE article_id = ?", (article_id,))

    def article_vectors(self, article_ids: Sequence[str]) -> dict[str, tuple[str, np.ndarray]]:
        """{article id: (content hash, its passages' vectors as rows, float32)} of the articles this cache holds."""
        ids = list(dict.fromkeys(article_ids))
        rows: dict[str, tuple[str, list[bytes]]] = {}
        with self._lock:
            for start in range(0, len(ids), 500):  # SQLite limits the number of parameters
                batch = ids[start:start + 500]
                for article_id, content_hash, blob in self._connection.execute(
                        "SELECT article_id, content_hash, vector FROM passages "
                        f"WHERE article_id IN ({','.join('?' * len(batch))}) ORDER BY chunk_id", batch):
                    rows.setdefault(article_id, (content_hash, []))[1].append(blob)
        return {article_id: (content_hash, np.frombuffer(b"".join(blobs), dtype=np.float16)
                             .reshape(len(blobs), -1).astype(np.float32))
                for article_id, (content_hash, blobs) in rows.items()}

    def candidates(self, chunk_ids: Sequence[str], vector: Sequence[float]) -> list[tuple[Passage, str]]:
        """(passage scored by cosine similarity to `vector`, its content hash) of the given passages this
        cache holds, in the order asked; those it does not hold are left out."""
        ids = list(dict.fromkeys(chunk_ids))
        found: dict[str, tuple[str, str, str, bytes]] = {}
        with self._lock:
            for start in range(0, len(ids), 500):  # SQLite limits the number of parameters
                batch = ids[start:start + 500]
                for chunk_id, content_hash, text, fields, blob in self._connection.execute(
                        "SELECT chunk_id, content_hash, text, fields, vector FROM passages "
                        f"WHERE chunk_id IN ({','.join('?' * len(batch))})", batch):
                    found[chunk_id] = (content_hash, text, fields, blob)
        if not found:
            return []
        order = [chunk_id for chunk_id in ids if chunk_id in found]
        query = np.asarray(vector, dtype=np.float32)
        vectors = np.frombuffer(b"".join(found[chunk_id][3] for chunk_id in order), dtype=np.float16)
        if vectors.size != len(order) * query.size:  # vectors of another encoder: ask the store instead
            return []
        scores = vectors.reshape(len(order), -1).astype(np.float32) @ query
        return [(passage_from(chunk_id, found[chunk_id][1], json.loads(found[chunk_id][2]), float(score)),
                 found[chunk_id][0]) for chunk_id, score in zip(order, scores, strict=True)]
