"""BM25 keyword search over passages with bm25s, for bench/keywords.py's comparison only (it was not kept as a
KEYWORD_ENGINE: any write makes the next query rebuild the whole index, 64 s at 300,000 passages): every passage's BM25 score of every
word precomputed in a sparse matrix, so a query is a sum of a few matrix columns, in a folder beside the store.

bm25s has no incremental update: the rows live in `rows.sqlite3` (with each article's content hash, for the
index sync, and a generation number every write raises), and the matrices (title and body, one vocabulary;
stopwords left out; Snowball English stems) are rebuilt from all rows on the first query after any write,
by whichever process asks first, and kept as `matrix-<generation>/` for the other processes to load
(memory-mapped). An update therefore costs a SQLite write, and then the next query pays a rebuild of the
whole index (the build time of bench/keywords.py): fine for an archive that changes in bulk now and then,
not for one that ingests while it is asked.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.filters import Filters
from assistant.nlp.text import STOPWORDS
from assistant.store.keyword_common import PRUNE_FROM, HitsSearch, KeywordRow, content_words, day_range, folded_words, kept_words
from assistant.store.sqlite import Writer, connect, selected_hashes

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (row INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL, article_id TEXT NOT NULL,
    title TEXT NOT NULL, body TEXT NOT NULL, source TEXT NOT NULL, day INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS rows_by_article ON rows (article_id);
CREATE TABLE IF NOT EXISTS articles (article_id TEXT PRIMARY KEY, content_hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO state VALUES ('generation', 0);
"""
_MATRIX = "matrix-"


@dataclass
class _Matrix:
    """One generation of the index: both fields' BM25 matrices and what each row is."""

    generation: int
    title: Any
    body: Any
    vocabulary: dict[str, int]
    chunk_ids: list[str]
    article_ids: list[str]
    article_codes: np.ndarray
    sources: list[str]
    source_codes: np.ndarray
    days: np.ndarray

    @property
    def size(self) -> int:
        return len(self.chunk_ids)


class _Analyzer:
    """A text's stemmed content words as vocabulary ids (a word's stem is looked up once)."""

    def __init__(self, vocabulary: dict[str, int]) -> None:
        import Stemmer

        self.vocabulary = vocabulary
        self._stemmer = Stemmer.Stemmer("english")
        self._ids: dict[str, int | None] = {}

    def stem(self, word: str) -> str | None:
        return None if word in STOPWORDS else str(self._stemmer.stemWord(word))

    def ids(self, text: str) -> list[int]:
        found = []
        for word in folded_words(text):
            term = self._ids.get(word, -1)
            if term == -1:
                stem = self.stem(word)
                term = None if stem is None else self.vocabulary.setdefault(stem, len(self.vocabulary))
                self._ids[word] = term
            if term is not None:
                found.append(term)
        return found


class Bm25sKeywordIndex(HitsSearch):
    """Passages ranked by BM25 (title weighted above body); thread-safe, and safe with several processes
    writing in turn. `path`: the index folder, or ":memory:" (tests; nothing persisted)."""

    def __init__(self, path: Path | str, title_weight: float = 1.0, max_df: float = 1.0,
                 prune_from: int = PRUNE_FROM) -> None:
        """`max_df`: in an index of at least `prune_from` passages, words of the question found in more than
        this share of them are left out of the query (the rarest word always stays); 1 keeps every word."""
        import bm25s  # noqa: F401  (missing: the factory names the package)

        self._folder = None if str(path) == ":memory:" else Path(path)
        if self._folder is not None:
            self._folder.mkdir(parents=True, exist_ok=True)
        self._connection = connect(self._folder / "rows.sqlite3" if self._folder else ":memory:", _SCHEMA)
        self._writer = Writer(self._connection)
        self._lock = self._writer.lock
        self._loading = threading.Lock()
        self._matrix: _Matrix | None = None
        self.title_weight = title_weight
        self.max_df = max_df
        self.prune_from = prune_from

    # Writes: rows only; the matrices follow on the next query.

    @contextmanager
    def batch(self) -> Iterator[None]:
        """The writes inside (replace_article, delete_article) go in one transaction."""
        with self._writer.batch():
            yield

    def replace_article(self, article_id: str, content_hash: str, rows: Sequence[KeywordRow]) -> None:
        """Replace an article's rows: (chunk_id, title, body, source, day) each."""
        with self._writer.write() as connection:
            connection.execute("DELETE FROM rows WHERE article_id = ?", (article_id,))
            connection.executemany("INSERT INTO rows (chunk_id, article_id, title, body, source, day) "
                                   "VALUES (?, ?, ?, ?, ?, ?)",
                                   [(chunk_id, article_id, title, body, source, int(day))
                                    for chunk_id, title, body, source, day in rows])
            connection.execute("INSERT OR REPLACE INTO articles VALUES (?, ?)", (article_id, content_hash))
            connection.execute("UPDATE state SET value = value + 1 WHERE key = 'generation'")

    def delete_article(self, article_id: str) -> None:
        with self._writer.write() as connection:
            connection.execute("DELETE FROM rows WHERE article_id = ?", (article_id,))
            connection.execute("DELETE FROM articles WHERE article_id = ?", (article_id,))
            connection.execute("UPDATE state SET value = value + 1 WHERE key = 'generation'")

    def hashes(self, article_ids: Collection[str] | None = None) -> dict[str, str]:
        """Content hash of every article the index holds (of these articles only, when given)."""
        with self._lock:
            return selected_hashes(self._connection, "articles", article_ids)

    def count(self) -> int:
        with self._lock:
            return int(self._connection.execute("SELECT count(*) FROM rows").fetchone()[0])

    # The matrices: loaded or rebuilt when the rows changed.

    def _generation(self) -> int:
        with self._lock:
            return int(self._connection.execute("SELECT value FROM state WHERE key = 'generation'").fetchone()[0])

    def _current(self) -> _Matrix | None:
        """The matrices of the rows as they are now (None for no rows): kept, loaded, or rebuilt."""
        with self._loading:
            generation = self._generation()
            if self._matrix is not None and self._matrix.generation == generation:
                return self._matrix
            saved = self._folder / f"{_MATRIX}{generation}" if self._folder else None
            matrix = None
            if saved is not None and saved.is_dir():
                try:
                    matrix = _load(saved, generation)
                except (OSError, ValueError):  # removed by a process that built a newer one meanwhile
                    logger.info("%s could not be loaded; rebuilding", saved)
            if matrix is None:
                matrix = self._build()
            self._matrix = matrix
            return matrix

    def _build(self) -> _Matrix | None:
        """Index every row (in one read transaction: rows and generation agree) and save the result."""
        with self._lock:
            self._connection.execute("BEGIN")
            try:
                generation = int(self._connection.execute(
                    "SELECT value FROM state WHERE key = 'generation'").fetchone()[0])
                rows = self._connection.execute(
                    "SELECT chunk_id, article_id, title, body, source, day FROM rows ORDER BY row").fetchall()
            finally:
                self._connection.execute("COMMIT")
        matrix = _index(rows, generation)
        if matrix is not None and self._folder is not None:
            _save(matrix, self._folder)
        return matrix

    # Search.

    def hits(self, question: str, k: int, filters: Filters | None = None) -> list[tuple[str, str, float]]:
        """As `search`, with each passage's article: (chunk_id, article_id, BM25 score)."""
        words = content_words(question)
        if not words or k < 1:
            return []
        matrix = self._current()
        if matrix is None:
            return []
        analyzer = _Analyzer(matrix.vocabulary)
        stems = list(dict.fromkeys(stem for stem in map(analyzer.stem, words) if stem in matrix.vocabulary))
        if not stems:
            return []
        indptr = matrix.body.scores["indptr"]
        frequency = {stem: int(indptr[matrix.vocabulary[stem] + 1] - indptr[matrix.vocabulary[stem]])
                     for stem in stems}  # passages whose body holds it
        stems = kept_words(stems, frequency, matrix.size, self.max_df, self.prune_from)
        ids = [matrix.vocabulary[stem] for stem in stems]
        body = matrix.body.get_scores_from_ids(ids)
        title = matrix.title.get_scores_from_ids(ids)
        matched = (body > 0) | (title > 0)  # a title match counts even with KEYWORD_TITLE_WEIGHT=0, as in FTS5
        scores = body + self.title_weight * title
        mask = _admitted(matrix, filters or Filters())
        if mask is not None:
            matched &= mask
        found = np.flatnonzero(matched)
        if len(found) > k:
            found = found[np.argpartition(-scores[found], k - 1)[:k]]
        found = found[np.argsort(-scores[found], kind="stable")]
        return [(matrix.chunk_ids[row], matrix.article_ids[matrix.article_codes[row]], float(scores[row]))
                for row in found]


def _admitted(matrix: _Matrix, filters: Filters) -> np.ndarray | None:
    """The rows the filters admit (None: all of them)."""
    masks = []
    if filters.source:
        codes = [code for code, source in enumerate(matrix.sources) if source in set(filters.source)]
        masks.append(np.isin(matrix.source_codes, codes))
    if filters.article_ids:
        wanted = set(filters.article_ids)
        masks.append(np.isin(matrix.article_codes, [code for code, article_id in enumerate(matrix.article_ids)
                                                    if article_id in wanted]))
    days = day_range(filters)
    if days is not None:
        masks.append((matrix.days >= days[0]) & (matrix.days <= days[1]))
    if not masks:
        return None
    return np.logical_and.reduce(masks)


def _index(rows: list[tuple[str, str, str, str, str, int]], generation: int) -> _Matrix | None:
    import bm25s

    if not rows:
        return None
    vocabulary: dict[str, int] = {}
    analyzer = _Analyzer(vocabulary)
    titles: dict[str, list[int]] = {}
    title_ids, body_ids = [], []
    article_codes: dict[str, int] = {}
    source_codes: dict[str, int] = {}
    for _, article_id, title, body, source, _ in rows:
        if title not in titles:
            titles[title] = analyzer.ids(title)
        title_ids.append(titles[title])
        body_ids.append(analyzer.ids(body))
        article_codes.setdefault(article_id, len(article_codes))
        source_codes.setdefault(source, len(source_codes))
    fields = []
    for ids in (title_ids, body_ids):
        retriever = bm25s.BM25()
        retriever.index((ids, vocabulary), create_empty_token=False, show_progress=False)
        fields.append(retriever)
    return _Matrix(generation, fields[0], fields[1], vocabulary, [row[0] for row in rows], list(article_codes),
                   np.array([article_codes[row[1]] for row in rows], dtype=np.int32), list(source_codes),
                   np.array([source_codes[row[4]] for row in rows], dtype=np.int32),
                   np.array([row[5] for row in rows], dtype=np.int64))


def _save(matrix: _Matrix, folder: Path) -> None:
    """Written to a private folder, then renamed to `matrix-<generation>`; older generations removed."""
    target = folder / f"{_MATRIX}{matrix.generation}"
    building = folder / f".building-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    building.mkdir()
    matrix.title.save(str(building / "title"), show_progress=False)
    matrix.body.save(str(building / "body"), show_progress=False)
    (building / "rows.json").write_text(json.dumps({"chunk_ids": matrix.chunk_ids, "article_ids": matrix.article_ids,
                                                    "sources": matrix.sources}), encoding="utf-8")
    np.save(building / "article_codes.npy", matrix.article_codes)
    np.save(building / "source_codes.npy", matrix.source_codes)
    np.save(building / "days.npy", matrix.days)
    try:
        os.rename(building, target)
    except OSError:  # another process saved this generation first
        shutil.rmtree(building, ignore_errors=True)
    for old in folder.glob(f"{_MATRIX}*"):
        if old != target and old.name[len(_MATRIX):].isdigit() and int(old.name[len(_MATRIX):]) < matrix.generation:
            shutil.rmtree(old, ignore_errors=True)


def _load(folder: Path, generation: int) -> _Matrix:
    import bm25s

    title = bm25s.BM25.load(str(folder / "title"), mmap=True, show_progress=False)
    body = bm25s.BM25.load(str(folder / "body"), mmap=True, show_progress=False)
    rows = json.loads((folder / "rows.json").read_text(encoding="utf-8"))
    return _Matrix(generation, title, body, body.vocab_dict, rows["chunk_ids"], rows["article_ids"],
                   np.load(folder / "article_codes.npy", mmap_mode="r"), rows["sources"],
                   np.load(folder / "source_codes.npy", mmap_mode="r"), np.load(folder / "days.npy", mmap_mode="r"))
