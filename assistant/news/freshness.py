"""How current an answer is: "Based on articles published up to 5 March 2026", a warning when the newest
article it rests on is more than STALE_DAYS older than the day asked (`as_of`), and, for a question about
"today" or "this week", whether any relevant article was published in that period at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from assistant.nlp.dates import DateWindow, time_window
from assistant.nlp.text_dates import label, published_day
from assistant.types import Freshness, Passage

_CURRENT = re.compile(r"\b(today|tonight|yesterday|this week|past week|this weekend|this month|past month|"
                      r"latest|recently)\b", re.IGNORECASE)


_SAID = {"tonight": "today", "past week": "this week", "past month": "in the past month",
         "latest": "in the past month", "recently": "in the past month"}
"""How the answer names the period the question's phrase means."""


@dataclass(frozen=True)
class AskedPeriod:
    """A recent period a question asks about ("this week") and the dates it covers."""

    phrase: str
    """As the answer says it: "today", "this week", "in the past month"."""
    window: DateWindow


def asked_period(question: str, as_of: date) -> AskedPeriod | None:
    """The recent period the question names ("today", "this week", "latest"), relative to as_of.

    News about a day is often published the day after, so the period runs until as_of.
    """
    match = _CURRENT.search(question)
    if not match:
        return None
    window = time_window(match.group(1), as_of)
    if window is None:
        return None
    phrase = match.group(1).lower()
    return AskedPeriod(_SAID.get(phrase, phrase), DateWindow(window.start, max(window.end, as_of)))


def period_without_news(question: str, passages: Sequence[Passage], as_of: date,
                        min_relevance: float) -> AskedPeriod | None:
    """The period the question asks about when no relevant passage was published in it (None otherwise).

    Nothing relevant at all is the ordinary "not found" answer; an undated relevant passage might be
    from the period, and one published after it is no older news, so either counts as one.
    """
    period = asked_period(question, as_of)
    relevant = [passage for passage in passages if passage.score >= min_relevance]
    if period is None or not relevant:
        return None
    for passage in relevant:
        day = published_day(passage.published)
        if day is None or day >= period.window.start:
            return None
    return period


def _span(window: DateWindow) -> str:
    if window.start == window.end:
        return label(window.start)
    return f"{label(window.start)} – {label(window.end)}"


def no_news_text(period: AskedPeriod, passages: Sequence[Passage], min_relevance: float) -> str:
    """What the answer says instead of answering from older articles."""
    days = [day for passage in passages if passage.score >= min_relevance
            and (day := published_day(passage.published)) is not None]
    newest = f" (the newest from {label(max(days))})" if days else ""
    return (f"I found no article published {period.phrase} ({_span(period.window)}) about this. The closest "
            f"articles are older{newest}, so they may not tell what happened {period.phrase}; they are listed below.")


def assess(published: Sequence[str], as_of: date, stale_days: float, *, found: bool = True,
           period: AskedPeriod | None = None, window_empty: bool = False) -> Freshness:
    """The freshness of an answer resting on articles with these publication dates (ISO, may be empty)."""
    days = [day for value in published if (day := published_day(value)) is not None]
    newest = max(days) if days else None
    window = (period.window.start.isoformat(), period.window.end.isoformat()) if period else None
    if newest is None:
        sentence = "The articles it rests on carry no publication date." if published else ""
        return Freshness(as_of.isoformat(), "", False, sentence, window, window_empty)
    age = (as_of - newest).days
    stale = age > stale_days
    lead = "Based on articles published up to" if found and not window_empty else \
        "The closest articles were published up to"
    sentence = f"{lead} {label(newest)}."
    if stale:
        sentence += (f" That is {age} days before {label(as_of)}: the news may have moved on since.")
    return Freshness(as_of.isoformat(), newest.isoformat(), stale, sentence, window, window_empty)
