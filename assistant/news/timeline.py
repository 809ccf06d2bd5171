"""Timeline answers: how a story unfolded, one dated entry per event, oldest first.

1. `is_timeline_question`: "How did the tram project unfold?", "Timeline of the ceasefire talks",
   "What happened with X since March?".
2. `spread_over_time`: of the passages retrieved for the story, the most relevant of each publication
   day first, so that a timeline covers many days rather than one article's five best passages.
3. `build_events`: each passage's event is its sentence closest to the story (a sentence naming a date
   preferred, the lede next); the event's date is the one that sentence names, resolved against the
   publication date ("on Monday", "14 January"), else the publication date (a date after the
   publication is a plan, not an event: the report's date is used). Reports of one event by several
   outlets (same day and similar wording, or near-identical wording a few days apart) become one
   entry that cites them all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from assistant.answering.answerers.context import passage_sentences
from assistant.news.conflicts import stem
from assistant.nlp.dates import DateWindow, time_window
from assistant.encoders.embeddings import TextEncoder
from assistant.nlp.text import content_words
from assistant.nlp.text_dates import DateMention, find_dates, label, published_day
from assistant.types import Passage

_TIMELINE = re.compile(
    r"\btime\s?lines?\b|\bchronolog(?:y|ical)\b|\bsequence of events\b"
    r"|\bhow (?:did|has|have|had)\b.{3,150}?\b(?:unfold(?:ed)?|develop(?:ed)?|evolve[ds]?|progress(?:ed)?|"
    r"play(?:ed)? out|come about|came about|got here)\b"
    r"|\bwhat(?:'s| has| have)? happened\b.{0,150}?\bsince\b"
    r"|\b(?:events|developments|milestones)\b.{0,150}?\bsince\b"
    r"|\bsince\b.{0,150}?\b(?:what happened|developments)\b", re.IGNORECASE)
_PHRASING = re.compile(
    r"\b(?:give me|show me|make|create|build|draw up|what is|what's|what was)?\s*(?:an?|the)?\s*"
    r"(?:time\s?lines?|chronology|sequence of events)\s*(?:of|for|on)?\b"
    r"|\bhow (?:did|has|have|had)\b|\b(?:unfold(?:ed)?|develop(?:ed)?|evolve[ds]?|progress(?:ed)?|play(?:ed)? out|"
    r"come about|came about|got here)\b|\bwhat(?:'s| has| have)? happened\b\s*(?:with|to|in|on|at|over)?"
    r"|\b(?:key |main )?(?:events|developments|milestones)\b\s*(?:in|of|on)?", re.IGNORECASE)
_SINCE = re.compile(r"\bsince\b", re.IGNORECASE)
_SINCE_YEAR = re.compile(r"\bsince\s+((?:19|20)\d\d)\b", re.IGNORECASE)
_DATED_BONUS = 0.1
_LEDE_BONUS = 0.05
ON_TOPIC_SIMILARITY = 0.5
"""An event sentence sharing no word with the story must be at least this similar to it (MiniLM cosine)."""
SAME_DAY_SIMILARITY = 0.6
"""Two reports dated within a day of each other are one event from this similarity (MiniLM cosine)."""
NEAR_IDENTICAL_SIMILARITY = 0.85
"""...and from this similarity when their dates differ by up to `NEAR_IDENTICAL_DAYS` (outlets disagree)."""
NEAR_IDENTICAL_DAYS = 14


def is_timeline_question(question: str) -> bool:
    return bool(_TIMELINE.search(question))


def timeline_topic(question: str) -> str:
    """The story a timeline question is about, for retrieval ("How did the tram project unfold?" -> "the
    tram project"); the question itself when nothing would be left."""
    topic = " ".join(_PHRASING.sub(" ", question).split()).strip(" ?.!,:;")
    return topic if len(topic.split()) >= 1 and any(char.isalnum() for char in topic) else question


def timeline_window(question: str, as_of: date) -> DateWindow | None:
    """The period a timeline covers: "since March" runs from the 1st of March until as_of, "since 2022" from
    1 January 2022; "in 2025" is that year."""
    if year := _SINCE_YEAR.search(question):
        return DateWindow(date(int(year.group(1)), 1, 1), as_of)
    window = time_window(question, as_of)
    if window is not None and _SINCE.search(question):
        return DateWindow(window.start, as_of)
    return window


def spread_over_time(passages: Sequence[Passage], limit: int, min_relevance: float) -> list[Passage]:
    """Up to `limit` relevant, dated passages: the best of each publication day first, then the next best
    of each day; returned oldest first (the order the answering backend reads them in)."""
    by_day: dict[date, list[Passage]] = {}
    for passage in passages:  # best first
        day = published_day(passage.published)
        if day is not None and passage.score >= min_relevance:
            by_day.setdefault(day, []).append(passage)
    chosen: list[Passage] = []
    depth = 0
    while len(chosen) < limit and any(len(group) > depth for group in by_day.values()):
        for group in by_day.values():  # days in order of their best passage
            if len(group) > depth and len(chosen) < limit:
                chosen.append(group[depth])
        depth += 1
    return sorted(chosen, key=lambda p: (p.published, p.article_id, p.position))


@dataclass
class Event:
    """An entry of a timeline while it is built: passage numbers are 1-based, oldest report first."""

    day: date
    precision: str
    text: str
    numbers: list[int]
    dated_by: str
    vector: np.ndarray = field(repr=False)
    published: list[str] = field(default_factory=list)
    quotes: dict[int, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return label(self.day, "month" if self.precision == "month" else "day")

    def line(self) -> str:
        """"14 January 2025: The council approved the line [1][2]." with passage numbers as markers."""
        markers = "".join(f"[{number}]" for number in self.numbers)
        text = self.text.rstrip()
        if text[-1:] in ".!?":
            return f"{self.label}: {text[:-1]} {markers}{text[-1]}"
        return f"{self.label}: {text} {markers}."


def _event_date(mentions: Sequence[DateMention], published: date) -> tuple[date, str, str]:
    """(day, precision, dated_by) of an event sentence: the first date it names that is not after publication."""
    for precision in ("day", "month"):
        for mention in mentions:
            if mention.precision != precision:
                continue
            if mention.day <= published or (precision == "month" and mention.day <= published.replace(day=1)):
                return mention.day, precision, "text"
    return published, "day", "published"


def build_events(topic: str, passages: Sequence[Passage], encoder: TextEncoder,
                 window: DateWindow | None = None) -> list[Event]:
    """The timeline's entries, oldest first, from the passages (numbered 1.. as given)."""
    candidates: list[tuple[int, Passage, list[str]]] = []
    for number, passage in enumerate(passages, start=1):
        sentences = [s for s in passage_sentences(passage) if len(s.split()) >= 4]
        if sentences and published_day(passage.published) is not None:
            candidates.append((number, passage, sentences))
    if not candidates:
        return []
    texts = [sentence for _, _, sentences in candidates for sentence in sentences]
    vectors = encoder.encode([topic, *texts])
    topic_vector, sentence_vectors = vectors[0], vectors[1:]
    topic_words = {stem(word) for word in content_words(topic)}
    events: list[Event] = []
    offset = 0
    for number, passage, sentences in candidates:
        published = published_day(passage.published)
        assert published is not None
        best: tuple[float, int, list[DateMention]] | None = None
        for index, sentence in enumerate(sentences):
            similarity = float(sentence_vectors[offset + index] @ topic_vector)
            if similarity < ON_TOPIC_SIMILARITY and not topic_words & {stem(w) for w in content_words(sentence)}:
                continue  # about something else
            mentions = find_dates(sentence, published)
            score = similarity + (_DATED_BONUS if mentions else 0.0)
            score += _LEDE_BONUS if index == 0 and passage.position == 0 else 0.0
            if best is None or score > best[0]:
                best = (score, index, mentions)
        if best is None:
            offset += len(sentences)
            continue
        _, index, mentions = best
        day, precision, dated_by = _event_date(mentions, published)
        events.append(Event(day, precision, sentences[index], [number], dated_by, sentence_vectors[offset + index],
                            [passage.published], {number: sentences[index]}))
        offset += len(sentences)
    if window is not None:
        events = [event for event in events if _overlaps(event, window)]
    return merge_reports(sorted(events, key=lambda event: (event.day, event.published[0])))


def _overlaps(event: Event, window: DateWindow) -> bool:
    if event.precision == "month":
        return window.start <= _month_end(event.day) and event.day <= window.end
    return window.contains(event.day)


def _month_end(day: date) -> date:
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def merge_reports(events: Sequence[Event]) -> list[Event]:
    """Reports of one event (by several outlets, or twice by one) as one entry citing them all, oldest report
    first; the entry keeps the wording and date of the report dated first (on a tie, published first)."""
    merged: list[Event] = []
    for event in sorted(events, key=lambda e: (e.day, e.published[0])):
        home = next((kept for kept in merged if _same_event(kept, event)), None)
        if home is None:
            merged.append(event)
            continue
        for number, published in zip(event.numbers, event.published, strict=True):
            if number not in home.numbers:
                home.numbers.append(number)
                home.published.append(published)
        home.quotes.update({n: q for n, q in event.quotes.items() if n not in home.quotes})
        order = sorted(range(len(home.numbers)), key=lambda i: (home.published[i], home.numbers[i]))
        home.numbers = [home.numbers[i] for i in order]
        home.published = [home.published[i] for i in order]
    return sorted(merged, key=lambda e: (e.day, e.published[0]))


def _same_event(first: Event, second: Event) -> bool:
    similarity = float(first.vector @ second.vector)
    apart = abs((first.day - second.day).days)
    coarse = "month" in (first.precision, second.precision) and (first.day.year, first.day.month) == (
        second.day.year, second.day.month)
    if (apart <= 1 or coarse) and similarity >= SAME_DAY_SIMILARITY:
        return True
    return apart <= NEAR_IDENTICAL_DAYS and similarity >= NEAR_IDENTICAL_SIMILARITY


def timeline_text(events: Sequence[Event]) -> str:
    """The entries as lines of text, with passage numbers as markers."""
    return "\n".join(event.line() for event in events)
