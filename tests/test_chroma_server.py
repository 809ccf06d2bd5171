"""The same ingest-and-answer path against a real Chroma server (`chroma run`) started by the test."""

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chromadb
import pytest
from conftest import make_assistant
from test_ingest_and_answer import ingest_paths

from assistant.config import Settings
from assistant.encoders.embeddings import MiniLMEmbeddings

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[int]:
    port = _free_port()
    chroma = Path(sys.executable).parent / "chroma"
    process = subprocess.Popen([str(chroma), "run", "--host", "127.0.0.1", "--port", str(port),
                                "--path", str(tmp_path / "server")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                chromadb.HttpClient(host="127.0.0.1", port=port).heartbeat()
                break
            except Exception:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("chroma server did not start") from None
                time.sleep(0.3)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_ingest_and_answer_through_a_chroma_server(chroma_server: int, tmp_path: Path, encoder: MiniLMEmbeddings,
                                                   fixtures_dir: Path, expected: list[dict[str, Any]]) -> None:
    settings = Settings(data_dir=tmp_path / "local", chroma_host="127.0.0.1", chroma_port=chroma_server,
                        _env_file=None)  # type: ignore[call-arg]
    news = make_assistant(settings, encoder)
    assert ingest_paths(news, fixtures_dir).new == 6
    assert not (tmp_path / "local" / "chroma").exists()  # nothing went to the local store
    for case in expected:
        result = news.answer(case["question"])
        assert result.citations[0].title == case["title"]
    again = make_assistant(settings, encoder)  # a second process would see the same store
    assert again.store.count_articles() == 6
    assert ingest_paths(again, fixtures_dir).unchanged == 6
