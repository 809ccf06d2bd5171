"""SQLite files beside the store (keyword index, signatures), shared by threads and processes.

WAL lets readers go on while one writer writes; every write transaction takes the write lock
up front (BEGIN IMMEDIATE) and waits up to BUSY_TIMEOUT seconds for another process to finish,
so two ingests at once queue instead of failing with "database is locked".
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

BUSY_TIMEOUT = 60.0


def connect(path: Path | str, schema: str) -> sqlite3.Connection:
    """A connection usable from any thread (callers serialise its use), with the schema created."""
    if isinstance(path, Path):
        path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT)
    connection.execute("PRAGMA journal_mode=WAL")
    with write_transaction(connection):
        for statement in schema.split(";"):
            if statement.strip():
                connection.execute(statement)
    return connection


@contextmanager
def write_transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One transaction holding the write lock from its start; rolled back on any error."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def selected_hashes(connection: sqlite3.Connection, table: str, article_ids: Collection[str] | None) -> dict[str, str]:
    """{article_id: content_hash} of a table's rows: all, or those of the given articles."""
    sql = f"SELECT article_id, content_hash FROM {table}"
    if article_ids is None:
        return dict(connection.execute(sql))
    found: dict[str, str] = {}
    ids = list(article_ids)
    for start in range(0, len(ids), 500):  # SQLite limits the number of parameters
        batch = ids[start:start + 500]
        found.update(connection.execute(f"{sql} WHERE article_id IN ({','.join('?' * len(batch))})", batch))
    return found


class Writer:
    """One connection's writes, one thread at a time; inside `batch()` they share one transaction (one
    commit), else each write is a transaction of its own."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self.lock = threading.RLock()
        self._batch = 0

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Every write inside goes in one transaction: committed at the end, rolled back on any error."""
        with self.lock:
            if self._batch:
                self._batch += 1
                try:
                    yield
                finally:
                    self._batch -= 1
                return
            with write_transaction(self.connection):
                self._batch = 1
                try:
                    yield
                finally:
                    self._batch = 0

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write: in the open batch's transaction, else in one of its own."""
        with self.lock:
            if self._batch:
                yield self.connection
            else:
                with write_transaction(self.connection) as connection:
                    yield connection


class HashedRows:
    """A SQLite file of rows derived from each article's passages, with an `articles` table naming the content
    hash each article's rows were built from (the keyword index, the passage cache): its connection, writer,
    batches, hashes and row count. `ROWS`: the table whose rows `count` counts."""

    ROWS = "passages"

    def __init__(self, path: Path | str, schema: str) -> None:
        self._connection = connect(path, schema)
        self._writer = Writer(self._connection)
        self._lock = self._writer.lock

    @contextmanager
    def batch(self) -> Iterator[None]:
        """The writes inside (replace_article, delete_article) go in one transaction."""
        with self._writer.batch():
            yield

    def hashes(self, article_ids: Collection[str] | None = None) -> dict[str, str]:
        """Content hash of every article held (of these articles only, when given)."""
        with self._lock:
            return selected_hashes(self._connection, "articles", article_ids)

    def count(self) -> int:
        with self._lock:
            return int(self._connection.execute(f"SELECT count(*) FROM {self.ROWS}").fetchone()[0])
