"""Shared fixtures: the real MiniLM model (loaded once), fixture articles, temporary stores."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.chain import NewsAssistant
from assistant.config import Settings
from assistant.encoders.embeddings import MiniLMEmbeddings

FIXTURES = Path(__file__).parent / "fixtures"
# These tests exercise the extractive answerer (LLM_PROVIDER defaults to `auto`, the local model
# when installed); tests/test_llm_*.py choose their backend explicitly.
os.environ["LLM_PROVIDER"] = "extractive"
# The processes these tests start (ingest commands, the web app) embed with torch, as the `encoder` fixture
# does, so no fresh DATA_DIR has to export the ONNX model first; tests/test_encoders.py runs the ONNX
# backends (the default) explicitly.
os.environ.setdefault("EMBEDDING_BACKEND", "torch")


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium for the browser tests: a missing one fails them in CI (CI set), else skips them."""
    from ui.browser import find_chromium

    path = find_chromium()
    if path is None:
        message = "Chromium not found: install Debian's chromium package (.ci/run does) or set CHROMIUM"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    """Headless Chromium driven by Playwright, one per test module."""
    from playwright.sync_api import sync_playwright

    from ui.browser import CHROMIUM_ARGS

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(autouse=True, scope="module")
def _stop_chroma_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Stores open through a local Chroma server started on first use (CHROMA_MODE=server); each
    module's tests stop the servers of their temporary DATA_DIRs when they are done."""
    yield
    from assistant.store.server import INFO_FILE, stop_server

    for info in tmp_path_factory.getbasetemp().glob(f"**/{INFO_FILE}"):
        stop_server(info.parent)


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
    from assistant.answering.answerers import build_answerer
    from assistant.retrieval.retriever import Retriever, retrieval_settings
    from assistant.store.chunk_store import build_store

    store = build_store(settings, encoder)
    return NewsAssistant(settings, encoder, store, Retriever(store, encoder, retrieval_settings(settings)), build_answerer(settings, encoder))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def news(settings: Settings, encoder: MiniLMEmbeddings) -> NewsAssistant:
    return make_assistant(settings, encoder)
