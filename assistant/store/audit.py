"""The audit log: who changed the library, when, and what, one JSON line a change in DATA_DIR.

Every write goes through the store (assistant/store/chunk_store.py, assistant/store/trash.py), which appends a line
here: articles added or updated (by the signed-in user, `cli` or `feed:URL`), deleted, moved to
the trash, restored, purged. Appends from several processes are serialised by a file lock.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from assistant.infra.locks import file_lock

DELETE_ACTIONS = ("deleted", "moved to the trash (deleted)", "purged from the trash")
"""Audit actions that mean an editor removed the article (a replaced version is moved to the trash with
another reason, and its article stays stored)."""


@dataclass(frozen=True)
class AuditEntry:
    at: str
    """UTC time, ISO 8601, seconds."""
    who: str
    action: str
    article_id: str
    title: str
    detail: str = ""


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


class AuditLog:
    """Append-only JSON Lines file; readable by anyone who may read DATA_DIR."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, who: str, action: str, article_id: str, title: str, detail: str = "") -> AuditEntry:
        entry = AuditEntry(now_iso(), who, action, article_id, title, detail)
        line = json.dumps(asdict(entry), ensure_ascii=False) + "\n"
        with file_lock(self.path.with_name(self.path.name + ".lock")).hold():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as log:
                log.write(line)
                log.flush()
                os.fsync(log.fileno())
        return entry

    def deleted(self, article_ids: AbstractSet[str]) -> set[str]:
        """Of these article ids, those the log records as deleted (into the trash or for good) or purged."""
        if not article_ids or not self.path.exists():
            return set()
        found: set[str] = set()
        with open(self.path, encoding="utf-8") as log:
            for line in log:
                try:
                    entry = json.loads(line)
                    article_id, action = entry["article_id"], entry["action"]
                except (ValueError, TypeError, KeyError):
                    continue
                if article_id in article_ids and action in DELETE_ACTIONS:
                    found.add(article_id)
        return found

    def entries(self, limit: int = 500) -> list[AuditEntry]:
        """The newest `limit` entries, newest first (a damaged line is skipped)."""
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8") as log:
            lines = deque(log, maxlen=limit)
        entries = []
        for line in reversed(lines):
            try:
                entries.append(AuditEntry(**json.loads(line)))
            except (ValueError, TypeError):
                continue
        return entries
