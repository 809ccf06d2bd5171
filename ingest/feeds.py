"""RSS/Atom feeds: poll a feed, turn its new or changed entries into Articles, remember what is stored.

A poll asks for the feed with its last ETag/Last-Modified (304: nothing to do). Each entry is known
by its link; its fingerprint (the feed's dates, title, summary and content for it) is recorded once its
article is stored, so an entry the feed shows unchanged is skipped without fetching its page. The
state is a JSON file in DATA_DIR, replaced atomically. The feed's validators are kept only when every
entry is stored, so an entry that failed is retried by the next poll.

Deletes stick: an entry whose stored article is gone because an editor deleted it (the trash or the audit
log says so) is marked deleted in the state and never fetched again, unless the feed shows it changed
since (its fingerprint is no longer the deleted version's) and the poll was asked to restore deleted
entries (`python -m ingest --feed URL --restore-deleted`). An entry whose article is gone without a delete
(a new, empty store) is fetched again.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import date
from itertools import chain
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import feedparser

from assistant.config import Settings
from assistant.types import Article
from ingest.fetch import Fetcher, FetchError
from ingest.html import ExtractionError, extract
from ingest.loaders import LoadError, describe, page_article
from ingest.web import load_url

logger = logging.getLogger(__name__)

DEFAULT_MAX_ENTRIES = Settings.model_fields["max_feed_entries"].default
StoredIds = Callable[[], AbstractSet[str]]
"""Returns the ids of the articles in the store (called only when needed)."""
DeletedIds = Callable[[AbstractSet[str]], AbstractSet[str]]
"""Of these article ids (not stored), those an editor deleted (called only when needed)."""


@dataclass(frozen=True)
class _Entry:
    key: str
    link: str
    fingerprint: str
    title: str
    author: str
    published: date | None
    content: str
    """HTML the feed carries for the entry (may be a teaser; the page is fetched when it is no article)."""


@dataclass
class FeedRound:
    """One poll of one feed; the counts grow while `FeedReader.items` is consumed."""

    url: str
    title: str = ""
    error: bool = False
    not_modified: bool = False
    entries: int = 0
    unchanged: int = 0
    fetched: int = 0
    from_feed: int = 0
    skipped: int = 0
    """Entries past MAX_FEED_ENTRIES, not read in this poll."""
    cap: int = 0
    deleted: int = 0
    """Entries whose article an editor deleted: not fetched again."""
    restored: int = 0
    """Deleted entries changed upstream and fetched again (restore_deleted)."""
    etag: str | None = None
    last_modified: str | None = None
    pending: list[_Entry] = field(default_factory=list)
    recorded: dict[str, dict[str, str]] = field(default_factory=dict)
    """Entry key -> {"id": article id, "seen": fingerprint} for the entries skipped or loaded."""

    def summary(self) -> str:
        name = f"feed {self.title} ({self.url})" if self.title else f"feed {self.url}"
        if self.error:
            return f"{name}: failed"
        if self.not_modified:
            return f"{name}: not modified"
        return (f"{name}: {self.entries} entries, {self.unchanged} unchanged, {self.fetched} pages fetched, "
                f"{self.from_feed} from feed content"
                + (f", {self.deleted} deleted here, not fetched again" if self.deleted else "")
                + (f", {self.restored} deleted but changed upstream, fetched again" if self.restored else "")
                + (f", {self.skipped} more not read (MAX_FEED_ENTRIES is {self.cap})" if self.skipped else ""))


class FeedReader:
    """Polls feeds; a poll reads at most `max_entries` entries (the first ones the feed lists)."""

    def __init__(self, fetcher: Fetcher, state_path: Path, max_entries: int = DEFAULT_MAX_ENTRIES,
                 restore_deleted: bool = False) -> None:
        """`restore_deleted`: fetch again an entry whose article an editor deleted when the feed shows it
        changed since (else a deleted entry is never fetched again)."""
        self.fetcher = fetcher
        self.state_path = state_path
        self.max_entries = max_entries
        self.restore_deleted = restore_deleted
        self.state: dict[str, dict[str, Any]] = _read_state(state_path)

    @classmethod
    def from_settings(cls, settings: Settings, restore_deleted: bool = False) -> FeedReader:
        """Feed state in DATA_DIR/<COLLECTION>_feeds.json, beside the store it describes."""
        return cls(Fetcher.from_settings(settings), settings.data_dir / f"{settings.collection}_feeds.json",
                   settings.max_feed_entries, restore_deleted)

    def poll(self, url: str, stored_ids: StoredIds,
             deleted_ids: DeletedIds = lambda ids: set()) -> tuple[FeedRound, Iterator[Article | LoadError]]:
        """Fetch the feed now; the returned iterator yields its new or changed entries' articles.
        `deleted_ids` tells which of the articles the state knows but the store no longer holds were deleted."""
        result = FeedRound(url)
        try:
            return self._poll(url, stored_ids, deleted_ids, result)
        except Exception as error:  # whatever else goes wrong with this feed fails this feed only
            result.error = True
            return result, iter([LoadError(url, f"could not read the feed ({describe(error)})")])

    def _poll(self, url: str, stored_ids: StoredIds, deleted_ids: DeletedIds,
              result: FeedRound) -> tuple[FeedRound, Iterator[Article | LoadError]]:
        previous = self.state.get(url, {})
        try:
            response = self.fetcher.get(url, previous.get("etag"), previous.get("last_modified"))
        except FetchError as error:
            result.error = True
            return result, iter([LoadError(error.url, error.problem)])
        result.title = previous.get("title", "")
        if response.status == 304:
            result.not_modified = True
            return result, iter(())
        parsed = feedparser.parse(io.BytesIO(response.body), response_headers={
            "content-location": response.url, "content-type": response.content_type})
        if not parsed.version:
            result.error = True
            return result, iter([LoadError(url, f"not an RSS or Atom feed ({_xml_problem(parsed)})")])
        if parsed.bozo:
            logger.warning("%s: feed is not well-formed (%s); read what could be parsed",
                           url, _xml_problem(parsed))
        result.title = " ".join(parsed.feed.get("title", "").split()) or urlsplit(url).hostname or url
        result.etag, result.last_modified = response.etag, response.last_modified
        known: dict[str, dict[str, str]] = previous.get("entries", {})
        stored: AbstractSet[str] | None = None
        entries = parsed.entries[:self.max_entries]
        result.skipped, result.cap = len(parsed.entries) - len(entries), self.max_entries
        if result.skipped:
            logger.warning("%s: the feed lists %d entries; read the first %d (MAX_FEED_ENTRIES)",
                           url, len(parsed.entries), self.max_entries)
        broken: list[LoadError] = []
        read: list[_Entry] = []
        for number, raw in enumerate(entries, start=1):
            result.entries += 1
            try:
                read.append(_entry(raw))
            except Exception as error:  # one odd entry (a date feedparser could not make sense of, ...)
                broken.append(LoadError(f"{url} (entry {number})", f"unreadable feed entry ({describe(error)})"))
        if any(entry.key in known for entry in read):
            stored = stored_ids()
        gone = {str(known[entry.key]["id"]) for entry in read
                if entry.key in known and stored is not None and known[entry.key]["id"] not in stored}
        deleted = set(deleted_ids(gone)) if gone else set()
        for entry in read:
            seen = known.get(entry.key)
            if seen is None or stored is None:
                result.pending.append(entry)
            elif seen["id"] in stored:
                if seen["seen"] == entry.fingerprint:
                    result.unchanged += 1
                    result.recorded[entry.key] = {"id": seen["id"], "seen": seen["seen"]}
                else:
                    result.pending.append(entry)
            elif seen.get("deleted") or seen["id"] in deleted:
                # the state keeps the fingerprint of the version that was deleted, and the mark
                result.recorded[entry.key] = {"id": seen["id"], "seen": seen["seen"], "deleted": True}
                if self.restore_deleted and seen["seen"] != entry.fingerprint:
                    result.restored += 1
                    result.pending.append(entry)
                else:
                    result.deleted += 1
            else:  # stored once, gone without a delete (e.g. a new store): fetched again
                result.pending.append(entry)
        return result, chain(broken, self._items(result))

    def commit(self, result: FeedRound, stored: AbstractSet[str]) -> None:
        """Record what `result` stored (ids in `stored`) and write the state file."""
        if result.error or result.not_modified:
            return
        entries = {key: seen for key, seen in result.recorded.items() if seen["id"] in stored or seen.get("deleted")}
        complete = all(entry.key in entries and not entries[entry.key].get("deleted") for entry in result.pending)
        self.state[result.url] = {
            "title": result.title,
            "etag": result.etag if complete else None,
            "last_modified": result.last_modified if complete else None,
            "entries": entries,
        }
        _write_state(self.state_path, self.state)

    def _items(self, result: FeedRound) -> Iterator[Article | LoadError]:
        for entry in result.pending:
            where = entry.link or f"{result.url} (entry {entry.title!r})"
            try:
                article = self._article(result, entry)
            except Exception as error:  # anything one entry brings fails that entry only
                problem = error.problem if isinstance(error, FetchError) else str(error) \
                    if isinstance(error, ExtractionError) else describe(error)
                yield LoadError(where, f"{problem} (entry of feed {result.url})")
                continue
            result.recorded[entry.key] = {"id": article.id, "seen": entry.fingerprint}
            yield article

    def _article(self, result: FeedRound, entry: _Entry) -> Article:
        """The entry's full content when the feed carries an article, else its page."""
        if entry.content:
            try:
                page = extract(f"<html><body><article>{entry.content}</article></body></html>".encode(),
                               url=entry.link)
            except ExtractionError:
                if not entry.link:
                    raise
            else:
                result.from_feed += 1
                return page_article(page, origin=entry.link or f"{result.url}#{entry.key}", url=entry.link,
                                    source=result.title, title=entry.title, author=entry.author,
                                    published=entry.published)
        if not entry.link:
            raise ExtractionError("entry has no link and no article text")
        result.fetched += 1
        return load_url(self.fetcher, entry.link, source=result.title, title=entry.title, author=entry.author,
                        published=entry.published)


def _entry(raw: Any) -> _Entry:
    link = str(raw.get("link", "")).strip()
    content = raw.get("content") or []
    html = str(content[0].get("value", "")) if content else ""
    title = " ".join(str(raw.get("title", "")).split())
    parts = [str(raw.get(name, "")) for name in ("updated", "published", "summary")] + [title, html]
    fingerprint = hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:16]
    stamp = raw.get("published_parsed") or raw.get("updated_parsed")
    author = (raw.get("author_detail") or {}).get("name") or raw.get("author", "")
    return _Entry(
        key=link or str(raw.get("id", "")) or fingerprint,
        link=link,
        fingerprint=fingerprint,
        title=title,
        author=" ".join(str(author).split()),
        published=_date(stamp),
        content=html,
    )


def _date(stamp: Any) -> date | None:
    """The day of a feedparser time tuple; None when there is none or it names an impossible day."""
    try:
        return date(*stamp[:3]) if stamp else None
    except (TypeError, ValueError, OverflowError):
        return None


def _xml_problem(parsed: Any) -> str:
    error = parsed.get("bozo_exception")
    if error is None:
        return "no <rss>, <feed> or <rdf:RDF> element"
    if hasattr(error, "getLineNumber"):
        return f"not well-formed XML: {error.getMessage()} at line {error.getLineNumber()}"
    return str(error)


def _read_state(path: Path) -> dict[str, dict[str, Any]]:
    """The stored feed state; a missing or unreadable file means nothing is known yet."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        logger.warning("%s: feed state unreadable (%s); every entry is checked again", path, error)
        return {}
    return state if isinstance(state, dict) else {}


def _write_state(path: Path, state: dict[str, dict[str, Any]]) -> None:
    """Write through a temporary file and rename it, so the file is always complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(state, file, indent=1, sort_keys=True)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
