"""The article in an HTML page: main text, title, author and date extracted with trafilatura,
navigation, footers, scripts and other boilerplate dropped."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date

import trafilatura
from trafilatura.settings import Document

MIN_ARTICLE_WORDS = 50
"""Running text (lines of at least `_PROSE_LINE_WORDS` words) a page needs to count as an article."""
_PROSE_LINE_WORDS = 8
_ELEMENT = re.compile(rb"<\s*(html|head|body|title|article|main|div|p|h[1-6])[\s>/]", re.IGNORECASE)
_DATE_SEARCH = {"extensive_search": False, "original_date": True}
"""Dates from the page's metadata only: the extensive search guesses from copyright lines and links."""

# trafilatura logs its own view of parse failures; the caller reports each page in one line.
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)


class ExtractionError(ValueError):
    """The page is not usable HTML or holds no article; the message is the one-line reason."""


@dataclass(frozen=True)
class Page:
    title: str
    text: str
    """Paragraphs and headings, one a line, without the title."""
    author: str
    published: date | None
    url: str
    """The page's canonical URL, or the URL it was fetched from."""
    site: str


def extract(markup: bytes, url: str = "", charset: str | None = None) -> Page:
    """The article in an HTML document; raises ExtractionError for malformed HTML and non-article pages."""
    if not markup.strip():
        raise ExtractionError("malformed HTML: the document is empty")
    if b"\x00" in markup[:8192]:
        raise ExtractionError("malformed HTML: binary data, not an HTML document")
    if not _ELEMENT.search(markup):
        raise ExtractionError("malformed HTML: no HTML elements found")
    tree = trafilatura.load_html(_decode(markup, charset))
    if tree is None:
        raise ExtractionError("malformed HTML: the document could not be parsed")
    document = trafilatura.bare_extraction(
        tree, url=url or None, with_metadata=True, include_comments=False, date_extraction_params=_DATE_SEARCH,
    )
    if not isinstance(document, Document) or not document.text:
        raise ExtractionError("not an article: no main text found")
    title = _clean(document.title)
    lines = [line.strip() for line in document.text.splitlines() if line.strip()]
    if lines and title and lines[0].casefold() == title.casefold():
        lines.pop(0)
    words = sum(len(line.split()) for line in lines if len(line.split()) >= _PROSE_LINE_WORDS)
    if words < MIN_ARTICLE_WORDS:
        raise ExtractionError(f"not an article: {words} words of running text after removing navigation and "
                              f"boilerplate (at least {MIN_ARTICLE_WORDS} needed)")
    return Page(
        title=title,
        text="\n".join(lines),
        author=_clean(document.author),
        published=_date(document.date),
        url=_clean(document.url),
        site=_clean(document.sitename),
    )


def _decode(markup: bytes, charset: str | None) -> bytes | str:
    """Text in the charset the server declared; without one, trafilatura detects the encoding."""
    if charset:
        try:
            return markup.decode(charset, errors="replace")
        except LookupError:
            pass
    return markup


def _clean(value: str | None) -> str:
    return " ".join((value or "").split())


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None
