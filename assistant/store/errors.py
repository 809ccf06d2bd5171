"""What can go wrong with the store as a whole, as one-line errors: it cannot be opened, or its disk is full."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

_FULL_TEXTS = ("database or disk is full", "no space left on device", "disk quota exceeded")


class StoreUnavailable(RuntimeError):
    """The store cannot be opened: the local Chroma server did not start, or another process holds it."""


class DiskFull(StoreUnavailable):
    """DATA_DIR's disk is full: nothing more can be stored until space is freed."""

    def __init__(self, data_dir: Path | str) -> None:
        super().__init__(f"no space left on DATA_DIR ({data_dir}): free some space, then run the same command "
                         "again; it stores what is missing and completes any article the full disk cut short")


FULL_BELOW = 1 << 20
"""Bytes: a DATA_DIR with less room than this is full (what fails then may say anything, e.g. the Chroma
server's "Error in compaction")."""


def no_room(data_dir: Path) -> bool:
    try:
        return shutil.disk_usage(data_dir).free < FULL_BELOW
    except OSError:
        return False


def is_disk_full(error: BaseException) -> bool:
    """Whether `error` (from the Chroma server, SQLite or the file system), or what caused it, is a full disk."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DiskFull):
            return True
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(
                text in str(current).lower() for text in _FULL_TEXTS):
            return True
        current = current.__cause__ or current.__context__
    return False
