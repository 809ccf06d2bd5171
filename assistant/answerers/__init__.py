"""Answering backends, chosen by the `LLM_PROVIDER` setting."""

from __future__ import annotations

from assistant.answerers.base import NOT_FOUND, Answerer, Draft
from assistant.config import Settings
from assistant.embeddings import TextEncoder

__all__ = ["NOT_FOUND", "Answerer", "Draft", "build_answerer"]


def build_answerer(settings: Settings, encoder: TextEncoder) -> Answerer:
    """The backend named by LLM_PROVIDER; each is imported only when chosen."""
    if settings.llm_provider == "extractive":
        from assistant.answerers.extractive import ExtractiveAnswerer

        return ExtractiveAnswerer(encoder, settings.min_relevance, settings.max_answer_sentences)
    raise ValueError(f"LLM_PROVIDER={settings.llm_provider!r} is not a known backend")
