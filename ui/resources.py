"""What every browser session of this server process shares: the assistant, the store lock, the catalogue.

The assistant (embedding model, store, answering backend) is loaded once per process in the
background (ui/warmup.py: started while the server starts, by `python -m ui`, else on the first page
run, and shared through `st.cache_resource`), so pages draw as
soon as the store is open; the lock is created once per process too; nothing is built at import time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from assistant.answering.answerers import BackendError
from assistant.chain import NewsAssistant
from assistant.config import get_settings
from assistant.store.chunk_store import StoredArticle
from ui.warmup import OPENING_STORE, LoadingAnswerer, UnavailableAnswerer, Warmup, take_launched

logger = logging.getLogger(__name__)

WAITING = "Waiting for the model to finish loading…"


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


@st.cache_resource(show_spinner=False)
def warmup() -> Warmup:
    """This process's loader, shared by every session: the one started at launch, else one started now."""
    return take_launched() or Warmup(get_settings()).start()


def open_assistant() -> NewsAssistant:
    """The assistant as soon as the article store is open (waiting for that, with a spinner): the loaded
    one, or while the models load one whose answerer is a LoadingAnswerer (searching, listing and
    ingesting work; the chat waits with `ready_assistant`). A store that cannot be opened raises, and
    the next page run tries again."""
    loader = warmup()
    if not loader.store_ready.is_set():
        with st.spinner(OPENING_STORE):
            loader.store_ready.wait()
    if loader.store_error is not None:
        warmup.clear()
        raise loader.store_error
    news = loader.assistant or loader.opened
    assert news is not None
    return news


def get_assistant() -> NewsAssistant:
    """The loaded assistant shared by every session; waits (with a spinner) while the models load."""
    loader = warmup()
    if not loader.done.is_set():
        with st.spinner("Loading the models and opening the article store…"):
            loader.done.wait()
    if (error := loader.store_error or loader.model_error) is not None:
        warmup.clear()  # the next page run tries again
        raise error
    assert loader.assistant is not None
    return loader.assistant


def loading(news: NewsAssistant) -> bool:
    """Whether this assistant's answering backend was still loading when it was handed out."""
    return isinstance(news.answerer, LoadingAnswerer)


def ready_assistant(news: NewsAssistant) -> NewsAssistant:
    """`news` when its models are loaded; else waits for them with a visible status, then the loaded one."""
    if not loading(news):
        return news
    loader = warmup()
    if not loader.done.is_set():
        holder = st.empty()
        with holder.status(WAITING, expanded=False) as status:
            while not loader.done.wait(1.0):
                status.update(label=f"{WAITING} {loader.stage} ({loader.seconds:.0f} s)")
        holder.empty()
    return get_assistant()


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
