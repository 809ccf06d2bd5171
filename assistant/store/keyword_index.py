"""BM25 keyword search over passages: SQLite FTS5 in the data directory, kept in step with Chroma
(KEYWORD_ENGINE=fts5, the default; the other engines: assistant/store/keyword_engines.py).

Names, numbers and rare words are what a small embedding model misses and a keyword index finds.
Each article's rows are replaced in one transaction (`batch()` puts several writes in one, e.g. when
a benchmark fills an index); `articles` records the content hash the rows were built from, so an ingest can tell a
stale or missing entry and repair it. `article_rows` maps each article to its rows' rowids, so replacing
or deleting an article's rows costs the same in a store of any size (FTS5 cannot index `article_id`:
a `DELETE ... WHERE article_id = ?` on the FTS table reads every row, 56 ms per article at 30,000 rows).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from assistant.filters import Filters
from assistant.store.keyword_common import PRUNE_FROM, HitsSearch, KeywordRow, content_words, day_range, kept_words
from assistant.store.sqlite import HashedRows

__all__ = ["PRUNE_FROM", "KeywordIndex", "content_words", "match_query"]

_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS passages USING fts5(
    title, body, chunk_id UNINDEXED, article_id UNINDEXED, source UNINDEXED, day UNINDEXED,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS articles (article_id TEXT PRIMARY KEY, content_hash TEXT NOT NULL);
"""
_ROWS_SCHEMA = """
CREATE TABLE article_rows (row INTEGER PRIMARY KEY, article_id TEXT NOT NULL);
CREATE INDEX article_rows_by_article ON article_rows (article_id);
INSERT INTO article_rows (row, article_id) SELECT rowid, article_id FROM passages;
"""
_QUERY_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS temp.vocabulary USING fts5vocab(main, passages, 'row');
CREATE VIRTUAL TABLE IF NOT EXISTS temp.question USING fts5(word, tokenize = 'porter unicode61 remove_diacritics 2');
CREATE VIRTUAL TABLE IF NOT EXISTS temp.question_terms USING fts5vocab(temp, question, 'instance');
"""


def match_query(question: str | list[str]) -> str:
    """An FTS5 OR-query of the question's content words, each quoted (no FTS syntax gets through)."""
    words = content_words(question) if isinstance(question, str) else question
    return " OR ".join(f'"{word}"' for word in words)


class KeywordIndex(HashedRows, HitsSearch):
    """Passages ranked by BM25 (title weighted above body); thread-safe, and safe with several
    writing processes (a Chroma server shared by ingests on one machine)."""

    def __init__(self, path: Path | str, title_weight: float = 1.0, max_df: float = 1.0,
                 prune_from: int = PRUNE_FROM) -> None:
        """`max_df`: in an index of at least `prune_from` passages, words of the question found in more than
        this share of them are left out of the query (the rarest word always stays); 1 keeps every word."""
        super().__init__(path, _SCHEMA)
        self.max_df = max_df
        self.prune_from = prune_from
        self._counted = (0, float("-inf"))
        with self._writer.batch(), self._writer.write() as connection:  # a file written before article_rows: once
            if not connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'article_rows'").fetchone():
                for statement in _ROWS_SCHEMA.split(";"):
                    if statement.strip():
                        connection.execute(statement)
        self.title_weight = title_weight
        if max_df < 1:
            self._connection.executescript(_QUERY_SCHEMA)

    def _pruned(self, words: list[str]) -> list[str]:
        """The words in at most `max_df` of the passages (BM25 gives the others little weight, and their long
        lists of passages are most of a query's cost); the rarest at least. Caller holds the lock."""
        connection = self._connection
        connection.execute("DELETE FROM temp.question")
        connection.executemany("INSERT INTO temp.question (rowid, word) VALUES (?, ?)",
                               [(number, word) for number, word in enumerate(words, 1)])
        terms = dict(connection.execute("SELECT doc, min(term) FROM temp.question_terms GROUP BY doc"))
        frequency = {}
        for number, word in enumerate(words, 1):
            found = connection.execute("SELECT doc FROM temp.vocabulary WHERE term = ?",
                                       (terms.get(number, ""),)).fetchone()
            frequency[word] = found[0] if found else 0
        if time.monotonic() - self._counted[1] > 30:  # the number of passages, read again every 30 s
            self._counted = (connection.execute("SELECT count(*) FROM article_rows").fetchone()[0], time.monotonic())
        return kept_words(words, frequency, self._counted[0], self.max_df, self.prune_from)

    def replace_article(self, article_id: str, content_hash: str,
                        rows: Sequence[KeywordRow]) -> None:
        """Replace an article's rows: (chunk_id, title, body, source, day) each."""
        with self._writer.write() as connection:
            self._delete_rows(connection, article_id)
            for chunk_id, title, body, source, day in rows:
                row = connection.execute(
                    "INSERT INTO passages (chunk_id, article_id, title, body, source, day) VALUES (?, ?, ?, ?, ?, ?)",
                    (chunk_id, article_id, title, body, source, day)).lastrowid
                connection.execute("INSERT INTO article_rows (row, article_id) VALUES (?, ?)", (row, article_id))
            connection.execute("INSERT OR REPLACE INTO articles VALUES (?, ?)", (article_id, content_hash))

    def delete_article(self, article_id: str) -> None:
        with self._writer.write() as connection:
            self._delete_rows(connection, article_id)
            connection.execute("DELETE FROM articles WHERE article_id = ?", (article_id,))

    @staticmethod
    def _delete_rows(connection: sqlite3.Connection, article_id: str) -> None:
        connection.execute("DELETE FROM passages WHERE rowid IN (SELECT row FROM article_rows WHERE article_id = ?)",
                           (article_id,))
        connection.execute("DELETE FROM article_rows WHERE article_id = ?", (article_id,))

    def hits(self, question: str, k: int, filters: Filters | None = None) -> list[tuple[str, str, float]]:
        """As `search`, with each passage's article: (chunk_id, article_id, BM25 score)."""
        words = content_words(question)
        if not words or k < 1:
            return []
        if self.max_df < 1 and len(words) > 1:
            with self._lock:
                words = self._pruned(words)
        query = match_query(words)
        sql = "SELECT chunk_id, article_id, bm25(passages, ?, 1.0) AS rank FROM passages WHERE passages MATCH ?"
        params: list[object] = [self.title_weight, query]
        filters = filters or Filters()
        if filters.source:
            sql += f" AND source IN ({','.join('?' * len(filters.source))})"
            params += list(filters.source)
        if filters.article_ids:
            sql += f" AND article_id IN ({','.join('?' * len(filters.article_ids))})"
            params += list(filters.article_ids)
        days = day_range(filters)
        if days is not None:
            sql += " AND day BETWEEN ? AND ?"
            params += list(days)
        sql += " ORDER BY rank LIMIT ?"
        params.append(k)
        with self._lock:
            return [(chunk_id, article_id, -rank) for chunk_id, article_id, rank in self._connection.execute(sql, params)]
