"""BM25 keyword search over passages: SQLite FTS5 in the data directory, kept in step with Chroma.

Names, numbers and rare words are what a small embedding model misses and a keyword index finds.
Each article's rows are replaced in one transaction; `articles` records the content hash
the rows were built from, so an ingest can tell a stale or missing entry and repair it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Collection, Sequence
from pathlib import Path

from assistant.filters import UNKNOWN_DAY, Filters, day_number
from assistant.sqlite import connect, selected_hashes, write_transaction
from assistant.text import STOPWORDS, normalize

_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS passages USING fts5(
    title, body, chunk_id UNINDEXED, article_id UNINDEXED, source UNINDEXED, day UNINDEXED,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS articles (article_id TEXT PRIMARY KEY, content_hash TEXT NOT NULL);
"""
_TOKEN = re.compile(r"\w+")


def match_query(question: str) -> str:
    """An FTS5 OR-query of the question's content words, each quoted (no FTS syntax gets through)."""
    words = [word for word in _TOKEN.findall(normalize(question)) if word not in STOPWORDS]
    return " OR ".join(f'"{word}"' for word in dict.fromkeys(words))


class KeywordIndex:
    """Passages ranked by BM25 (title weighted above body); thread-safe, and safe with several
    writing processes (a Chroma server shared by ingests on one machine)."""

    def __init__(self, path: Path | str, title_weight: float = 1.0) -> None:
        self._connection = connect(path, _SCHEMA)
        self._lock = threading.Lock()
        self.title_weight = title_weight

    def replace_article(self, article_id: str, content_hash: str,
                        rows: Sequence[tuple[str, str, str, str, int]]) -> None:
        """Replace an article's rows: (chunk_id, title, body, source, day) each."""
        with self._lock, write_transaction(self._connection) as connection:
            connection.execute("DELETE FROM passages WHERE article_id = ?", (article_id,))
            connection.executemany(
                "INSERT INTO passages (chunk_id, article_id, title, body, source, day) VALUES (?, ?, ?, ?, ?, ?)",
                [(chunk_id, article_id, title, body, source, day) for chunk_id, title, body, source, day in rows],
            )
            connection.execute("INSERT OR REPLACE INTO articles VALUES (?, ?)", (article_id, content_hash))

    def delete_article(self, article_id: str) -> None:
        with self._lock, write_transaction(self._connection) as connection:
            connection.execute("DELETE FROM passages WHERE article_id = ?", (article_id,))
            connection.execute("DELETE FROM articles WHERE article_id = ?", (article_id,))

    def hashes(self, article_ids: Collection[str] | None = None) -> dict[str, str]:
        """Content hash of every article the index holds (of these articles only, when given)."""
        with self._lock:
            return selected_hashes(self._connection, "articles", article_ids)

    def count(self) -> int:
        with self._lock:
            return int(self._connection.execute("SELECT count(*) FROM passages").fetchone()[0])

    def search(self, question: str, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """(chunk_id, BM25 score) of the k best passages, best first; higher scores are better."""
        return [(chunk_id, score) for chunk_id, _, score in self.hits(question, k, filters)]

    def hits(self, question: str, k: int, filters: Filters | None = None) -> list[tuple[str, str, float]]:
        """As `search`, with each passage's article: (chunk_id, article_id, BM25 score)."""
        query = match_query(question)
        if not query or k < 1:
            return []
        sql = "SELECT chunk_id, article_id, bm25(passages, ?, 1.0) AS rank FROM passages WHERE passages MATCH ?"
        params: list[object] = [self.title_weight, query]
        filters = filters or Filters()
        if filters.source:
            sql += f" AND source IN ({','.join('?' * len(filters.source))})"
            params += list(filters.source)
        if filters.article_ids:
            sql += f" AND article_id IN ({','.join('?' * len(filters.article_ids))})"
            params += list(filters.article_ids)
        if filters.date_from or filters.date_to:
            sql += f" AND day > {UNKNOWN_DAY}"
        if filters.date_from:
            sql += " AND day >= ?"
            params.append(day_number(filters.date_from))
        if filters.date_to:
            sql += " AND day <= ?"
            params.append(day_number(filters.date_to))
        sql += " ORDER BY rank LIMIT ?"
        params.append(k)
        with self._lock:
            return [(chunk_id, article_id, -rank) for chunk_id, article_id, rank in self._connection.execute(sql, params)]
