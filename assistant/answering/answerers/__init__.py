"""Answering backends, chosen by the `LLM_PROVIDER` setting through `build_answerer`.

Every backend is an `Answerer` (base.py): it takes the same inputs (question, passages, `as_of`; the
history to make a follow-up standalone) and declares what it can do in its `Capabilities` (rewrite
follow-ups, write a timeline's overview); callers read those, never a backend's class.
May import: the rest of `assistant.answering` below it (history, prompts), `assistant.encoders`,
`assistant.nlp` and the top-level `config`, `types`. Public names: `build_answerer`, `Answerer`,
`Capabilities`, `Draft`, `NOT_FOUND`, `BackendError`. Importing this package is light (no
LangChain, no settings): the web app's stand-in answerers (ui/warmup.py) subclass `Answerer`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from assistant.answering.answerers.base import NOT_FOUND, Answerer, Capabilities, Draft
from assistant.answering.answerers.errors import BackendError

if TYPE_CHECKING:
    from assistant.config import Settings
    from assistant.encoders.embeddings import TextEncoder

__all__ = ["LOCAL_NOT_INSTALLED", "NOT_FOUND", "Answerer", "BackendError", "Capabilities", "Draft",
           "build_answerer"]

logger = logging.getLogger(__name__)

LOCAL_NOT_INSTALLED = "local LLM not installed: pip install -r requirements-llm.txt"


def build_answerer(settings: Settings, encoder: TextEncoder) -> Answerer:
    """The backend named by LLM_PROVIDER; each is imported only when chosen.

    `auto` is the local model when llama-cpp-python is installed, else the extractive answerer,
    whose name then says why (it is shown as the answer's backend and in the chat's sidebar).
    """
    provider = settings.llm_provider
    if provider == "auto":
        from assistant.answering.answerers.llamacpp import import_llama_cpp

        try:
            import_llama_cpp()
        except ImportError:
            logger.warning("LLM_PROVIDER=auto: %s; answering extractively", LOCAL_NOT_INSTALLED)
            return _extractive(settings, encoder, note=LOCAL_NOT_INSTALLED)
        provider = "local"
    if provider == "extractive":
        return _extractive(settings, encoder)
    if provider in ("local", "ollama", "openai"):
        from assistant.answering.answerers.backends import chat_answerer

        return chat_answerer(provider, settings, encoder)
    raise ValueError(f"LLM_PROVIDER={settings.llm_provider!r} is not a known backend")


def _extractive(settings: Settings, encoder: TextEncoder, note: str = "") -> Answerer:
    from assistant.answering.answerers.extractive import ExtractiveAnswerer

    answerer = ExtractiveAnswerer(encoder, settings.min_relevance, settings.max_answer_sentences)
    if note:
        answerer.name = f"{answerer.name} ({note})"
    return answerer
