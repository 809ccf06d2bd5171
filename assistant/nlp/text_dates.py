"""Dates named in article text ("on 14 January", "March 3, 2025", "on Monday", "yesterday"), resolved
against the article's publication date.

A date without a year takes the year that puts it closest to the publication date; a weekday ("on
Monday") is the latest such day on or before it, unless the sentence speaks of the future ("will visit on
Thursday", "next Monday": the coming one). Only days and
months are dates here: a bare year ("in 2019") is too coarse to place an event. A phrase naming an
impossible date ("30 February") is skipped.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from assistant.nlp.dates import MONTH_NUMBERS

MONTH_WORDS = {**MONTH_NUMBERS, "sept": 9}
"""Month names and abbreviations as article text writes them ("sept" too), lower case -> month number."""
_MONTH = "|".join(sorted(MONTH_WORDS, key=len, reverse=True))
WEEKDAY_WORDS = {name.lower(): number for number, name in enumerate(calendar.day_name)}
"""Weekday names, lower case -> number (Monday 0)."""
_WEEKDAY = "|".join(WEEKDAY_WORDS)

_ISO = re.compile(r"\b((?:19|20)\d\d)-(\d\d)-(\d\d)\b")
_DAY_MONTH = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH})\b(?:\.(?=\s*\d))?"
                        rf"(?:,?\s+((?:19|20)\d\d)\b)?", re.IGNORECASE)
_MONTH_DAY = re.compile(rf"\b({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?!\s*(?:%|percent|per cent|:))"
                        rf"(?:,?\s+((?:19|20)\d\d)\b)?", re.IGNORECASE)
_MONTH_YEAR = re.compile(rf"\b({_MONTH})\.?,?\s+((?:19|20)\d\d)\b", re.IGNORECASE)
_IN_MONTH = re.compile(rf"\b(?:in|since|until|by|during|from|early|late|mid|mid-|end of|start of)\s+({_MONTH})\b(?!\s*\d)",
                       re.IGNORECASE)
_WEEKDAY_PHRASE = re.compile(rf"\b(?:(last|this|next|on|late|early)\s+)?({_WEEKDAY})\b", re.IGNORECASE)
_RELATIVE_DAY = re.compile(r"\b((?:[Yy]esterday|[Tt]oday|[Tt]onight)|(?:[Tt]his|[Ll]ast) (?:morning|afternoon|evening|night))\b")
"""Lower case or capitalised only: "USA TODAY" is a newspaper."""

Precision = Literal["day", "month"]


@dataclass(frozen=True)
class DateMention:
    """A date named in a text: the day (the 1st for a month), its precision and where it is (`start`, `end`)."""

    day: date
    precision: Precision
    start: int
    end: int
    text: str
    relative: bool = False
    """Named relative to the publication ("on Monday", "yesterday"), so only as sure as that date."""

    def same_period(self, other: DateMention) -> bool:
        """Whether the two could name the same day (a month contains its days)."""
        if self.precision == "month" or other.precision == "month":
            return (self.day.year, self.day.month) == (other.day.year, other.day.month)
        return self.day == other.day


def label(day: date, precision: Precision = "day") -> str:
    """"14 January 2025", or "January 2025" for a month."""
    return f"{day:%B %Y}" if precision == "month" else f"{day.day} {day:%B %Y}"


def _closest_year(month: int, day: int, published: date) -> date:
    """The date of that month and day nearest to the publication date."""
    candidates = []
    for year in (published.year - 1, published.year, published.year + 1):
        try:
            candidates.append(date(year, month, day))
        except ValueError:
            continue
    if not candidates:
        raise ValueError(f"no such day: {month}/{day}")
    return min(candidates, key=lambda candidate: abs((candidate - published).days))


def _closest_month(month: int, published: date) -> date:
    candidates = [date(year, month, 1) for year in (published.year - 1, published.year, published.year + 1)]
    return min(candidates, key=lambda candidate: abs((candidate - published).days))


_FUTURE = re.compile(r"\b(?:will|to be|is to|are to|scheduled|expected|due|set to|plans? to|planned|upcoming)\b[^.;]*$",
                     re.IGNORECASE)


def _weekday(qualifier: str, weekday: int, published: date, future: bool = False) -> date:
    back = (published.weekday() - weekday) % 7
    if qualifier == "next":
        return published + timedelta(days=(weekday - published.weekday()) % 7 or 7)
    if future and qualifier != "last":  # "will visit on Thursday": the coming Thursday
        return published + timedelta(days=(weekday - published.weekday()) % 7)
    if qualifier == "last" and back == 0:
        back = 7
    return published - timedelta(days=back)


def find_dates(text: str, published: date | None) -> list[DateMention]:
    """Every date the text names, in order of appearance (overlapping phrases: the most precise wins).

    Without a publication date only phrases that name their year are resolved.
    """
    found: list[DateMention] = []

    def add(start: int, end: int, make: object, relative: bool = False) -> None:
        if any(start < kept.end and kept.start < end for kept in found):
            return
        try:
            day, precision = make()  # type: ignore[operator]
        except (ValueError, OverflowError, TypeError):
            return
        found.append(DateMention(day, precision, start, end, text[start:end], relative))

    for match in _ISO.finditer(text):
        year, month, day = (int(part) for part in match.groups())
        add(match.start(), match.end(), lambda y=year, m=month, d=day: (date(y, m, d), "day"))
    for pattern, day_group, month_group in ((_DAY_MONTH, 1, 2), (_MONTH_DAY, 2, 1)):
        for match in pattern.finditer(text):
            month, day, year = MONTH_WORDS[match.group(month_group).lower()], int(match.group(day_group)), match.group(3)
            if match.group(month_group).lower() == "may" and pattern is _MONTH_DAY and not year:
                continue  # "may 3 people ..." is a verb; "3 May" and "May 3, 2025" are dates
            if year:
                add(match.start(), match.end(), lambda y=int(year), m=month, d=day: (date(y, m, d), "day"))
            elif published is not None:
                add(match.start(), match.end(), lambda m=month, d=day: (_closest_year(m, d, published), "day"))
    for match in _MONTH_YEAR.finditer(text):
        month, year = MONTH_WORDS[match.group(1).lower()], int(match.group(2))
        add(match.start(), match.end(), lambda y=year, m=month: (date(y, m, 1), "month"))
    if published is not None:
        for match in _IN_MONTH.finditer(text):
            month = MONTH_WORDS[match.group(1).lower()]
            add(match.start(1), match.end(1), lambda m=month: (_closest_month(m, published), "month"))
        for match in _WEEKDAY_PHRASE.finditer(text):
            qualifier, weekday = (match.group(1) or "").lower(), WEEKDAY_WORDS[match.group(2).lower()]
            future = bool(_FUTURE.search(text[max(0, match.start() - 60):match.start()]))
            add(match.start(), match.end(),
                lambda q=qualifier, w=weekday, f=future: (_weekday(q, w, published, f), "day"), relative=True)
        for match in _RELATIVE_DAY.finditer(text):
            back = 1 if match.group(1).lower() in ("yesterday", "last night") else 0
            add(match.start(), match.end(), lambda b=back: (published - timedelta(days=b), "day"), relative=True)
    return sorted(found, key=lambda mention: mention.start)


def published_day(published: str) -> date | None:
    """A passage's `published` (ISO date, or empty) as a date; None when it is not one."""
    try:
        return date.fromisoformat(published[:10]) if published else None
    except ValueError:
        return None
