"""Timelines, conflicting reports and freshness with the real local model (Qwen2.5-Coder-1.5B-Instruct).

Three questions reach the model (it is slow on a CPU); the fourth must not. The fixture stories are those of
tests/test_news_features.py (written for the tests, not real news). Skipped without llama-cpp-python.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_news_features import AS_OF, STORIES, TRAM, check_tram_timeline

from assistant.answering.answerers import build_answerer
from assistant.answering.answerers.chat import ChatAnswerer
from assistant.answering.answerers.gguf import default_model_path
from assistant.chain import NewsAssistant
from assistant.config import Settings
from assistant.encoders.embeddings import MiniLMEmbeddings
from assistant.retrieval.retriever import Retriever, retrieval_settings
from assistant.store.chunk_store import build_store
from ingest.loaders import load_paths
from ingest.pipeline import Ingestor

pytest.importorskip("llama_cpp")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The default model assembled (and checked) once for this module, removed afterwards."""
    data_dir = tmp_path_factory.mktemp("model")
    yield default_model_path(data_dir)
    shutil.rmtree(data_dir / "models", ignore_errors=True)


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory, model_path: Path, encoder: MiniLMEmbeddings) -> NewsAssistant:
    settings = Settings(data_dir=tmp_path_factory.mktemp("stories-local"), llm_provider="local",  # type: ignore[call-arg]
                        local_model_path=model_path, _env_file=None)
    store = build_store(settings, encoder)
    report = Ingestor(store, encoder).ingest(load_paths(sorted(STORIES.glob("*.txt")), 10**7))
    assert (report.new, report.failed) == (12, 0)
    news = NewsAssistant(settings, encoder, store, Retriever(store, encoder, retrieval_settings(settings)),
                         build_answerer(settings, encoder))
    assert isinstance(news.answerer, ChatAnswerer)
    return news


def test_timeline_with_the_model_overview(local: NewsAssistant) -> None:
    result = local.answer(TRAM, as_of=AS_OF)
    check_tram_timeline(result)  # the entries come from the passages, whatever the model writes
    overview = result.text.split("\n\n")[0]
    if not overview.startswith("14 January 2025: "):  # the model's overview, checked like any answer
        assert "[" in overview and all(f"[{c.n}]" in result.text for c in result.citations)
    assert result.backend.startswith("local")


def test_reports_that_differ_with_the_model(local: NewsAssistant) -> None:
    result = local.answer("How many people died in the Lowmere floods?", as_of=AS_OF)
    assert result.found and result.citations
    [conflict] = result.conflicts
    assert [side.value for side in conflict.sides] == ["12 dead", "15 dead"]
    assert [side.source for side in conflict.sides] == ["Valley Post", "Harbour Times"]
    assert result.text.endswith(conflict.sentence)
    assert result.freshness is not None and result.freshness.sentence == \
        "Based on articles published up to 3 March 2026."


def test_old_news_is_marked_with_the_model(local: NewsAssistant) -> None:
    result = local.answer("Why did the Skerrow ferry crews strike?", as_of=AS_OF)
    assert result.found and "pay" in result.text.lower()
    assert result.freshness is not None and result.freshness.stale
    assert result.freshness.sentence.endswith("299 days before 5 March 2026: the news may have moved on since.")


def test_this_week_with_only_old_news_never_asks_the_model(local: NewsAssistant,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def no_model(*args: Any, **kwargs: Any) -> Iterator[Any]:
        raise AssertionError("the model was asked")

    monkeypatch.setattr(local.answerer, "stream", no_model)
    result = local.answer("What happened with the Skerrow ferry strike this week?", as_of=AS_OF)
    assert not result.found and result.text.startswith("I found no article published this week")
