"""Locks shared by the processes of one machine: an exclusive `flock` on a file in DATA_DIR.

Used for: starting the local Chroma server once (assistant/store/server.py), the store's
write lock (an article's writes and a delete never interleave), and the exclusive hold of an
embedded Chroma directory (CHROMA_MODE=embedded). The operating system releases a lock when
its process dies, even by SIGKILL, so a crashed process never leaves the store locked.
A lock is re-entrant within a process (threads queue on an inner lock), so nested users are safe.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class LockBusy(RuntimeError):
    """The lock is held by another process (and the caller chose not to wait)."""


class FileLock:
    """An exclusive lock on `path`, for threads of this process and for other processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @contextmanager
    def hold(self, timeout: float | None = None) -> Iterator[None]:
        """Hold the lock; wait at most `timeout` seconds (None: as long as it takes), else LockBusy."""
        if not self._thread_lock.acquire(timeout=-1 if timeout is None else timeout):
            raise LockBusy(f"{self.path} is held by another thread")
        try:
            if self._depth == 0:
                self._acquire(timeout)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._release()
        finally:
            self._thread_lock.release()

    def claim(self) -> None:
        """Hold the lock for the rest of this process, or raise LockBusy at once (no context to leave
        open: the operating system releases it when the process ends)."""
        with self._thread_lock:
            if self._depth == 0:
                self._acquire(0)
            self._depth += 1

    def _acquire(self, timeout: float | None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (fcntl.LOCK_NB if deadline is not None else 0))
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockBusy(f"{self.path} is held by {holder(self.path) or 'another process'}") from None
                time.sleep(0.02)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}".encode())
        self._fd = fd

    def _release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def holder(path: Path) -> str:
    """Who holds (or last held) the lock, as it wrote itself into the file: "pid 1234"."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


_LOCKS: dict[Path, FileLock] = {}
_LOCKS_GUARD = threading.Lock()


def file_lock(path: Path) -> FileLock:
    """The one FileLock object of this process for `path` (flock locks are per open file, so two
    objects for one path in one process would block each other)."""
    key = path.resolve()
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, FileLock(key))
