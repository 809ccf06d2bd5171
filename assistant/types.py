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
class TimelineEntry:
    """One event of a timeline answer: when, what (quoted from a passage), and every passage reporting it."""

    day: str
    """ISO date of the event (the 1st of the month when only the month is known)."""
    label: str
    """The date as shown: "14 January 2025", or "January 2025"."""
    text: str
    """The event, as the earliest report of it words it."""
    citations: tuple[int, ...]
    """Numbers of the citations (one per outlet's report) that report it."""
    dated_by: str = "text"
    """"text" when a passage names the date, "published" when it is the report's publication date."""


@dataclass(frozen=True)
class ConflictSide:
    """One report's value for a disputed fact."""

    value: str
    """As stated: "12 dead", "cost £4.2m", "peaked on 28 February 2026"."""
    n: int
    """The citation ([n]) of the passage stating it."""
    published: str
    source: str
    quote: str
    """The sentence of the passage that states it."""


@dataclass(frozen=True)
class Conflict:
    """A fact the reports disagree on, each side citing its passage, ordered by publication date."""

    fact: str
    """What differs, in a word or two ("dead", "cost", "peaked")."""
    kind: str
    """number, amount, vote or date."""
    sides: tuple[ConflictSide, ...]

    @property
    def sentence(self) -> str:
        """"Reports differ: 12 dead [1], 15 dead [3].", as in the answer's text."""
        return "Reports differ: " + ", ".join(f"{side.value} [{side.n}]" for side in self.sides) + "."


@dataclass(frozen=True)
class Freshness:
    """How current an answer is, as of the date the question was asked (`as_of`)."""

    as_of: str
    newest: str
    """ISO publication date of the newest article the answer rests on ("" when none is dated)."""
    stale: bool
    """The newest article is more than STALE_DAYS older than as_of: the news may have moved on."""
    sentence: str
    """"Based on articles published up to 5 March 2026." (and the warning when stale)."""
    window: tuple[str, str] | None = None
    """The period the question asks about ("today", "this week"), ISO start and end, if it names one."""
    window_empty: bool = False
    """The question asks about that period and no relevant article was published in it."""


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
    mode: str = "answer"
    """How it was answered: "answer" (a few sentences) or "timeline" (dated events, in `timeline`)."""
    timeline: list[TimelineEntry] = field(default_factory=list)
    """A timeline answer's events, oldest first; their lines end the text."""
    conflicts: list[Conflict] = field(default_factory=list)
    """Facts the passages used give different values for; each is also a "Reports differ" sentence of the text."""
    freshness: Freshness | None = None
    """How current the answer is: the newest article it rests on, and whether the news may have moved on."""

    @property
    def full_text(self) -> str:
        """The text followed by the freshness sentence, as the chat shows them."""
        return f"{self.text}\n\n{self.freshness.sentence}" if self.freshness and self.freshness.sentence else self.text

    @property
    def verified(self) -> bool:
        """An answer whose every sentence verified: each cites a passage that supports it and states its
        key terms (names, numbers, dates); False for the not-found answer (see assistant/answering/verification.py)."""
        return self.found and bool(self.citations) and not self.unsupported
