"""The retrieval chain (LCEL): follow-up rewriting -> retrieval -> answering -> citations.

Modes: "answer" (a few cited sentences), "timeline" (dated events, oldest first: assistant/news/timeline.py),
"auto" (a timeline when the question asks for one). Every answer also reports conflicting reports
(assistant/news/conflicts.py) and how current it is (assistant/news/freshness.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import cached_property, lru_cache
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from assistant.answering.answerers import NOT_FOUND, Answerer, Draft, build_answerer
from assistant.answering.citations import MarkerNumbering, resolve_citations
from assistant.config import Settings, get_settings
from assistant.news.conflicts import Disagreement, as_conflicts, find_conflicts
from assistant.encoders.embeddings import TextEncoder, build_embeddings
from assistant.filters import Filters, parse_filters
from assistant.news.freshness import asked_period, assess, no_news_text, period_without_news
from assistant.answering.history import HistoryLike, as_turns, standalone_question
from assistant.retrieval.retriever import Retriever, retrieval_settings
from assistant.store.chunk_store import ChunkStore, build_store
from assistant.news.timeline import (
    Event,
    build_events,
    is_timeline_question,
    spread_over_time,
    timeline_text,
    timeline_topic,
    timeline_window,
)
from assistant.types import Answer, Citation, Passage, TimelineEntry
from assistant.answering.verification import CitationVerifier

MODES = ("auto", "answer", "timeline")
"""`mode` of answer(): auto = a timeline when the question asks for one ("How did X unfold?"), else an answer."""


@dataclass
class NewsAssistant:
    """Everything needed to answer: built once per process from settings, then shared."""

    settings: Settings
    encoder: TextEncoder
    store: ChunkStore
    retriever: Retriever
    answerer: Answerer

    @classmethod
    def from_settings(cls, settings: Settings, encoder: TextEncoder | None = None,
                      store: ChunkStore | None = None) -> NewsAssistant:
        """`encoder` and `store`, when given, are used instead of new ones (the web app opens the store first)."""
        encoder = build_embeddings(settings) if encoder is None else encoder
        store = build_store(settings, encoder) if store is None else store
        return cls(settings, encoder, store, Retriever(store, encoder, retrieval_settings(settings)),
                   build_answerer(settings, encoder))

    def retrieval_chain(self) -> Runnable[dict[str, Any], dict[str, Any]]:
        """{"question", "history", "k", "filters", "as_of", "mode"} -> the same plus "standalone", the mode
        decided ("answer" or "timeline"), "passages", "gap" (the recent period asked about when no relevant
        article is from it) and "events" (a timeline's entries)."""
        return RunnablePassthrough.assign(
            standalone=RunnableLambda(self._standalone)
        ) | RunnablePassthrough.assign(
            mode=RunnableLambda(lambda x: _decide_mode(x["mode"], x["standalone"]))
        ) | RunnablePassthrough.assign(
            passages=RunnableLambda(self._retrieve)
        ) | RunnablePassthrough.assign(
            gap=RunnableLambda(lambda x: period_without_news(x["standalone"], x["passages"], x["as_of"],
                                                             self.settings.min_relevance))
        ) | RunnablePassthrough.assign(events=RunnableLambda(self._events))

    def _retrieve(self, state: dict[str, Any]) -> list[Passage]:
        """The passages to answer from; for a timeline, many more, spread over as many days as possible."""
        if state["mode"] != "timeline":
            return self.retriever.retrieve(state.get("search") or state["standalone"], state["k"], state["filters"],
                                           state["as_of"])
        filters: Filters = state["filters"]
        window = timeline_window(state["standalone"], state["as_of"])
        if window is not None:  # reports of the period's events: published from its start on
            filters = filters.model_copy(update={"date_from": max(filters.date_from or window.start, window.start)})
        # a timeline as of a day holds the reports published by then
        filters = filters.model_copy(update={"date_to": min(filters.date_to or state["as_of"], state["as_of"])})
        passages = self.settings.timeline_passages
        pool = self.retriever.retrieve(timeline_topic(state["standalone"]), 3 * passages, filters, state["as_of"])
        return spread_over_time(pool, passages, self.settings.min_relevance)

    def _events(self, state: dict[str, Any]) -> list[Event]:
        if state["mode"] != "timeline" or state["gap"] is not None:
            return []
        return build_events(timeline_topic(state["standalone"]), state["passages"], self.encoder,
                            timeline_window(state["standalone"], state["as_of"]))

    def answer_chain(self) -> Runnable[dict[str, Any], Answer]:
        return self.retrieval_chain() | RunnablePassthrough.assign(
            draft=RunnableLambda(self._draft)
        ) | RunnableLambda(self._finish)

    @cached_property
    def verifier(self) -> CitationVerifier:
        return CitationVerifier(self.encoder, self.settings.citation_min_support)

    def _standalone(self, state: dict[str, Any]) -> str:
        """A follow-up made standalone: by the backend when it declares it rewrites follow-ups (an LLM),
        else by the history rule."""
        if self.answerer.capabilities.rewrites_follow_ups and state.get("history"):
            return self.answerer.standalone_question(state["question"], as_turns(state["history"]), state["as_of"])
        return standalone_question(state["question"], state.get("history"))

    def _draft(self, state: dict[str, Any]) -> Draft:
        *_, draft = self._stream(state)
        assert isinstance(draft, Draft)
        return draft

    def _stream(self, state: dict[str, Any]) -> Iterator[str | Draft]:
        """The answer's pieces then its Draft: the backend's answer; for a timeline, its entries after the
        backend's overview (backends that declare they write one); for a recent period without articles,
        the sentence saying so."""
        if state["gap"] is not None:
            text = no_news_text(state["gap"], state["passages"], self.settings.min_relevance)
            return iter([text, Draft(text, found=False)])
        if state["mode"] == "timeline":
            return self._stream_timeline(state)
        return self._stream_backend(state)

    def _stream_backend(self, state: dict[str, Any]) -> Iterator[str | Draft]:
        """The backend's pieces then its Draft, given the date that "today" means."""
        return self.answerer.stream(state["standalone"], state["passages"], state["as_of"])

    def _stream_timeline(self, state: dict[str, Any]) -> Iterator[str | Draft]:
        events: list[Event] = state["events"]
        if not events:
            yield NOT_FOUND
            yield Draft(NOT_FOUND, found=False)
            return
        overview = ""
        if self.answerer.capabilities.writes_timeline_overview:  # a short overview above the entries
            for piece in self._stream_backend(state):
                if isinstance(piece, Draft):
                    overview = piece.text.strip() if piece.found else ""
                else:
                    yield piece
            yield "\n\n"
        block = timeline_text(events)
        yield block
        quotes = {number: quote for event in events for number, quote in event.quotes.items()}
        yield Draft(f"{overview}\n\n{block}" if overview else block, quotes)

    def _inputs(self, question: str, k: int | None, history: HistoryLike | None,
                filters: Filters | dict[str, Any] | None, as_of: date | None, mode: str = "auto") -> dict[str, Any]:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if not question or not question.strip():
            raise ValueError("question is empty")
        if len(question.strip()) > self.settings.max_question_chars:
            raise ValueError(f"question is {len(question.strip()):,} characters, over the "
                             f"{self.settings.max_question_chars:,} limit (MAX_QUESTION_CHARS)")
        return {"question": question.strip(), "history": history, "k": k or self.settings.top_k,
                "filters": parse_filters(filters), "as_of": as_of or date.today(), "mode": mode}

    def _finish(self, state: dict[str, Any]) -> Answer:
        """Check the draft's citations against the passages, then number them 1, 2, ... in order of use.

        A draft none of whose sentences a passage supports becomes the not-found answer (its
        sentences are kept in `unsupported`). Then the passages' disagreements on what the answer states
        are added ("Reports differ: ..."), and how current the answer is.
        """
        draft: Draft = state["draft"]
        passages: list[Passage] = state["passages"]
        if state["gap"] is not None:
            return self._answer(state, draft.text, [], found=False)
        if state["mode"] == "timeline" and draft.found:
            return self._finish_timeline(state)
        text, quotes, unsupported = draft.text, dict(draft.quotes), []
        if draft.found:
            verified = self.verifier.verify(draft.text, passages, draft.quotes, state["standalone"])
            text, quotes, unsupported = verified.text, dict(verified.quotes), verified.unsupported
            if not quotes:
                text = NOT_FOUND
        disagreements = find_conflicts(passages, quotes, self._relevant(passages), state["standalone"]) \
            if quotes else []
        text = _with_conflicts(text, disagreements, quotes)
        text, citations = resolve_citations(text, passages, quotes)
        return self._answer(state, text, citations, found=draft.found and bool(citations), unsupported=unsupported,
                            disagreements=disagreements)

    def _finish_timeline(self, state: dict[str, Any]) -> Answer:
        """The LLM's overview checked like any answer, then the entries (quoted, so checked by construction)
        and the disagreements between the reports of each entry."""
        draft: Draft = state["draft"]
        passages: list[Passage] = state["passages"]
        events: list[Event] = state["events"]
        block = timeline_text(events)
        overview = draft.text[: -len(block)].strip() if draft.text.endswith(block) else ""
        quotes = {number: quote for event in events for number, quote in event.quotes.items()}
        unsupported: list[str] = []
        if overview:
            verified = self.verifier.verify(overview, passages, {}, state["standalone"])
            overview, unsupported = (verified.text if verified.quotes else ""), verified.unsupported
            for number, quote in verified.quotes.items():
                quotes.setdefault(number, quote)
        disagreements = [disagreement for event in events if len(event.numbers) > 1
                         for disagreement in find_conflicts(passages, event.quotes, event.numbers)]
        text = _with_conflicts("\n\n".join(part for part in (overview, block) if part), disagreements, quotes)
        text, citations = resolve_citations(text, passages, quotes)
        citation_of = _citation_numbers(citations, passages)
        timeline = [TimelineEntry(event.day.isoformat(), event.label, event.text,
                                  tuple(citation_of[number] for number in event.numbers if number in citation_of),
                                  event.dated_by) for event in events]
        return self._answer(state, text, citations, found=True, unsupported=unsupported,
                            disagreements=disagreements, timeline=timeline)

    def _relevant(self, passages: list[Passage]) -> list[int]:
        """Numbers (1-based) of the passages relevant enough to answer from."""
        return [number for number, passage in enumerate(passages, start=1)
                if passage.score >= self.settings.min_relevance]

    def _answer(self, state: dict[str, Any], text: str, citations: list[Citation], *, found: bool,
                unsupported: list[str] | None = None, disagreements: list[Disagreement] | None = None,
                timeline: list[TimelineEntry] | None = None) -> Answer:
        """The Answer, with its conflicts numbered like its citations and how current it is."""
        passages: list[Passage] = state["passages"]
        conflicts = as_conflicts(disagreements or [], passages, _citation_numbers(citations, passages))
        relevant = [passages[number - 1] for number in self._relevant(passages)] or passages
        dates = [citation.published for citation in citations] if found else [p.published for p in relevant]
        freshness = assess(dates, state["as_of"], self.settings.stale_days, found=found,
                           period=state["gap"] or asked_period(state["standalone"], state["as_of"]),
                           window_empty=state["gap"] is not None)
        return Answer(question=state["question"], text=text, citations=citations, passages=passages,
                      backend=self.answerer.name, found=found, unsupported=unsupported or [],
                      mode=state["mode"], timeline=timeline or [], conflicts=conflicts, freshness=freshness)

    def retrieve(self, question: str, k: int = 10, filters: Filters | dict[str, Any] | None = None,
                 as_of: date | None = None) -> list[Passage]:
        return self.retriever.retrieve(question, k, filters, as_of)

    def answer(self, question: str, k: int | None = None, history: HistoryLike | None = None,
               filters: Filters | dict[str, Any] | None = None, as_of: date | None = None,
               mode: str = "auto", search: str | None = None) -> Answer:
        """`search`: what to search the articles for, when it is not the question itself (e.g. a question
        with answer options appended, whose options must not steer the search)."""
        return self.answer_chain().invoke({**self._inputs(question, k, history, filters, as_of, mode), "search": search})

    def stream_answer(self, question: str, k: int | None = None, history: HistoryLike | None = None,
                      filters: Filters | dict[str, Any] | None = None,
                      as_of: date | None = None, mode: str = "auto",
                      search: str | None = None) -> Iterator[str | Answer]:
        """Text pieces as the backend writes them, then the finished Answer."""
        state = self.retrieval_chain().invoke({**self._inputs(question, k, history, filters, as_of, mode),
                                               "search": search})
        numbering = MarkerNumbering(len(state["passages"]))
        for piece in self._stream(state):
            text = numbering.flush() if isinstance(piece, Draft) else numbering.feed(piece)
            if text:
                yield text
            if isinstance(piece, Draft):
                yield self._finish({**state, "draft": piece})


def _decide_mode(requested: str, question: str) -> str:
    if requested == "auto":
        return "timeline" if is_timeline_question(question) else "answer"
    return requested


def _with_conflicts(text: str, disagreements: list[Disagreement], quotes: dict[int, str]) -> str:
    """The text with a "Reports differ" sentence per disagreement (passage-number markers); each side's
    sentence becomes the quote of its passage when the answer cites that passage for nothing else."""
    for disagreement in disagreements:
        for number, _, sentence in disagreement.sides:
            quotes.setdefault(number, sentence)
    return "\n\n".join([text, *(disagreement.sentence() for disagreement in disagreements)])


def _citation_numbers(citations: list[Citation], passages: list[Passage]) -> dict[int, int]:
    """Passage number (1-based) -> the number of the citation made from it."""
    numbers = {}
    for citation in citations:
        for number, passage in enumerate(passages, start=1):
            if passage.article_id == citation.article_id and passage.text == citation.passage:
                numbers.setdefault(number, citation.n)
    return numbers


@lru_cache(maxsize=1)
def default_assistant() -> NewsAssistant:
    """The process-wide assistant for the module-level functions, built on first use."""
    return NewsAssistant.from_settings(get_settings())


def answer(question: str, k: int | None = None, history: HistoryLike | None = None,
           filters: Filters | dict[str, Any] | None = None, as_of: date | None = None,
           mode: str = "auto") -> Answer:
    """Answer a question from the stored articles, citing the passages used.

    `as_of` (default today) is the date that "this week" or "yesterday" in the question refer to, and
    the date the answer's freshness is judged against. `mode`: "answer", "timeline" (dated events,
    oldest first, in `Answer.timeline`) or "auto" (a timeline when the question asks how something
    unfolded). Disagreeing reports are in `Answer.conflicts`, how current it is in `Answer.freshness`.
    """
    return default_assistant().answer(question, k, history, filters, as_of, mode)


def stream_answer(question: str, k: int | None = None, history: HistoryLike | None = None,
                  filters: Filters | dict[str, Any] | None = None,
                  as_of: date | None = None, mode: str = "auto") -> Iterator[str | Answer]:
    """Text pieces as they are written, then the finished Answer."""
    return default_assistant().stream_answer(question, k, history, filters, as_of, mode)


def retrieve(question: str, k: int = 10, filters: Filters | dict[str, Any] | None = None,
             as_of: date | None = None) -> list[Passage]:
    """The k passages most relevant to the question, best first."""
    return default_assistant().retrieve(question, k, filters, as_of)
