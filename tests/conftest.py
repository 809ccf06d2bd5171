"""Shared fixtures: the real MiniLM model (loaded once), fixture articles, temporary stores."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from assistant.chain import NewsAssistant
from assistant.config import Settings
from assistant.embeddings import MiniLMEmbeddings

FIXTURES = Path(__file__).parent / "fixtures"
# These tests exercise the extractive answerer (LLM_PROVIDER defaults to `auto`, the local model
# when installed); tests/test_llm_*.py choose their backend explicitly.
os.environ["LLM_PROVIDER"] = "extractive"


@pytest.fixture(scope="session")
def encoder() -> MiniLMEmbeddings:
    model = MiniLMEmbeddings()
    model.encode(["load the model once per test session"])
    return model


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES / "articles"


@pytest.fixture(scope="session")
def expected() -> list[dict[str, Any]]:
    return json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))


def make_assistant(settings: Settings, encoder: MiniLMEmbeddings) -> NewsAssistant:
    """A NewsAssistant on the given settings that reuses the already loaded model."""
    from assistant.answerers import build_answerer
    from assistant.retrieval import Retriever, retrieval_settings
    from assistant.store import build_store

    store = build_store(settings, encoder)
    return NewsAssistant(settings, encoder, store, Retriever(store, encoder, retrieval_settings(settings)), build_answerer(settings, encoder))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def news(settings: Settings, encoder: MiniLMEmbeddings) -> NewsAssistant:
    return make_assistant(settings, encoder)
