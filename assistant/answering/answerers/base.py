"""The one interface every answering backend implements: `Answerer`, what it can do (`Capabilities`), its `Draft`.

Every backend takes the same inputs: the question, the numbered passages and `as_of` (the date that
"today" means) to answer; the question, the conversation history and `as_of` to make a follow-up
standalone. What a backend can do beyond answering it declares in `capabilities`; the chain
(assistant/chain.py) reads those, never the backend's class.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date

from assistant.answering.history import Turn, standalone_question
from assistant.types import Passage

NOT_FOUND = "I could not find an answer to that in the stored articles."


@dataclass(frozen=True)
class Draft:
    """An answer as a backend wrote it: `[n]` markers refer to `passages[n-1]` as given to it."""

    text: str
    quotes: dict[int, str] = field(default_factory=dict)
    """Passage number -> the sentence of that passage that supports the claim citing it."""
    found: bool = True


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do besides answering from passages; the defaults are what every backend does."""

    rewrites_follow_ups: bool = False
    """`standalone_question` rewrites a follow-up itself (with its model). False: the chain joins a follow-up
    to the previous question by the history rule (assistant/answering/history.py) and never asks the backend."""
    writes_timeline_overview: bool = False
    """A timeline gets the backend's answer over the timeline's passages as a short overview above its
    entries. False: a timeline is its entries alone and the backend is not asked."""


class Answerer(ABC):
    """Writes an answer from numbered passages; subclasses implement `stream` and declare `capabilities`."""

    name: str
    """Shown as the answer's backend (Answer.backend) and in the chat's sidebar."""
    capabilities: Capabilities = Capabilities()

    @abstractmethod
    def stream(self, question: str, passages: Sequence[Passage], as_of: date | None = None) -> Iterator[str | Draft]:
        """Pieces of text as they are written, then the finished Draft. `as_of` (default today) is the
        date that "today" means; a backend without a sense of dates ignores it."""

    def draft(self, question: str, passages: Sequence[Passage], as_of: date | None = None) -> Draft:
        """The finished Draft of `stream`."""
        *_, result = self.stream(question, passages, as_of)
        if not isinstance(result, Draft):
            raise TypeError(f"{self.name} backend: stream() must end with a Draft, not {type(result).__name__}")
        return result

    def standalone_question(self, question: str, history: Sequence[Turn], as_of: date | None = None) -> str:
        """A follow-up made standalone; here by the history rule (backends that rewrite it override this
        and declare `rewrites_follow_ups`)."""
        return standalone_question(question, history)
