"""The data that flows through Newsdesk: articles in, passages and cited answers out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class Article:
    """One news article as loaded from a file, feed or page, before chunking."""

    id: str
    title: str
    text: str
    source: str = ""
    url: str = ""
    published: date | None = None
    author: str = ""
    standfirst: str = ""
    origin: str = ""
    """Where it was loaded from (file path, `path:line`), used to replace edited files."""
    added_by: str = ""
    """Who brings it (`feed:URL` for a feed's entries); empty: whoever runs the ingest (Ingestor.added_by)."""


@dataclass(frozen=True)
class Chunk:
    """A passage of an article, ready to embed and store."""

    id: str
    article_id: str
    position: int
    text: str
    embed_text: str
    """What is embedded: title and section heading, then the passage."""
    section: str
    metadata: dict[str, str | int | float]


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its article's metadata and its relevance score."""

    chunk_id: str
    article_id: str
    title: str
    text: str
    score: float
    source: str = ""
    url: str = ""
    published: str = ""
    section: str = ""
    position: int = 0


@dataclass(frozen=True)
class Citation:
    """A numbered source of an answer: the passage and the sentence that supports the claim."""

    n: int
    article_id: str
    title: str
    source: str
    url: str
    published: str
    passage: str
    quote: str
    score: float


@dataclass(frozen=True)
class Answer:
    """An answer whose `[n]` markers refer to `citations[n-1]`."""

    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    backend: str = ""
    found: bool = True
    """False when nothing retrieved was relevant enough to answer from."""
    unsupported: list[str] = field(default_factory=list)
    """Sentences of the text that no retrieved passage supports (they carry no citation)."""
