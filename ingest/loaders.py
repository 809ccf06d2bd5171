"""Read files into Articles: plain text, Markdown, JSON Lines, JSON arrays and HTML pages.

Every problem becomes a `LoadError` naming the file (and line) instead of an exception,
so one bad file or record never stops the others.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from assistant.nlp.text import is_heading
from assistant.types import Article
from ingest.fields import one_line
from ingest.html import ExtractionError, Page, extract

TEXT_SUFFIXES = {".txt", ".text"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
JSON_SUFFIXES = {".json"}
HTML_SUFFIXES = {".html", ".htm"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | MARKDOWN_SUFFIXES | JSONL_SUFFIXES | JSON_SUFFIXES | HTML_SUFFIXES

_HEADER = re.compile(r"^(source|published|date|url|author)\s*:\s*(.*)$", re.IGNORECASE)
_MARKDOWN_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_STANDFIRST_MAX_WORDS = 50
_RECORD_FIELDS = {"id", "title", "text", "url", "source", "published", "author"}
_MAX_JSON_DEPTH = 500
"""Nesting reported for a JSON file too deep to read (an article record needs 2 levels)."""
_JSON_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


@dataclass(frozen=True)
class LoadError:
    """Why one file, line or record could not be loaded."""

    where: str
    problem: str

    def __str__(self) -> str:
        """One line, whatever the file name, URL or server message holds (a tab or newline cannot forge lines)."""
        return f"{one_line(self.where)}: {one_line(self.problem)}"


class _BadRecord(ValueError):
    pass


def describe(error: BaseException) -> str:
    """An unexpected exception in one line: its type and message, at most 300 characters."""
    return " ".join(f"{type(error).__name__}: {error}".split())[:300]


def article_id(explicit: str | None, url: str, title: str, text: str) -> str:
    """Stable id: the record's own id, else one derived from its URL, else from title and text."""
    if explicit:
        return explicit.strip()
    if url:
        normalized = url.strip().rstrip("/").lower().removeprefix("https://").removeprefix("http://")
        return "url-" + hashlib.sha1(normalized.encode()).hexdigest()[:16]
    return "txt-" + hashlib.sha1(f"{title}\n{text}".encode()).hexdigest()[:16]


def parse_date(value: Any) -> date | None:
    """ISO dates and date-times ("2024-03-17", "2024-03-17T09:00:00Z"); empty means unknown."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise _BadRecord(f"invalid date {value!r} (expected YYYY-MM-DD)")
    text = value.strip()
    try:
        return date.fromisoformat(text[:10]) if len(text) >= 10 else date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        raise _BadRecord(f"invalid date {value!r} (expected YYYY-MM-DD)") from None


def iter_files(paths: Iterable[Path]) -> Iterator[Path | LoadError]:
    """Each given file, and every non-hidden file below each given folder, in a stable order."""
    for path in paths:
        try:
            if path.is_dir():
                children = sorted(path.rglob("*"))
            elif path.is_file():
                children = None
            else:
                yield LoadError(str(path), "no such file or folder")
                continue
        except OSError as error:
            yield LoadError(str(path), f"cannot read folder ({error.strerror or error})")
            continue
        if children is None:
            yield path
            continue
        for child in children:
            relative = child.relative_to(path).parts
            if child.is_file() and not any(part.startswith(".") for part in relative):
                yield child


def load_paths(paths: Iterable[Path], max_bytes: int) -> Iterator[Article | LoadError]:
    """Every article in the given files and folders, with a LoadError for each problem."""
    for path in iter_files(paths):
        if isinstance(path, LoadError):
            yield path
        else:
            yield from load_file(path, max_bytes)


def unknown_type(suffix: str) -> str:
    """The problem with a file whose suffix no loader reads."""
    return f"unknown file type {suffix or '(none)'!r}; expected one of " + ", ".join(sorted(SUPPORTED_SUFFIXES))


def load_file(path: Path, max_bytes: int) -> Iterator[Article | LoadError]:
    """The articles in one file, or the errors that prevent loading them; never raises."""
    try:
        yield from _load_file(path, max_bytes)
    except Exception as error:  # whatever else goes wrong in this file stops this file only
        yield LoadError(str(path), f"could not read the file ({describe(error)})")


def _load_file(path: Path, max_bytes: int) -> Iterator[Article | LoadError]:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        yield LoadError(str(path), unknown_type(suffix))
        return
    try:
        if suffix in HTML_SUFFIXES:
            yield page_article(extract(_read_bytes(path, max_bytes)), origin=str(path.resolve()))
            return
        text = _read_text(path, max_bytes)
    except (_BadRecord, ExtractionError) as error:
        yield LoadError(str(path), str(error))
        return
    if suffix in JSONL_SUFFIXES:
        yield from _load_jsonl(path, text)
    elif suffix in JSON_SUFFIXES:
        yield from _load_json(path, text)
    else:
        try:
            yield _parse_document(text, origin=str(path.resolve()), markdown=suffix in MARKDOWN_SUFFIXES)
        except _BadRecord as error:
            yield LoadError(str(path), str(error))


def page_article(page: Page, origin: str, url: str = "", source: str = "", title: str = "", author: str = "",
                 published: date | None = None) -> Article:
    """The Article of an extracted HTML page; fields given here (e.g. from a feed entry) win over the page's."""
    title = title or page.title
    if not title:
        raise ExtractionError("the page has no title")
    url = url or page.url
    return Article(
        id=article_id(None, url, title, page.text),
        title=title,
        text=page.text,
        source=source or page.site,
        url=url,
        published=published or page.published,
        author=author or page.author,
        origin=origin,
    )


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise _BadRecord(f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit")
        data = path.read_bytes()
    except OSError as error:
        raise _BadRecord(f"cannot read file ({error.strerror or error})") from None
    if not data.strip():
        raise _BadRecord("file is empty")
    return data


def _read_text(path: Path, max_bytes: int) -> str:
    data = _read_bytes(path, max_bytes)
    if b"\x00" in data[:8192]:
        raise _BadRecord("binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _BadRecord(f"not valid UTF-8 text (byte {error.start})") from None


class _BigNumber(ValueError):
    """A JSON integer with more digits than Python converts (`sys.get_int_max_str_digits()`)."""

    def __init__(self, digits: str) -> None:
        super().__init__(f"a number with {len(digits.lstrip('-')):,} digits, over the "
                         f"{sys.get_int_max_str_digits():,} Python reads")
        self.digits = digits


def _int(digits: str) -> int:
    limit = sys.get_int_max_str_digits()
    if limit and len(digits.lstrip("-")) > limit:
        raise _BigNumber(digits)
    return int(digits)


def _json(text: str) -> Any:
    """`json.loads`, with a clear error for numbers too long to convert."""
    return json.loads(text, parse_int=_int)


def _json_problem(text: str, error: Exception) -> tuple[int | None, str]:
    """The line (when known) and the one-line problem of JSON text that could not be read."""
    if isinstance(error, json.JSONDecodeError):
        return error.lineno, f"invalid JSON ({error.msg}, column {error.colno})"
    if isinstance(error, _BigNumber):
        position = text.find(error.digits)
        return (text.count("\n", 0, position) + 1 if position >= 0 else None), f"invalid JSON ({error})"
    if isinstance(error, RecursionError):
        depth = 0
        for token in _JSON_TOKENS.finditer(text):
            symbol = token.group()
            depth += 1 if symbol in "[{" else -1 if symbol in "]}" else 0
            if depth > _MAX_JSON_DEPTH:
                return text.count("\n", 0, token.start()) + 1, \
                    f"invalid JSON (nested more than {_MAX_JSON_DEPTH} levels deep)"
        return None, "invalid JSON (nested too deeply to read)"
    return None, f"invalid JSON ({describe(error)})"


def _load_jsonl(path: Path, text: str) -> Iterator[Article | LoadError]:
    origin = str(path.resolve())
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = _json(line)
        except (ValueError, RecursionError) as error:
            yield LoadError(where, _json_problem(line, error)[1])
            continue
        yield _record_article(record, f"{origin}:{number}", where)


def _load_json(path: Path, text: str) -> Iterator[Article | LoadError]:
    try:
        data = _json(text)
    except (ValueError, RecursionError) as error:
        line, problem = _json_problem(text, error)
        yield LoadError(f"{path}:{line}" if line else str(path), problem)
        return
    records = data if isinstance(data, list) else [data]
    origin = str(path.resolve())
    for number, record in enumerate(records, start=1):
        yield _record_article(record, f"{origin}#{number}", f"{path}: item {number}")


def _record_article(record: Any, origin: str, where: str) -> Article | LoadError:
    """The article of one JSON record, or the LoadError naming `where` it is and what is wrong with it."""
    try:
        return _parse_record(record, origin=origin)
    except _BadRecord as error:
        return LoadError(where, str(error))
    except Exception as error:  # anything else about one record fails that record only
        return LoadError(where, f"unreadable record ({describe(error)})")


def _string_field(record: dict[str, Any], key: str) -> str:
    """A text field of a JSON record: a JSON string (an `id` may also be an integer); else _BadRecord."""
    value = record.get(key)
    if value is None:
        return ""
    if not isinstance(value, str) and not (key == "id" and isinstance(value, int) and not isinstance(value, bool)):
        raise _BadRecord(f"field {key!r} must be a string, not {type(value).__name__}")
    return str(value).strip()


def _parse_record(record: Any, origin: str) -> Article:
    if not isinstance(record, dict):
        raise _BadRecord(f"expected a JSON object, got {type(record).__name__}")
    title = _string_field(record, "title")
    text = _string_field(record, "text")
    if not text:
        raise _BadRecord("article has no text")
    if not title:
        raise _BadRecord("article has no title")
    url = _string_field(record, "url")
    return Article(
        id=article_id(_string_field(record, "id"), url, title, text),
        title=title,
        text=text,
        source=_string_field(record, "source"),
        url=url,
        published=parse_date(record.get("published")),
        author=_string_field(record, "author"),
        origin=origin,
    )


def _markdown_paragraphs(lines: list[str]) -> list[str]:
    """Join soft-wrapped Markdown lines into paragraphs; headings and list items stay lines."""
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines + [""]:
        stripped = _MARKDOWN_LINK.sub(r"\1", line.strip())
        if not stripped or stripped.startswith(("#", "- ", "* ", "> ")):
            if current:
                paragraphs.append(" ".join(current))
                current = []
            if stripped:
                paragraphs.append(stripped.lstrip(">*- ").strip() if not stripped.startswith("#") else stripped)
        else:
            current.append(stripped)
    return paragraphs


def _parse_document(text: str, origin: str, markdown: bool) -> Article:
    """Title line, optional `Key: value` headers, optional standfirst and byline, then the body."""
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    if not lines:
        raise _BadRecord("file is empty")
    title = lines.pop(0).lstrip("#").strip() if markdown else lines.pop(0)
    headers: dict[str, str] = {}
    while lines and (not lines[0] or _HEADER.match(lines[0])):
        match = _HEADER.match(lines.pop(0))
        if match:
            key = "published" if match.group(1).lower() == "date" else match.group(1).lower()
            headers[key] = match.group(2).strip()
    paragraphs = _markdown_paragraphs(lines) if markdown else [line for line in lines if line]
    standfirst = ""
    if len(paragraphs) > 1 and not is_heading(paragraphs[0]) and not paragraphs[0].startswith("#") \
            and len(paragraphs[0].split()) <= _STANDFIRST_MAX_WORDS:
        standfirst = paragraphs.pop(0)
    byline = ""
    if standfirst and len(paragraphs) > 1 and is_heading(paragraphs[0]) and not is_heading(paragraphs[1]):
        byline = paragraphs.pop(0)  # e.g. "Defense & Security Editor" between standfirst and body
    body = "\n".join(paragraphs)
    if not body.strip() and not standfirst:
        raise _BadRecord("article has no text")
    url = headers.get("url", "")
    return Article(
        id=article_id(None, url, title, "\n".join([standfirst, body])),
        title=title,
        text=body,
        source=headers.get("source", ""),
        url=url,
        published=parse_date(headers.get("published")),
        author=headers.get("author", "") or byline,
        standfirst=standfirst,
        origin=origin,
    )
