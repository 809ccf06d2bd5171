"""BM25 keyword search over passages with tantivy (KEYWORD_ENGINE=tantivy): a Rust inverted index whose top-k
search skips the passages that cannot make the first k (block-max WAND), in a folder beside the store.

The folder holds `index/` (tantivy: title and body stemmed and accent-folded, scored as one text, as FTS5's
bm25 scores a row: scored per field, a title's few words made title matches outrank the body's, and dev
recall@1 fell from 0.75 to 0.68; a KEYWORD_TITLE_WEIGHT above 1 adds a title-only field's score weighted by
the excess, one below 1 counts as 1; chunk_id and article_id stored; article_id, source and day indexed for
deletes and filters) and `articles.sqlite3` (each article's content hash, for the index sync).

Writes: tantivy lets one IndexWriter at a time work on a folder (a lock file, in this process or another), so
a writer is opened for each write (or `batch()`), committed and dropped: processes that write in turn (each
under the store's write lock) all get it, and one that waits for another's writer retries for up to
BUSY_TIMEOUT. A tantivy commit is atomic (its meta.json is replaced in one rename), but the hashes live in
SQLite: an article's hash is blanked before the commit that changes its rows and set after it, so a crash in
between leaves a blank hash, which the index sync rebuilds (or deletes), never a hash its rows do not carry.

Reads: every query compares meta.json's identity with the one last seen (one stat call) and reloads the
searcher when another process (or this one) committed since, and at least every second.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from assistant.filters import Filters
from assistant.store.keyword_common import PRUNE_FROM, HitsSearch, KeywordRow, content_words, day_range, kept_words
from assistant.store.sqlite import BUSY_TIMEOUT, connect, selected_hashes, write_transaction

logger = logging.getLogger(__name__)

_SCHEMA = "CREATE TABLE IF NOT EXISTS articles (article_id TEXT PRIMARY KEY, content_hash TEXT NOT NULL);"
_ANALYZER = "newsdesk_en"
_WRITER_HEAP = 64_000_000
"""Bytes the writer buffers before it writes a segment of its own (tantivy's least is 15 MB per thread)."""
_RELOAD_EVERY = 1.0
"""Seconds after which a searcher is reloaded even when meta.json looks the same (two commits within the file
system's timestamp granularity, the same size, a reused inode number)."""
_CHANGING = ""
"""The hash of an article whose rows a commit is changing (a crash leaves it: the index sync repairs it)."""


def _analyzer(tantivy: Any) -> Any:
    """Words as FTS5's `porter unicode61 remove_diacritics 2` sees them: split on non-alphanumerics, lower
    case, accents folded, Snowball English stems."""
    return (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple()).filter(tantivy.Filter.remove_long(60))
            .filter(tantivy.Filter.lowercase()).filter(tantivy.Filter.ascii_fold())
            .filter(tantivy.Filter.stemmer("english")).build())


def _schema(tantivy: Any) -> Any:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("text", tokenizer_name=_ANALYZER, index_option="freq")  # title and body: scored
    builder.add_text_field("title", tokenizer_name=_ANALYZER, index_option="freq")  # KEYWORD_TITLE_WEIGHT's extra
    builder.add_text_field("chunk_id", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("article_id", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("source", fast=True, tokenizer_name="raw", index_option="basic")
    builder.add_integer_field("day", indexed=True, fast=True)
    return builder.build()


class TantivyKeywordIndex(HitsSearch):
    """Passages ranked by BM25 (title weighted above body); thread-safe, and safe with several processes
    writing in turn. `path`: the index folder, or ":memory:" (tests)."""

    def __init__(self, path: Path | str, title_weight: float = 1.0, max_df: float = 1.0,
                 prune_from: int = PRUNE_FROM) -> None:
        """`max_df`: in an index of at least `prune_from` passages, words of the question found in more than
        this share of them are left out of the query (the rarest word always stays); 1 keeps every word."""
        import tantivy

        self._tantivy = tantivy
        self._schema = _schema(tantivy)
        if str(path) == ":memory:":
            self._index = tantivy.Index(self._schema)
            self._meta: Path | None = None
            hashes_path: Path | str = ":memory:"
        else:
            folder = Path(path) / "index"
            folder.mkdir(parents=True, exist_ok=True)
            self._index = tantivy.Index(self._schema, path=str(folder), reuse=True)
            self._meta = folder / "meta.json"
            hashes_path = Path(path) / "articles.sqlite3"
        self._analyzer = _analyzer(tantivy)
        self._index.register_tokenizer(_ANALYZER, self._analyzer)
        self._index.config_reader(reload_policy="Manual")
        self._connection = connect(hashes_path, _SCHEMA)
        self.title_weight = title_weight
        self.max_df = max_df
        self.prune_from = prune_from
        self._lock = threading.RLock()
        self._seen: tuple[int, int, int] | None = None
        self._reloaded = float("-inf")
        self._writer: Any = None
        self._changes: dict[str, str | None] = {}  # the open batch's articles: new hash, None when deleted
        self._depth = 0

    # Writes.

    @contextmanager
    def batch(self) -> Iterator[None]:
        """The writes inside (replace_article, delete_article) go in one commit; none of them on any error."""
        with self._lock:
            self._depth += 1
            try:
                if self._depth > 1:
                    yield
                    return
                try:
                    yield
                    if self._writer is not None:
                        self._commit()
                finally:
                    self._drop_writer()
            finally:
                self._depth -= 1

    def _open_writer(self) -> Any:
        """This folder's IndexWriter, waiting up to BUSY_TIMEOUT for another one (another process's) to go."""
        if self._writer is None:
            deadline = time.monotonic() + BUSY_TIMEOUT
            while True:
                try:
                    self._writer = self._index.writer(heap_size=_WRITER_HEAP, num_threads=1)
                    break
                except ValueError as error:
                    if "LockBusy" not in str(error) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
        return self._writer

    def _commit(self) -> None:
        changes = dict(self._changes)
        with write_transaction(self._connection) as connection:  # blanked first: a crash leaves them to repair
            connection.executemany("INSERT OR REPLACE INTO articles VALUES (?, ?)",
                                   [(article_id, _CHANGING) for article_id in changes])
        self._writer.commit()
        with write_transaction(self._connection) as connection:
            connection.executemany("INSERT OR REPLACE INTO articles VALUES (?, ?)",
                                   [(article_id, digest) for article_id, digest in changes.items() if digest is not None])
            connection.executemany("DELETE FROM articles WHERE article_id = ?",
                                   [(article_id,) for article_id, digest in changes.items() if digest is None])
        self._writer.wait_merging_threads()  # finishes merges and drops the writer: its lock goes with it
        self._writer = None
        self._index.reload()

    def _drop_writer(self) -> None:
        """After a commit, or on an error: whatever was not committed is rolled back, the lock released."""
        self._changes.clear()
        if self._writer is not None:
            writer, self._writer = self._writer, None
            try:
                writer.rollback()
            finally:
                del writer

    def replace_article(self, article_id: str, content_hash: str, rows: Sequence[KeywordRow]) -> None:
        """Replace an article's rows: (chunk_id, title, body, source, day) each."""
        with self.batch():
            writer = self._open_writer()
            writer.delete_documents_by_term("article_id", article_id)
            for chunk_id, title, body, source, day in rows:
                document = self._tantivy.Document()
                document.add_text("chunk_id", chunk_id)
                document.add_text("article_id", article_id)
                document.add_text("text", f"{title}\n{body}")
                document.add_text("title", title)
                document.add_text("source", source)
                document.add_integer("day", int(day))
                writer.add_document(document)
            self._changes[article_id] = content_hash

    def delete_article(self, article_id: str) -> None:
        with self.batch():
            self._open_writer().delete_documents_by_term("article_id", article_id)
            self._changes[article_id] = None

    # Reads.

    def _searcher(self) -> Any:
        """A searcher of the newest commit: reloaded when meta.json changed (another process committed)."""
        with self._lock:
            if self._meta is not None:
                try:
                    stat = os.stat(self._meta)
                    seen: tuple[int, int, int] | None = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
                except FileNotFoundError:
                    seen = None
                if seen != self._seen or time.monotonic() - self._reloaded > _RELOAD_EVERY:
                    self._index.reload()
                    self._seen, self._reloaded = seen, time.monotonic()
            return self._index.searcher()

    def hashes(self, article_ids: Collection[str] | None = None) -> dict[str, str]:
        """Content hash of every article the index holds (of these articles only, when given); a blank one
        for an article a crashed write left half-done."""
        with self._lock:
            return selected_hashes(self._connection, "articles", article_ids)

    def count(self) -> int:
        return int(self._searcher().num_docs)

    def terms(self, question: str) -> list[str]:
        """The question's content words as the index holds them (stemmed, folded), each once."""
        words = content_words(question)
        return list(dict.fromkeys(self._analyzer.analyze(" ".join(words)))) if words else []

    def hits(self, question: str, k: int, filters: Filters | None = None) -> list[tuple[str, str, float]]:
        """As `search`, with each passage's article: (chunk_id, article_id, BM25 score)."""
        terms = self.terms(question)
        if not terms or k < 1:
            return []
        searcher = self._searcher()
        if self.max_df < 1 and len(terms) > 1:
            frequency = {term: searcher.doc_freq("text", term) for term in terms}
            terms = kept_words(terms, frequency, searcher.num_docs, self.max_df, self.prune_from)
        query = self._query(terms, filters or Filters())
        found = searcher.search(query, limit=k, count=False).hits
        hits = []
        for score, address in found:
            document = searcher.doc(address)
            hits.append((str(document.get_first("chunk_id")), str(document.get_first("article_id")), float(score)))
        return hits

    def _query(self, terms: list[str], filters: Filters) -> Any:
        tantivy, schema = self._tantivy, self._schema
        query_type, should, must = tantivy.Query, tantivy.Occur.Should, tantivy.Occur.Must
        words: list[tuple[Any, Any]] = [(should, query_type.term_query(schema, "text", term, index_option="freq"))
                                        for term in terms]
        if self.title_weight > 1:  # the title's words count this much more than the body's
            words += [(should, query_type.boost_query(query_type.term_query(schema, "title", term, index_option="freq"),
                                                      self.title_weight - 1)) for term in terms]
        text = query_type.boolean_query(words)
        conditions = []
        if filters.source:
            conditions.append(query_type.term_set_query(schema, "source", list(filters.source)))
        if filters.article_ids:
            conditions.append(query_type.term_set_query(schema, "article_id", list(filters.article_ids)))
        days = day_range(filters)
        if days is not None:
            conditions.append(query_type.range_query(schema, "day", tantivy.FieldType.Integer, *days))
        if not conditions:
            return text
        return query_type.boolean_query([(must, text), *((must, query_type.const_score_query(condition, 0.0))
                                                         for condition in conditions)])
