"""Newsdesk: answers about your news articles, each claim citing its passage.

    from assistant import answer, retrieve
    result = answer("When did North Korea first test a nuclear weapon?", k=5)
    story = answer("How did the Brennford tram project unfold?", mode="timeline")  # story.timeline: dated events
    saved = follow("How many people died in the Lowmere floods?")  # updates(): the followed answers that changed

`assistant.following` is the package of follows: its `following()` (a user's follows) is imported from there.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.chain import NewsAssistant, answer, retrieve, stream_answer
    from assistant.filters import Filters
    from assistant.answering.history import Turn
    from assistant.following import (
        LOCAL_USER,
        CheckReport,
        FollowChange,
        Followed,
        check_follows,
        follow,
        mark_seen,
        unfollow,
        updates,
    )
    from assistant.types import Answer, Article, Citation, Conflict, Freshness, Passage, TimelineEntry

_HOMES = {"NewsAssistant": "chain", "answer": "chain", "retrieve": "chain", "stream_answer": "chain",
          "Filters": "filters", "Turn": "answering.history", **dict.fromkeys(
              ("Answer", "Article", "Citation", "Conflict", "Freshness", "Passage", "TimelineEntry"), "types"),
          **dict.fromkeys(("LOCAL_USER", "CheckReport", "FollowChange", "Followed", "check_follows", "follow",
                           "mark_seen", "unfollow", "updates"), "following")}
__all__ = ["LOCAL_USER", "Answer", "Article", "CheckReport", "Citation", "Conflict", "Filters", "FollowChange",
           "Followed", "Freshness", "NewsAssistant", "Passage", "TimelineEntry", "Turn", "answer", "check_follows",
           "follow", "mark_seen", "retrieve", "stream_answer", "unfollow", "updates"]


def __getattr__(name: str) -> Any:
    """`from assistant import answer` imports the chain (LangChain, Chroma) on first use, so that
    `assistant.config` and the other light modules import without it (PEP 562)."""
    if name not in _HOMES:
        raise AttributeError(f"module 'assistant' has no attribute {name!r}")
    return getattr(import_module(f"assistant.{_HOMES[name]}"), name)
