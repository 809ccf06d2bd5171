"""What every keyword engine shares: the interface, the question's words, word pruning and the filters' day range.

The engines (assistant/store/keyword_index.py FTS5, keyword_tantivy.py, keyword_bm25s.py; chosen by
KEYWORD_ENGINE in assistant/store/keyword_engines.py) differ in how they index and rank; what a question
asks for, which of its words are left out, and which passages a filter admits are decided here, once.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from assistant.filters import UNKNOWN_DAY, Filters, day_number
from assistant.nlp.text import STOPWORDS, normalize

KeywordRow = tuple[str, str, str, str, int]
"""One passage's keyword row: (chunk_id, title, body, source, day)."""

PRUNE_FROM = 10_000
"""Fewest passages from which KEYWORD_MAX_DF applies: in a small store a word in a tenth of the passages
still tells them apart, and every query is fast."""

_TOKEN = re.compile(r"\w+")
LAST_DAY = 2**31 - 1
"""An upper day bound no date reaches (for engines that need both ends of a range)."""


def content_words(question: str) -> list[str]:
    """The question's words less stopwords, each once, in order."""
    return list(dict.fromkeys(word for word in _TOKEN.findall(normalize(question)) if word not in STOPWORDS))


def folded_words(text: str) -> list[str]:
    """A passage's words as `normalize` folds them (lower case, accents off), fast for ASCII text."""
    if text.isascii():
        return _TOKEN.findall(text.lower())
    return normalize(text).split()


def kept_words(words: Sequence[str], frequency: Mapping[str, int], total: int, max_df: float,
               prune_from: int) -> list[str]:
    """The words found in at most `max_df` of the `total` passages (BM25 gives the others little weight,
    and their long lists of passages are most of a query's cost), the rarest at least; all of them in an
    index of fewer than `prune_from` passages or with max_df 1."""
    if max_df >= 1 or len(words) < 2 or total < prune_from:
        return list(words)
    kept = [word for word in words if frequency.get(word, 0) <= max_df * total]
    return kept or [min(words, key=lambda word: frequency.get(word, 0))]


def day_range(filters: Filters) -> tuple[int, int] | None:
    """The inclusive (first, last) day number the filters admit, None when they name no date. A dated
    filter never admits an undated passage (UNKNOWN_DAY)."""
    if not (filters.date_from or filters.date_to):
        return None
    first = day_number(filters.date_from) if filters.date_from else UNKNOWN_DAY + 1
    last = day_number(filters.date_to) if filters.date_to else LAST_DAY
    return max(first, UNKNOWN_DAY + 1), last


class KeywordEngine(Protocol):
    """A keyword index beside the store: BM25 over passages (title weighted), rows replaced per article,
    the content hash each article's rows were built from (for the index sync), several processes writing
    in turn (each under the store's write lock)."""

    title_weight: float
    max_df: float

    def batch(self) -> AbstractContextManager[None]: ...

    def replace_article(self, article_id: str, content_hash: str, rows: Sequence[KeywordRow]) -> None: ...

    def delete_article(self, article_id: str) -> None: ...

    def hashes(self, article_ids: Collection[str] | None = None) -> dict[str, str]: ...

    def count(self) -> int: ...

    def search(self, question: str, k: int, filters: Filters | None = None) -> list[tuple[str, float]]: ...

    def hits(self, question: str, k: int, filters: Filters | None = None) -> list[tuple[str, str, float]]: ...



class HitsSearch:
    """`search` of every engine: its `hits` without the articles."""

    def hits(self, question: str, k: int, filters: Filters | None = None) -> list[tuple[str, str, float]]:
        raise NotImplementedError

    def search(self, question: str, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """(chunk_id, BM25 score) of the k best passages, best first; higher scores are better."""
        return [(chunk_id, score) for chunk_id, _, score in self.hits(question, k, filters)]
