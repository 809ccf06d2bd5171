"""The web app is usable while its models load (ui/warmup.py): a real `python -m ui` whose
answering backend stays "loading" until the test opens a gate, driven by headless Chromium, and the
loader itself with fakes.

The gate: a `sitecustomize.py` on the server's PYTHONPATH wraps `assistant.chain.build_answerer` so that
it waits for a file to exist, as a slow local model would take its time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from assistant.answering.answerers import BackendError
from assistant.config import Settings
from ui.browser import CHAT_INPUT, ROOT, screenshot, streamlit_server, upload_files, wait_until_interactive
from ui.warmup import LOADING_ENCODER, PREPARING_BACKEND, LoadingAnswerer, UnavailableAnswerer, Warmup

pytestmark = pytest.mark.slow

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
WAIT = 60_000  # ms: the machine running the tests may be busy
VOLCANO_TITLE = "Lava Flow Stops 3.5 Kilometres Short of Grindavik After New Eruption"
GATED_BACKEND = '''
import os, time
import assistant.chain as chain

_build = chain.build_answerer


def _gated(settings, encoder):
    gate = os.environ["NEWSDESK_TEST_GATE"]
    while not os.path.exists(gate):  # the answering backend "loads" until the test opens the gate
        time.sleep(0.1)
    return _build(settings, encoder)


chain.build_answerer = _gated
'''


def test_pages_are_usable_while_the_models_load_and_a_question_waits(
        browser: Browser, fixtures_dir: Path, tmp_path: Path) -> None:
    hook, gate = tmp_path / "hook", tmp_path / "gate"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(GATED_BACKEND, encoding="utf-8")
    env = {"DATA_DIR": str(tmp_path / "data"), "LLM_PROVIDER": "extractive"}
    subprocess.run([sys.executable, "-m", "ingest", str(fixtures_dir), "-q"], cwd=ROOT, env={**os.environ, **env},
                   check=True)
    server_env = {**env, "NEWSDESK_TEST_GATE": str(gate),
                  "PYTHONPATH": os.pathsep.join([str(hook), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    with streamlit_server(server_env, SCREENSHOTS.parent / "streamlit-warmup.log") as server:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(server.url)
        wait_until_interactive(page, timeout=120)
        sidebar = page.get_by_test_id("stSidebar")
        # the embedding model loads, then the backend waits at the gate: the page is usable all along
        sidebar.get_by_text(PREPARING_BACKEND.rstrip("…")).wait_for(timeout=120_000)
        expect(page.locator(CHAT_INPUT)).to_be_enabled(timeout=WAIT)
        expect(page.get_by_test_id("stMetricValue")).to_have_text("6", timeout=WAIT)
        expect(page.locator(CHAT_INPUT)).to_be_enabled(timeout=WAIT)
        assert sidebar.get_by_text("Answering backend:").count() == 0

        library = context.new_page()  # the Library needs only the store: it lists the articles meanwhile
        library.goto(f"{server.url}/library")
        library.get_by_text(VOLCANO_TITLE).or_(library.locator("[data-testid=stDataFrame]")).first.wait_for(
            timeout=60_000)
        preparing = library.get_by_test_id("stSidebar").get_by_text(PREPARING_BACKEND.rstrip("…"))
        expect(preparing).to_be_visible(timeout=WAIT)
        upload = tmp_path / "kelmouth-harbour.md"  # and takes an upload (the embedding model is loaded by now)
        upload.write_text("# Kelmouth Harbour Reopens\n\nSource: Test Gazette\nPublished: 2025-01-20\n\n"
                          "The harbour at Kelmouth reopened on Monday after three months of repairs.\n", encoding="utf-8")
        upload_files(library, upload)
        expect(library.get_by_text("Upload finished: 1 ingested.")).to_be_visible()
        expect(library.get_by_test_id("stMetricValue")).to_have_text("7", timeout=WAIT)

        box = page.locator(CHAT_INPUT)
        box.fill("How close to Grindavik did the lava get?")
        box.press("Enter")
        waiting = page.get_by_test_id("stChatMessage").nth(1).get_by_text("Waiting for the model to finish loading")
        waiting.wait_for(timeout=60_000)
        time.sleep(2)  # still waiting: nothing is answered before the backend is there
        assert page.locator(".st-key-turn-1-source-1").count() == 0
        screenshot(page, SCREENSHOTS / "chat-waiting-for-model.png")

        gate.touch()
        card = page.locator(".st-key-turn-1-source-1")
        card.wait_for(timeout=120_000)
        assert card.inner_text().startswith(f"[1] {VOLCANO_TITLE}")
        expect(waiting).to_have_count(0, timeout=WAIT)
        expect(sidebar.get_by_text("Answering backend: extractive")).to_be_visible(timeout=WAIT)
        expect(sidebar.get_by_text(PREPARING_BACKEND.rstrip("…"))).to_have_count(0, timeout=WAIT)
        assert page.get_by_test_id("stChatMessage").count() == 2

        later = context.new_page()  # a later session finds everything loaded
        later.goto(server.url)
        wait_until_interactive(later, timeout=60)
        loaded = later.get_by_test_id("stSidebar").get_by_text("Answering backend: extractive")
        expect(loaded).to_be_visible(timeout=WAIT)
        context.close()
    log = (SCREENSHOTS.parent / "streamlit-warmup.log").read_text(encoding="utf-8")
    assert log.count("models loaded after") == 1, "the models load once per process"


def test_python_m_ui_loads_at_launch_before_anyone_visits(browser: Browser, fixtures_dir: Path,
                                                          tmp_path: Path) -> None:
    """`python -m ui` starts loading with the server: the models are loaded before the first visit, and
    that visit's page uses the same loader (one store opening and one model load in the log)."""
    env = {"DATA_DIR": str(tmp_path / "data"), "LLM_PROVIDER": "extractive"}
    subprocess.run([sys.executable, "-m", "ingest", str(fixtures_dir / "volcano.txt"), "-q"], cwd=ROOT,
                   env={**os.environ, **env}, check=True)
    log = SCREENSHOTS.parent / "streamlit-launch.log"
    with streamlit_server(env, log) as server:
        deadline = time.monotonic() + 120
        while "models loaded after" not in log.read_text(encoding="utf-8"):  # nobody has visited yet
            assert time.monotonic() < deadline, "the models did not load before the first visit"
            time.sleep(0.5)
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.goto(server.url)
        wait_until_interactive(page, timeout=60)
        expect(page.get_by_test_id("stSidebar").get_by_text("Answering backend: extractive")).to_be_visible(
            timeout=WAIT)
        page.context.close()
    text = log.read_text(encoding="utf-8")
    assert text.count("article store open after") == 1 and text.count("models loaded after") == 1, text
    assert "pages' modules preloaded" in text, text  # ui/preload.py, once the server served


class SlowEncoder:
    """A fake encoder whose first encode waits until released, as loading the model would."""

    max_tokens = 256
    vectors = "minilm"
    backend = "torch"

    def __init__(self, release: Any) -> None:
        self.release = release

    def encode(self, texts: Any) -> Any:
        import numpy as np

        assert self.release.wait(30)
        return np.ones((len(texts), 384), dtype=np.float32) / np.sqrt(384)

    def token_counts(self, texts: Any) -> list[int]:
        return [len(text.split()) for text in texts]


@pytest.fixture
def loader_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", llm_provider="extractive", chroma_mode="embedded",
                    _env_file=None)  # type: ignore[call-arg]


def test_the_store_opens_before_the_models_load(loader_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    release = threading.Event()
    monkeypatch.setattr("assistant.encoders.embeddings.build_embeddings", lambda settings: SlowEncoder(release))
    loader = Warmup(loader_settings).start()
    assert loader.store_ready.wait(60) and loader.store_error is None
    assert loader.opened is not None and isinstance(loader.opened.answerer, LoadingAnswerer)
    assert loader.opened.store.count_articles() == 0
    time.sleep(0.3)
    assert not loader.done.is_set() and loader.stage == LOADING_ENCODER and loader.assistant is None
    release.set()
    assert loader.done.wait(30) and loader.model_error is None
    assert loader.assistant is not None and loader.assistant.answerer.name == "extractive"
    assert loader.assistant.store is loader.opened.store, "one store per process"


def test_a_backend_that_cannot_start_and_a_store_that_cannot_open(
        loader_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    release = threading.Event()
    release.set()
    monkeypatch.setattr("assistant.encoders.embeddings.build_embeddings", lambda settings: SlowEncoder(release))

    def cannot_start(settings: object, encoder: object) -> Iterator[Any]:
        raise BackendError("local", "no model file at /nowhere/model.gguf", "check LOCAL_MODEL_PATH")

    monkeypatch.setattr("assistant.chain.build_answerer", cannot_start)
    loader = Warmup(loader_settings).start()
    assert loader.done.wait(60) and loader.model_error is None and loader.assistant is not None
    assert isinstance(loader.assistant.answerer, UnavailableAnswerer)
    assert "no model file" in str(loader.assistant.answerer.error)

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where DATA_DIR should be", encoding="utf-8")
    broken = Warmup(loader_settings.model_copy(update={"data_dir": blocked})).start()
    assert broken.store_ready.wait(60) and broken.done.is_set()
    assert broken.store_error is not None and broken.opened is None and broken.assistant is None
