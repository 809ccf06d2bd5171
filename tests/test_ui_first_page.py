"""The first page is ready sooner after `python -m ui` starts serving (issue 22): the pages' modules are
imported in the background once the server serves (ui/preload.py), Streamlit's stack-inspecting
direct-run check is skipped, the local model loads at a lower CPU priority (ui/warmup.py), and opening
the store loads no CA bundle for its plain-HTTP socket (assistant/store/client.py, server.py)."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.config import Settings
from ui.browser import ROOT
from ui.warmup import LOADING_NICENESS, Warmup, at_lower_priority

PRELOAD_CHECK = """
import sys
from streamlit import delta_generator, env_util
from ui.preload import PAGE_MODULES, STREAMLIT_TABLES, preload

assert "ui.uploads" not in sys.modules and "streamlit.emojis" not in sys.modules
preload()
missing = [name for name in (*PAGE_MODULES, *STREAMLIT_TABLES, "ui.resources", "ui.uploads") if name not in sys.modules]
assert not missing, missing


def inspected():
    raise AssertionError("the direct-run check inspected the stack")


env_util.is_repl = inspected
delta_generator._maybe_print_use_warning()  # what the first element drawn calls
print("ok")
"""


def test_preload_imports_the_pages_and_skips_the_direct_run_check() -> None:
    """In a fresh interpreter, as in the server before the first visit."""
    done = subprocess.run([sys.executable, "-c", PRELOAD_CHECK], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


STREAMLIT_IN_THE_CALLER = """
import sys
import ui.preload

assert "streamlit" not in sys.modules
ui.preload._when_serving = lambda timeout: None  # the thread does nothing: only the caller imports
ui.preload.start_preloading().join()
assert "streamlit.runtime.runtime" in sys.modules
print("ok")
"""


def test_streamlit_is_imported_by_the_thread_that_starts_the_server() -> None:
    """Imported by the preloading thread while `python -m ui` imported it too, Streamlit ran its package twice
    and the server exited ("DeltaGeneratorSingleton instance already exists!")."""
    done = subprocess.run([sys.executable, "-c", STREAMLIT_IN_THE_CALLER], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


def test_at_lower_priority_runs_in_a_niced_thread_of_its_own() -> None:
    def own() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = own()
    name, niceness = at_lower_priority(lambda: (threading.current_thread().name, own()))
    assert name != threading.current_thread().name
    if sys.platform == "linux":
        assert niceness == min(19, before + LOADING_NICENESS)
    assert own() == before, "the caller keeps its priority"
    with pytest.raises(ZeroDivisionError):
        at_lower_priority(lambda: 1 / 0)


class Encoder:
    max_tokens = 256
    vectors = "minilm"
    backend = "torch"

    def encode(self, texts: Any) -> Any:
        return np.ones((len(texts), 384), dtype=np.float32) / np.sqrt(384)

    def token_counts(self, texts: Any) -> list[int]:
        return [len(text.split()) for text in texts]


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="threads have their own nice value on Linux only")
def test_the_answering_backend_loads_below_the_servers_priority(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant.chain as chain

    seen: dict[str, int] = {}
    build = chain.build_answerer

    def recording(settings: Any, encoder: Any) -> Any:
        seen["loading"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        return build(settings, encoder)

    monkeypatch.setattr("assistant.encoders.embeddings.build_embeddings", lambda settings: Encoder())
    monkeypatch.setattr("assistant.chain.build_answerer", recording)
    settings = Settings(data_dir=tmp_path / "data", llm_provider="extractive", chroma_mode="embedded",
                        _env_file=None)  # type: ignore[call-arg]
    usual = os.getpriority(os.PRIO_PROCESS, 0)
    loader = Warmup(settings).start()
    assert loader.done.wait(120) and loader.model_error is None and loader.assistant is not None
    assert loader.assistant.answerer.name == "extractive"
    assert seen["loading"] == min(19, usual + LOADING_NICENESS)


@pytest.mark.slow
def test_opening_the_local_store_loads_no_ca_bundle(tmp_path: Path, fixtures_dir: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain HTTP over the server's socket: each CA bundle load took 60-80 ms of the first page's path under load."""
    from assistant.store.client import local_client
    from assistant.store.server import running

    data_dir = tmp_path / "data"
    subprocess.run([sys.executable, "-m", "ingest", str(fixtures_dir / "volcano.txt"), "-q"], cwd=ROOT,
                   env={**os.environ, "DATA_DIR": str(data_dir)}, check=True)
    assert running(data_dir) is not None
    made: list[object] = []
    real = ssl.create_default_context

    def counted(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counted)
    client = local_client(data_dir)
    assert client.count_collections() > 0
    assert made == [], f"{len(made)} CA bundles loaded"
