"""Conversation history and the rule that makes a follow-up question stand on its own."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Turn:
    role: Literal["user", "assistant"]
    content: str


HistoryLike = Sequence[Turn | Mapping[str, str] | tuple[str, str]]

_FOLLOW_UP = re.compile(
    r"^(and|but|also|what about|how about|why|so|then)\b|\b(it|its|they|them|their|he|him|his|she|her|that|this|"
    r"those|these|there)\b",
    re.IGNORECASE,
)


def as_turns(history: HistoryLike | None) -> list[Turn]:
    """Accepts Turns, {"role", "content"} dicts or (role, content) pairs."""
    turns: list[Turn] = []
    for item in history or []:
        if isinstance(item, Turn):
            turns.append(item)
        elif isinstance(item, Mapping):
            turns.append(Turn(item["role"], item["content"]))  # type: ignore[arg-type]
        else:
            role, content = item
            turns.append(Turn(role, content))  # type: ignore[arg-type]
    for turn in turns:
        if turn.role not in ("user", "assistant"):
            raise ValueError(f"history role must be 'user' or 'assistant', not {turn.role!r}")
    return turns


def looks_like_follow_up(question: str) -> bool:
    """A short question, or one that starts like a follow-up or refers back ("it", "they", "that")."""
    return len(question.split()) <= 6 or bool(_FOLLOW_UP.search(question))


def standalone_question(question: str, history: HistoryLike | None) -> str:
    """Without an LLM: a short or pronoun-led follow-up is joined to the previous question."""
    previous = [turn.content for turn in as_turns(history) if turn.role == "user"]
    if not previous:
        return question
    if looks_like_follow_up(question):
        return f"{previous[-1]} {question}"
    return question
