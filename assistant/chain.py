"""The retrieval chain (LCEL): follow-up rewriting -> retrieval -> answering -> citations."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import cached_property, lru_cache
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from assistant.answerers import NOT_FOUND, Answerer, Draft, build_answerer
from assistant.answerers.chat import ChatAnswerer
from assistant.citations import MarkerNumbering, resolve_citations
from assistant.config import Settings, get_settings
from assistant.embeddings import TextEncoder, build_embeddings
from assistant.filters import Filters, parse_filters
from assistant.history import HistoryLike, as_turns, standalone_question
from assistant.retrieval import Retriever, retrieval_settings
from assistant.store import ChunkStore, build_store
from assistant.types import Answer, Passage
from assistant.verification import CitationVerifier


@dataclass
class NewsAssistant:
    """Everything needed to answer: built once per process from settings, then shared."""

    settings: Settings
    encoder: TextEncoder
    store: ChunkStore
    retriever: Retriever
    answerer: Answerer

    @classmethod
    def from_settings(cls, settings: Settings) -> NewsAssistant:
        encoder = build_embeddings(settings)
        store = build_store(settings, encoder)
        return cls(settings, encoder, store, Retriever(store, encoder, retrieval_settings(settings)),
                   build_answerer(settings, encoder))

    def retrieval_chain(self) -> Runnable[dict[str, Any], dict[str, Any]]:
        """{"question", "history", "k", "filters"} -> the same plus "standalone" and "passages"."""
        return RunnablePassthrough.assign(
            standalone=RunnableLambda(self._standalone)
        ) | RunnablePassthrough.assign(
            passages=RunnableLambda(lambda x: self.retriever.retrieve(x["standalone"], x["k"], x["filters"], x["as_of"]))
        )

    def answer_chain(self) -> Runnable[dict[str, Any], Answer]:
        return self.retrieval_chain() | RunnablePassthrough.assign(
            draft=RunnableLambda(self._draft)
        ) | RunnableLambda(self._finish)

    @cached_property
    def verifier(self) -> CitationVerifier:
        return CitationVerifier(self.encoder, self.settings.citation_min_support)

    def _standalone(self, state: dict[str, Any]) -> str:
        """A follow-up made standalone: by the LLM when the backend has one, else by the history rule."""
        if isinstance(self.answerer, ChatAnswerer) and state.get("history"):
            return self.answerer.standalone_question(state["question"], as_turns(state["history"]), state["as_of"])
        return standalone_question(state["question"], state.get("history"))

    def _draft(self, state: dict[str, Any]) -> Draft:
        *_, draft = self._stream(state)
        assert isinstance(draft, Draft)
        return draft

    def _stream(self, state: dict[str, Any]) -> Iterator[str | Draft]:
        """The backend's pieces then its Draft; LLM backends also get the date that "today" means."""
        if isinstance(self.answerer, ChatAnswerer):
            return self.answerer.stream(state["standalone"], state["passages"], state["as_of"])
        return self.answerer.stream(state["standalone"], state["passages"])

    def _inputs(self, question: str, k: int | None, history: HistoryLike | None,
                filters: Filters | dict[str, Any] | None, as_of: date | None) -> dict[str, Any]:
        if not question or not question.strip():
            raise ValueError("question is empty")
        if len(question.strip()) > self.settings.max_question_chars:
            raise ValueError(f"question is {len(question.strip()):,} characters, over the "
                             f"{self.settings.max_question_chars:,} limit (MAX_QUESTION_CHARS)")
        return {"question": question.strip(), "history": history, "k": k or self.settings.top_k,
                "filters": parse_filters(filters), "as_of": as_of or date.today()}

    def _finish(self, state: dict[str, Any]) -> Answer:
        """Check the draft's citations against the passages, then number them 1, 2, ... in order of use.

        A draft none of whose sentences a passage supports becomes the not-found answer (its
        sentences are kept in `unsupported`).
        """
        draft: Draft = state["draft"]
        text, quotes, unsupported = draft.text, draft.quotes, []
        if draft.found:
            verified = self.verifier.verify(draft.text, state["passages"], draft.quotes, state["standalone"])
            text, quotes, unsupported = verified.text, verified.quotes, verified.unsupported
            if not quotes:
                text = NOT_FOUND
        text, citations = resolve_citations(text, state["passages"], quotes)
        return Answer(question=state["question"], text=text, citations=citations, passages=state["passages"],
                      backend=self.answerer.name, found=draft.found and bool(citations), unsupported=unsupported)

    def retrieve(self, question: str, k: int = 10, filters: Filters | dict[str, Any] | None = None,
                 as_of: date | None = None) -> list[Passage]:
        return self.retriever.retrieve(question, k, filters, as_of)

    def answer(self, question: str, k: int | None = None, history: HistoryLike | None = None,
               filters: Filters | dict[str, Any] | None = None, as_of: date | None = None) -> Answer:
        return self.answer_chain().invoke(self._inputs(question, k, history, filters, as_of))

    def stream_answer(self, question: str, k: int | None = None, history: HistoryLike | None = None,
                      filters: Filters | dict[str, Any] | None = None,
                      as_of: date | None = None) -> Iterator[str | Answer]:
        """Text pieces as the backend writes them, then the finished Answer."""
        state = self.retrieval_chain().invoke(self._inputs(question, k, history, filters, as_of))
        numbering = MarkerNumbering(len(state["passages"]))
        for piece in self._stream(state):
            text = numbering.flush() if isinstance(piece, Draft) else numbering.feed(piece)
            if text:
                yield text
            if isinstance(piece, Draft):
                yield self._finish({**state, "draft": piece})


@lru_cache(maxsize=1)
def default_assistant() -> NewsAssistant:
    """The process-wide assistant for the module-level functions, built on first use."""
    return NewsAssistant.from_settings(get_settings())


def answer(question: str, k: int | None = None, history: HistoryLike | None = None,
           filters: Filters | dict[str, Any] | None = None, as_of: date | None = None) -> Answer:
    """Answer a question from the stored articles, citing the passages used.

    `as_of` (default today) is the date that "this week" or "yesterday" in the question refer to.
    """
    return default_assistant().answer(question, k, history, filters, as_of)


def stream_answer(question: str, k: int | None = None, history: HistoryLike | None = None,
                  filters: Filters | dict[str, Any] | None = None,
                  as_of: date | None = None) -> Iterator[str | Answer]:
    """Text pieces as they are written, then the finished Answer."""
    return default_assistant().stream_answer(question, k, history, filters, as_of)


def retrieve(question: str, k: int = 10, filters: Filters | dict[str, Any] | None = None,
             as_of: date | None = None) -> list[Passage]:
    """The k passages most relevant to the question, best first."""
    return default_assistant().retrieve(question, k, filters, as_of)
