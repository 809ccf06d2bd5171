"""Search filters (source, date range, article ids) and their translation to Chroma `where` clauses."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

MAX_FILTER_VALUES = 100
"""Most sources or article ids in one filter: more is a ValueError, never a huge database query."""
MAX_FILTER_VALUE_CHARS = 1000
"""Longest source name or article id in a filter."""
FilterValues = Annotated[list[Annotated[str, StringConstraints(max_length=MAX_FILTER_VALUE_CHARS)]],
                         Field(max_length=MAX_FILTER_VALUES)]

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
UNKNOWN_DAY = -1_000_000
"""The day number stored for articles without a date; date filters never match it."""


def day_number(day: date) -> int:
    """Days since 1970-01-01: an integer Chroma can compare, stored with every chunk."""
    return day.toordinal() - EPOCH_ORDINAL


class Filters(BaseModel):
    """Restricts retrieval. Unknown keys are an error, never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: FilterValues | None = None
    date_from: date | None = None
    date_to: date | None = None
    article_ids: FilterValues | None = None

    @field_validator("source", "article_ids", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _ordered_dates(self) -> Filters:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"date_from {self.date_from} is after date_to {self.date_to}")
        return self

    def where(self) -> dict[str, Any] | None:
        """The Chroma metadata filter for these conditions (None when there are none)."""
        clauses: list[dict[str, Any]] = []
        if self.source:
            clauses.append({"source": {"$in": list(self.source)}})
        if self.article_ids:
            clauses.append({"article_id": {"$in": list(self.article_ids)}})
        if self.date_from or self.date_to:
            clauses.append({"day": {"$gte": day_number(self.date_from) if self.date_from else UNKNOWN_DAY + 1}})
        if self.date_to:
            clauses.append({"day": {"$lte": day_number(self.date_to)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def parse_filters(filters: Filters | dict[str, Any] | None) -> Filters:
    """Validate user-given filters; raises ValueError naming the offending key or value."""
    if filters is None:
        return Filters()
    if isinstance(filters, Filters):
        return filters
    try:
        return Filters.model_validate(filters)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or 'filters'}: {item['msg']}" for item in error.errors()
        )
        raise ValueError(f"invalid filters: {problems}") from None
