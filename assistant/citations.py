"""Turn a backend's `[n]` markers (numbers of retrieved passages) into numbered Citations.

Citation numbers follow the order of first use (the first source cited is [1]); a marker that
names no retrieved passage is removed. Streamed text is renumbered the same way as it arrives.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.text import split_sentences
from assistant.types import Citation, Passage

_MARKER = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
_LONGEST_MARKER = 24


class MarkerNumbering:
    """Passage number -> citation number, assigned in order of first use."""

    def __init__(self, passage_count: int) -> None:
        self.passage_count = passage_count
        self.numbers: dict[int, int] = {}
        self._pending = ""

    def _replace(self, match: re.Match[str]) -> str:
        markers = []
        for token in match.group(1).split(","):
            number = int(token)
            if 1 <= number <= self.passage_count:
                self.numbers.setdefault(number, len(self.numbers) + 1)
                markers.append(f"[{self.numbers[number]}]")
        return (" " + "".join(markers)) if markers else ""

    def renumber(self, text: str) -> str:
        return _MARKER.sub(self._replace, text)

    def feed(self, piece: str) -> str:
        """Renumber streamed text; a marker cut between two pieces is held back until complete."""
        text = self._pending + piece
        start = text.rfind("[")
        if start != -1 and "]" not in text[start:] and len(text) - start < _LONGEST_MARKER:
            start = len(text[:start].rstrip())  # keep the space before the marker with it
            text, self._pending = text[:start], text[start:]
        else:
            self._pending = ""
        return self.renumber(text)

    def flush(self) -> str:
        text, self._pending = self._pending, ""
        return self.renumber(text)


def _best_quote(passage: Passage, claim: str) -> str:
    """The sentence of the passage sharing most words with the claim (when the backend gave no quote)."""
    claim_words = set(claim.lower().split())
    sentences = [s for line in passage.text.splitlines() for s in split_sentences(line)] or [passage.text]
    return max(sentences, key=lambda sentence: len(claim_words & set(sentence.lower().split())))


def resolve_citations(text: str, passages: Sequence[Passage], quotes: dict[int, str]) -> tuple[str, list[Citation]]:
    """The text with markers renumbered 1, 2, ... and one Citation per cited passage."""
    numbering = MarkerNumbering(len(passages))
    renumbered = numbering.renumber(text).strip()
    sentences = split_sentences(renumbered) or [renumbered]
    citations = []
    for number, n in numbering.numbers.items():
        passage = passages[number - 1]
        claim = next((s for s in sentences if f"[{n}]" in s), renumbered)
        citations.append(Citation(
            n=n,
            article_id=passage.article_id,
            title=passage.title,
            source=passage.source,
            url=passage.url,
            published=passage.published,
            passage=passage.text,
            quote=quotes.get(number) or _best_quote(passage, _MARKER.sub("", claim)),
            score=passage.score,
        ))
    return renumbered, citations
