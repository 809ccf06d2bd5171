"""Loads the web app's models in the background, so its pages are usable at once.

One `Warmup` per server process, shared by every session through `st.cache_resource`
(ui/resources.py): started by `python -m ui` (ui/__main__.py) while the server starts, else on the first
page run. Its thread opens the article store, then loads the embedding model, then the answering
backend (the local model takes seconds). Pages draw as soon as
the store is open (`opened`: an assistant whose answerer is a `LoadingAnswerer` still; searching,
listing and ingesting work with it); a question asked before `done` waits for `assistant` with a
visible status (ui/chat.py), and the sidebar says what is loading (ui/app.py). No Streamlit here.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from typing import TYPE_CHECKING, TypeVar

from assistant.answering.answerers.base import Answerer  # light: no LangChain, no settings

if TYPE_CHECKING:  # imported by the loading thread: `python -m ui` starts it before the server serves
    from assistant.answering.answerers import BackendError, Draft
    from assistant.chain import NewsAssistant
    from assistant.config import Settings
    from assistant.types import Passage

logger = logging.getLogger(__name__)
T = TypeVar("T")

OPENING_STORE = "Opening the article store…"
LOADING_ENCODER = "Loading the embedding model…"
LOADING_LLM = "Loading the language model…"
PREPARING_BACKEND = "Preparing the answering backend…"
LOADING_NICENESS = 10
"""How far below the server's the answering backend loads: the local model's loading takes seconds of one
core, which the first page run and the first browser would otherwise share with it."""


def at_lower_priority(make: Callable[[], T], niceness: int = LOADING_NICENESS) -> T:
    """`make()` in a thread of its own whose nice value is raised by `niceness` (Linux, where a thread has
    its own; elsewhere at the usual priority), so whatever this process serves meanwhile gets the CPU
    first, and a free CPU still loads at full speed. The thread ends with the call: the threads that
    answer later (a page run's, with the llama.cpp workers it starts) keep the usual priority."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        if sys.platform == "linux":  # elsewhere PRIO_PROCESS would read the thread id as a process id
            try:
                tid = threading.get_native_id()
                os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + niceness))
            except OSError as error:
                logger.info("loading at the usual priority: %s", error)
        try:
            outcome.append(make())
        except BaseException as error:  # re-raised in the caller's thread
            failure.append(error)

    thread = threading.Thread(target=run, name=f"{threading.current_thread().name}-low", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


class LoadingAnswerer(Answerer):
    """Stands in while the answering backend loads: pages that search, list or ingest use the assistant
    meanwhile; answering waits for the loaded one (ui/resources.ready_assistant), never calls this."""

    name = "loading"

    def draft(self, question: str, passages: Sequence[Passage], as_of: date | None = None) -> Draft:
        raise RuntimeError("the answering backend is still loading")

    def stream(self, question: str, passages: Sequence[Passage], as_of: date | None = None) -> Iterator[str | Draft]:
        raise RuntimeError("the answering backend is still loading")


class UnavailableAnswerer(Answerer):
    """Stands in for a backend that could not start: each answer raises its BackendError with the
    retrieved passages, so the chat shows the problem and the passages while the library still works."""

    def __init__(self, error: BackendError) -> None:
        self.error = error
        self.name = f"{error.backend} (unavailable)"

    def draft(self, question: str, passages: Sequence[Passage], as_of: date | None = None) -> Draft:
        raise self.error.with_passages(passages)

    def stream(self, question: str, passages: Sequence[Passage], as_of: date | None = None) -> Iterator[str | Draft]:
        raise self.error.with_passages(passages)


class Warmup:
    """The store, embedding model and answering backend of one process, loaded by one background thread.

    `store_ready` is set when the store is open (`opened`) or could not be (`store_error`); `done` when
    the models are loaded (`assistant`) or could not be (`model_error`; a backend that cannot start is
    not an error: `assistant` then answers with an UnavailableAnswerer, as the chat always did).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stage = OPENING_STORE
        self.opened: NewsAssistant | None = None
        self.assistant: NewsAssistant | None = None
        self.store_error: Exception | None = None
        self.model_error: Exception | None = None
        self.store_ready = threading.Event()
        self.done = threading.Event()
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._load, name="newsdesk-warmup", daemon=True)

    def start(self) -> Warmup:
        self._thread.start()
        return self

    @property
    def seconds(self) -> float:
        """Seconds since loading began."""
        return time.monotonic() - self.started

    def _load(self) -> None:
        settings = self.settings
        try:
            from assistant.answering.answerers import BackendError
            from assistant.chain import NewsAssistant
            from assistant.encoders.embeddings import build_embeddings
            from assistant.retrieval.retriever import Retriever, retrieval_settings
            from assistant.store.chunk_store import build_store

            encoder = build_embeddings(settings)  # the model itself loads on first use, below
            store = build_store(settings, encoder)
            store.count_articles()  # a store that cannot be reached fails here
        except Exception as error:
            logger.exception("could not open the article store")
            self.store_error = error
            self.store_ready.set()
            self.done.set()
            return
        self.opened = NewsAssistant(settings, encoder, store, Retriever(store, encoder, retrieval_settings(settings)),
                                    LoadingAnswerer())
        self.store_ready.set()
        logger.info("article store open after %.1f s; loading the models in the background", self.seconds)
        try:
            self.stage = LOADING_ENCODER
            encoder.encode(["warm up"])  # once, here, rather than in whichever session asks first
            self.stage = LOADING_LLM if settings.llm_provider in ("auto", "local") else PREPARING_BACKEND
            try:
                self.assistant = at_lower_priority(lambda: NewsAssistant.from_settings(settings, encoder, store))
            except BackendError as error:
                logger.error("the answering backend could not start: %s", error)
                self.assistant = dataclasses.replace(self.opened, answerer=UnavailableAnswerer(error))
            logger.info("models loaded after %.1f s (%s)", self.seconds, self.assistant.answerer.name)
        except Exception as error:
            logger.exception("could not load the models")
            self.model_error = error
        finally:
            self.done.set()


_LAUNCHED: list[Warmup] = []


def start_at_launch(settings: Settings) -> Warmup:
    """Start this process's loader before the web server serves (ui/__main__.py)."""
    loader = Warmup(settings).start()
    _LAUNCHED.append(loader)
    return loader


def take_launched() -> Warmup | None:
    """The loader started at launch, handed out once (ui/resources.py caches it; should it fail and be
    cleared, the next page run starts a new one), or None."""
    return _LAUNCHED.pop() if _LAUNCHED else None
