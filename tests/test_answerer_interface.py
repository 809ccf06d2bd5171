"""The one answerer interface (assistant/answering/answerers/base.py): the chain gives every backend the same
inputs and asks it only for what its declared Capabilities say it does.

A recording fake backend (tests/fakes.py) over the fixture stories in an in-memory store with the fake
encoder: no model, no server.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fakes import FakeEncoder, RecordingAnswerer, memory_store

from assistant.answering.answerers import Answerer, Capabilities, Draft
from assistant.answering.answerers.chat import ChatAnswerer
from assistant.answering.answerers.extractive import ExtractiveAnswerer
from assistant.answering.history import Turn
from assistant.chain import NewsAssistant
from assistant.config import Settings
from assistant.retrieval.retriever import Retriever, retrieval_settings
from assistant.store.chunk_store import ChunkStore
from assistant.types import Answer
from ingest.loaders import load_paths
from ingest.pipeline import Ingestor

STORIES = Path(__file__).parent / "fixtures" / "stories"
AS_OF = date(2026, 3, 5)
HISTORY = [("user", "What did the Brennford tram project cost?"), ("assistant", "It cost 14 million pounds [1].")]
FOLLOW_UP = "And when did it open?"
TIMELINE = "How did the Brennford tram project unfold?"
Parts = tuple[Settings, FakeEncoder, ChunkStore]


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Parts:
    encoder = FakeEncoder()
    store = memory_store()
    report = Ingestor(store, encoder).ingest(load_paths([STORIES], 10**7))
    assert report.new > 0 and report.failed == 0, report
    # every passage counts as relevant: the fake encoder's similarities are arbitrary
    settings = Settings(data_dir=tmp_path_factory.mktemp("interface"), min_relevance=-1.0,  # type: ignore[call-arg]
                        _env_file=None)
    return settings, encoder, store


def news_with(answerer: Answerer, parts: Parts) -> NewsAssistant:
    settings, encoder, store = parts
    return NewsAssistant(settings, encoder, store, Retriever(store, encoder, retrieval_settings(settings)),
                         answerer)


def streamed_text(pieces: Iterator[str | Answer]) -> tuple[str, Answer]:
    *texts, answer = list(pieces)
    assert isinstance(answer, Answer) and all(isinstance(text, str) for text in texts)
    return "".join(str(text) for text in texts), answer


def test_a_backend_declaring_no_follow_up_rewriting_is_not_asked_and_gets_the_history_rule(parts: Parts) -> None:
    backend = RecordingAnswerer(Capabilities(rewrites_follow_ups=False))
    result = news_with(backend, parts).answer(FOLLOW_UP, k=3, history=HISTORY, as_of=AS_OF, mode="answer")
    assert backend.rewrites == []
    [(question, passages, as_of)] = backend.streamed
    assert question == f"{HISTORY[0][1]} {FOLLOW_UP}"  # joined to the previous question, not rewritten
    assert as_of == AS_OF and len(passages) == 3
    assert result.question == FOLLOW_UP and result.backend == "recording"


def test_a_backend_declaring_follow_up_rewriting_rewrites_and_answers_its_rewrite(parts: Parts) -> None:
    backend = RecordingAnswerer(Capabilities(rewrites_follow_ups=True), rewritten="When did the Brennford tram open?")
    news = news_with(backend, parts)
    news.answer(FOLLOW_UP, k=3, history=HISTORY, as_of=AS_OF, mode="answer")
    assert backend.rewrites == [(FOLLOW_UP, [Turn("user", HISTORY[0][1]), Turn("assistant", HISTORY[1][1])], AS_OF)]
    assert [question for question, _, _ in backend.streamed] == ["When did the Brennford tram open?"]
    news.answer(FOLLOW_UP, k=3, as_of=AS_OF, mode="answer")  # no history: nothing to rewrite
    assert len(backend.rewrites) == 1 and backend.streamed[-1][0] == FOLLOW_UP


def test_every_backend_gets_the_as_of_date(parts: Parts) -> None:
    for capabilities in (Capabilities(), Capabilities(rewrites_follow_ups=True, writes_timeline_overview=True)):
        backend = RecordingAnswerer(capabilities)
        text, result = streamed_text(news_with(backend, parts).stream_answer(
            "What did the tram cost?", k=2, as_of=AS_OF, mode="answer"))
        assert [as_of for _, _, as_of in backend.streamed] == [AS_OF]
        assert text.startswith("Recorded answer.") and not result.found


def test_a_timeline_has_the_backends_overview_only_when_it_declares_writing_one(parts: Parts) -> None:
    silent = RecordingAnswerer(Capabilities(writes_timeline_overview=False), pieces=["An overview."])
    text, result = streamed_text(news_with(silent, parts).stream_answer(TIMELINE, as_of=AS_OF, mode="timeline"))
    assert result.mode == "timeline" and result.timeline, "the fixture stories make a timeline"
    assert silent.streamed == [] and "An overview." not in text

    writer = RecordingAnswerer(Capabilities(writes_timeline_overview=True), pieces=["An overview."])
    text, result = streamed_text(news_with(writer, parts).stream_answer(TIMELINE, as_of=AS_OF, mode="timeline"))
    [(question, passages, as_of)] = writer.streamed
    assert question == TIMELINE and as_of == AS_OF and passages == result.passages
    assert text.startswith("An overview.\n\n") and len(text) > len("An overview.\n\n")


def test_the_shipped_backends_declare_what_they_do() -> None:
    encoder = FakeEncoder()
    assert ExtractiveAnswerer(encoder).capabilities == Capabilities()
    assert ChatAnswerer.capabilities == Capabilities(rewrites_follow_ups=True, writes_timeline_overview=True)


def test_the_interface_defaults_draft_from_stream_and_the_history_rule() -> None:
    class Minimal(Answerer):
        name = "minimal"

        def stream(self, question: str, passages: object, as_of: date | None = None) -> Iterator[str | Draft]:
            yield "Piece"
            yield Draft(f"{question} as of {as_of}")

    minimal = Minimal()
    assert minimal.capabilities == Capabilities(rewrites_follow_ups=False, writes_timeline_overview=False)
    assert minimal.draft("Q?", [], AS_OF) == Draft(f"Q? as of {AS_OF}")
    history = [Turn("user", "Where is the lighthouse?")]
    assert minimal.standalone_question("And how tall?", history) == "Where is the lighthouse? And how tall?"
    assert minimal.standalone_question("How tall is the Skerrow Island lighthouse now?", history) == \
        "How tall is the Skerrow Island lighthouse now?"

    class Broken(Answerer):
        name = "broken"

        def stream(self, question: str, passages: object, as_of: date | None = None) -> Iterator[str | Draft]:
            yield "no draft"

    with pytest.raises(TypeError, match="broken backend: stream\\(\\) must end with a Draft"):
        Broken().draft("Q?", [])
    with pytest.raises(TypeError):
        Answerer()  # type: ignore[abstract]
