"""What every browser session of this server process shares: the assistant, the store lock, the catalogue.

The assistant (embedding model, store, answering backend) and the lock are created once per
process with `st.cache_resource`; nothing is built at import time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import streamlit as st

from assistant.answerers import BackendError, Draft
from assistant.chain import NewsAssistant
from assistant.config import Settings, get_settings
from assistant.embeddings import build_embeddings
from assistant.retrieval import Retriever, retrieval_settings
from assistant.store import StoredArticle, build_store
from assistant.types import Passage

logger = logging.getLogger(__name__)


class StoreLock:
    """Uploads and deletes of this server process, one at a time (an upload reads the stored articles
    once for all its files). Answers never take it: every write goes through the store's own write
    lock (shared with ingest commands and other processes) and searches return only complete
    articles, so a question asked during an upload is answered at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._lock:
            yield


class UnavailableAnswerer:
    """Stands in for a backend that could not start: each answer raises its BackendError with the
    retrieved passages, so the chat shows the problem and the passages while the library still works."""

    def __init__(self, error: BackendError) -> None:
        self.error = error
        self.name = f"{error.backend} (unavailable)"

    def draft(self, question: str, passages: Sequence[Passage]) -> Draft:
        raise self.error.with_passages(passages)

    def stream(self, question: str, passages: Sequence[Passage]) -> Iterator[str | Draft]:
        raise self.error.with_passages(passages)


def _without_backend(settings: Settings, error: BackendError) -> NewsAssistant:
    encoder = build_embeddings(settings)
    store = build_store(settings, encoder)
    return NewsAssistant(settings, encoder, store, Retriever(store, encoder, retrieval_settings(settings)),
                         UnavailableAnswerer(error))


@st.cache_resource(show_spinner="Loading the models and opening the article store…")
def get_assistant() -> NewsAssistant:
    """The assistant shared by every session; a backend that cannot start leaves the rest usable."""
    settings = get_settings()
    try:
        news = NewsAssistant.from_settings(settings)
    except BackendError as error:
        logger.error("the answering backend could not start: %s", error)
        news = _without_backend(settings, error)
    # Load the embedding model now, once, rather than in whichever sessions ask first.
    news.encoder.encode(["warm up"])
    return news


@st.cache_resource
def store_lock() -> StoreLock:
    """Uploads and deletes of this process, one at a time (answers do not take it)."""
    return StoreLock()


def backend_unavailable(news: NewsAssistant) -> BackendError | None:
    """Why the answering backend could not start, or None when it did."""
    return news.answerer.error if isinstance(news.answerer, UnavailableAnswerer) else None


def catalogue(news: NewsAssistant) -> list[StoredArticle]:
    """Every stored article, newest first; read afresh whenever any process (this server, an ingest
    command, another app machine) has added, changed or deleted an article since."""
    return _catalogue(news, news.store.version())


@st.cache_data(show_spinner=False, max_entries=4)
def _catalogue(_news: NewsAssistant, version: tuple[int, int]) -> list[StoredArticle]:
    return _news.store.articles()


def refresh_catalogue() -> None:
    """After an ingest or delete: every session reads the catalogue (sources, dates, library) afresh."""
    _catalogue.clear()
