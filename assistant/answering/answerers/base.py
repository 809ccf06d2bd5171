"""The one interface every answering backend implements."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from assistant.types import Passage

NOT_FOUND = "I could not find an answer to that in the stored articles."


@dataclass(frozen=True)
class Draft:
    """An answer as a backend wrote it: `[n]` markers refer to `passages[n-1]` as given to it."""

    text: str
    quotes: dict[int, str] = field(default_factory=dict)
    """Passage number -> the sentence of that passage that supports the claim citing it."""
    found: bool = True


class Answerer(Protocol):
    """Writes an answer from numbered passages."""

    name: str

    def draft(self, question: str, passages: Sequence[Passage]) -> Draft: ...

    def stream(self, question: str, passages: Sequence[Passage]) -> Iterator[str | Draft]:
        """Pieces of text as they are written, then the finished Draft."""
        ...
