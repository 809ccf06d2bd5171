"""Turn a backend's `[n]` markers (numbers of retrieved passages) into numbered Citations.

Citation numbers follow the order of first use (the first source cited is [1]); a marker that
names no retrieved passage is removed. Streamed text is renumbered the same way as it arrives.

Markers are written one way everywhere (streamed text and final answers): one space before
them, several side by side (`[1][2]`), and the sentence's punctuation after them:
`... in 2006 [1].`, `... in 2006 [1], and ...`. Punctuation the model put before a marker moves
after it, runs of it collapse to one mark (`US.,,, [1]` -> `US [1].`), and the full stop of an
abbreviation stays with its word (`in the U.S. [1]`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from assistant.nlp.text import split_sentences
from assistant.types import Citation, Passage

_MARKER = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
_ONE = r"\[\d+(?:\s*,\s*\d+)*\]"
_GROUP = re.compile(rf"(?P<before>[\s.,;:!?]*)(?P<markers>{_ONE}(?:[\s.,;:!?]*{_ONE})*)(?P<after>(?:[ \t]*[.,;:!?])*)")
_SAFE_CUT = re.compile(r"(?<=\s)(?=\w)")
_ABBREVIATION = re.compile(r"(?:\b[A-Za-z]\.)+[A-Za-z]$|\b(?:Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|Inc|Co|Corp|Ltd|vs|etc|No)$")
_TERMINAL = ".!?"
_LONGEST_TAIL = 200


def tidy_markers(text: str, renumber: Callable[[int], int | None] = lambda number: number) -> str:
    """Markers in the one house style; `renumber` maps each number (None: the marker goes)."""

    def replace(match: re.Match[str]) -> str:
        numbers = []
        for token in re.findall(r"\d+", match.group("markers")):
            number = renumber(int(token))
            if number is not None and number not in numbers:
                numbers.append(number)
        before = match.group("before")
        between = re.sub(_ONE, "", match.group("markers"))  # "[1], [2]": a comma between markers separates them
        punctuation = "".join(mark for mark in before if not mark.isspace()) + "".join(
            mark for mark in between if mark in _TERMINAL)
        word_dot = ""
        if punctuation.startswith(".") and _ABBREVIATION.search(match.string[: match.start()]):
            word_dot, punctuation = ".", punctuation[1:]
        marks = match.group("after").replace(" ", "").replace("\t", "") + punctuation
        closing = next((mark for mark in marks if mark in _TERMINAL), "") or next(
            (mark for mark in marks if mark in ";:"), "") or ("," if "," in marks else "")
        rest = match.string[match.end(): match.end() + 1]
        if closing in ",;:" and match.end() == len(match.string):
            closing = ""  # a comma after the last marker of the text ends nothing
        if not numbers and not closing and "\n" in before:
            return word_dot + "\n"  # a lone invalid marker on its own line: keep the line break
        markers = "".join(f"[{number}]" for number in numbers)
        space = " " if rest.isalnum() or (rest and rest in "\"'(“‘") else ""
        lead = " " if match.start() else ""  # no space before a marker that starts the text
        return word_dot + (lead + markers if markers else "") + closing + space

    return _GROUP.sub(replace, text)


class MarkerNumbering:
    """Passage number -> citation number, assigned in order of first use."""

    def __init__(self, passage_count: int) -> None:
        self.passage_count = passage_count
        self.numbers: dict[int, int] = {}
        self._pending = ""

    def _number(self, number: int) -> int | None:
        if not 1 <= number <= self.passage_count:
            return None
        return self.numbers.setdefault(number, len(self.numbers) + 1)

    def renumber(self, text: str) -> str:
        return tidy_markers(text, self._number)

    def feed(self, piece: str) -> str:
        """Renumber streamed text like the whole text. Text is let through up to the start of its last
        word (after white space): what follows it (punctuation, markers, a marker cut in two) waits
        until the next word shows how it ends."""
        text = self._pending + piece
        cuts = [match.start() for match in _SAFE_CUT.finditer(text)]
        start = cuts[-1] if cuts else 0
        if len(text) - start > _LONGEST_TAIL:
            start = len(text)
        text, self._pending = text[:start], text[start:]
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
