"""Time in a question ("this week", "last month", "in March 2024", "yesterday") as a date window."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

MONTH_NUMBERS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
MONTH_NUMBERS.update({name.lower(): number for number, name in enumerate(calendar.month_abbr) if name})
"""Month names and their abbreviations ("march", "mar"), lower case -> month number."""
_MONTH = "|".join(sorted(MONTH_NUMBERS, key=len, reverse=True))
_DAY_MONTH_YEAR = re.compile(rf"\b(?:on\s+)?({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?\b", re.I)
_MONTH_YEAR = re.compile(rf"\b(?:in|during|since|of)\s+({_MONTH})\.?(?:\s+(\d{{4}}))?\b", re.I)
_YEAR = re.compile(r"\b(?:in|during|of)\s+((?:19|20)\d\d)\b", re.I)
_RELATIVE = re.compile(r"\b(today|tonight|yesterday|this week|last week|past week|this month|last month|"
                       r"past month|this year|last year|recently|latest|this weekend|last weekend)\b", re.I)


@dataclass(frozen=True)
class DateWindow:
    start: date
    end: date

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def distance(self, day: date) -> int:
        """Days from the window to the day (0 inside it)."""
        return max((self.start - day).days, (day - self.end).days, 0)


def _month_window(year: int, month: int) -> DateWindow:
    return DateWindow(date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]))


def _latest_month(month: int, as_of: date) -> DateWindow:
    """The most recent month of that name that has begun by as_of."""
    year = as_of.year if month <= as_of.month else as_of.year - 1
    return _month_window(year, month)


def _relative(phrase: str, as_of: date) -> DateWindow:
    phrase = phrase.lower()
    if phrase in ("today", "tonight"):
        return DateWindow(as_of, as_of)
    if phrase == "yesterday":
        return DateWindow(as_of - timedelta(days=1), as_of - timedelta(days=1))
    if phrase in ("this week", "past week", "this weekend"):
        return DateWindow(as_of - timedelta(days=7), as_of)
    if phrase in ("last week", "last weekend"):
        return DateWindow(as_of - timedelta(days=14), as_of - timedelta(days=5))
    if phrase == "this month":
        return DateWindow(as_of.replace(day=1), as_of)
    if phrase == "last month":
        first = as_of.replace(day=1) - timedelta(days=1)
        return _month_window(first.year, first.month)
    if phrase == "past month":
        return DateWindow(as_of - timedelta(days=31), as_of)
    if phrase == "this year":
        return DateWindow(date(as_of.year, 1, 1), as_of)
    if phrase == "last year":
        return DateWindow(date(as_of.year - 1, 1, 1), date(as_of.year - 1, 12, 31))
    return DateWindow(as_of - timedelta(days=30), as_of)  # "recently", "latest"


def time_window(question: str, as_of: date) -> DateWindow | None:
    """The period a question asks about, relative to as_of; None when it names no time.

    A phrase naming an impossible date ("in March 0000", "February 30th") is ignored, not an error.
    """
    for phrase in (_day_month_year, _month_year, _year, _relative_phrase):
        try:
            window = phrase(question, as_of)
        except (ValueError, OverflowError):  # a year out of range, or a day that does not exist
            continue
        if window is not None:
            return window
    return None


def _day_month_year(question: str, as_of: date) -> DateWindow | None:
    if match := _DAY_MONTH_YEAR.search(question):
        month, day = MONTH_NUMBERS[match.group(1).lower()], int(match.group(2))
        year = int(match.group(3)) if match.group(3) else _latest_month(month, as_of).start.year
        target = date(year, month, day)
        return DateWindow(target - timedelta(days=1), target + timedelta(days=2))
    return None


def _month_year(question: str, as_of: date) -> DateWindow | None:
    if match := _MONTH_YEAR.search(question):
        month = MONTH_NUMBERS[match.group(1).lower()]
        return _month_window(int(match.group(2)), month) if match.group(2) else _latest_month(month, as_of)
    return None


def _year(question: str, as_of: date) -> DateWindow | None:
    if match := _YEAR.search(question):
        year = int(match.group(1))
        return DateWindow(date(year, 1, 1), date(year, 12, 31))
    return None


def _relative_phrase(question: str, as_of: date) -> DateWindow | None:
    if match := _RELATIVE.search(question):
        return _relative(match.group(1), as_of)
    return None
