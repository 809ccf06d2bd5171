"""Newsdesk: answers about your news articles, each claim citing its passage.

    from assistant import answer, retrieve
    result = answer("When did North Korea first test a nuclear weapon?", k=5)
"""

from assistant.chain import NewsAssistant, answer, retrieve, stream_answer
from assistant.filters import Filters
from assistant.history import Turn
from assistant.types import Answer, Article, Citation, Passage

__all__ = ["Answer", "Article", "Citation", "Filters", "NewsAssistant", "Passage", "Turn", "answer", "retrieve",
           "stream_answer"]
