"""Newsdesk: answers about your news articles, each claim citing its passage.

    from assistant import answer, retrieve
    result = answer("When did North Korea first test a nuclear weapon?", k=5)
    story = answer("How did the Brennford tram project unfold?", mode="timeline")  # story.timeline: dated events
"""

from assistant.chain import NewsAssistant, answer, retrieve, stream_answer
from assistant.filters import Filters
from assistant.history import Turn
from assistant.types import Answer, Article, Citation, Conflict, Freshness, Passage, TimelineEntry

__all__ = ["Answer", "Article", "Citation", "Conflict", "Filters", "Freshness", "NewsAssistant", "Passage",
           "TimelineEntry", "Turn", "answer", "retrieve", "stream_answer"]
