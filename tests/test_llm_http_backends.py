"""The ollama and OpenAI-compatible backends against small protocol stubs on 127.0.0.1 (streaming included).

A stopped server (a closed port) must give a BackendError naming the backend and the settings to
check, carrying the retrieved passages; the chat UI shows it as an error above those passages.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from pydantic import SecretStr
from streamlit.testing.v1 import AppTest

from assistant.answering.answerers import LOCAL_NOT_INSTALLED, BackendError, build_answerer
from assistant.answering.answerers.base import Draft
from assistant.answering.answerers.chat import ChatAnswerer
from assistant.chain import default_assistant
from assistant.config import Settings, get_settings
from assistant.types import Passage
from ingest.__main__ import main as ingest_main

REPLY = "The granite tower stands 41 metres tall [1]."
PASSAGES = [Passage("c1", "lighthouse", "Skerrow Island Lighthouse Reopens", "The granite tower stands 41 metres "
                    "tall, the tallest on this coast.", 0.8, source="Coastal Herald", published="2024-05-30")]
APP = Path(__file__).resolve().parent.parent / "ui" / "app.py"
SECRET = "sk-test-secret-0123456789"


class NoEncoder:
    """The answerers here get `LLM_CONTEXT_TOKENS=0` (whole passages), so they never encode."""

    max_tokens = 256

    def encode(self, texts: Any) -> Any:
        raise AssertionError("not used")

    def token_counts(self, texts: Any) -> Any:
        raise AssertionError("not used")


class Stub(BaseHTTPRequestHandler):
    """Speaks just enough of Ollama's /api/chat (NDJSON) and OpenAI's /v1/chat/completions (SSE)."""

    requests: list[dict[str, Any]]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        pieces = re.split(r"(\s)", REPLY)
        if self.path == "/api/chat":
            self._ollama(body, pieces)
        elif self.path == "/v1/chat/completions":
            self._openai(body, pieces)
        else:
            self.send_error(404)

    def _send(self, content_type: str, lines: list[str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.end_headers()
        for line in lines:
            self.wfile.write(line.encode())
            self.wfile.flush()

    def _ollama(self, body: dict[str, Any], pieces: list[str]) -> None:
        def message(content: str, done: bool) -> dict[str, Any]:
            return {"model": body["model"], "created_at": "2024-06-03T00:00:00Z",
                    "message": {"role": "assistant", "content": content}, "done": done,
                    **({"done_reason": "stop", "total_duration": 1, "load_duration": 1, "prompt_eval_count": 10,
                        "prompt_eval_duration": 1, "eval_count": len(pieces), "eval_duration": 1} if done else {})}

        if body.get("stream", True):
            self._send("application/x-ndjson", [json.dumps(message(piece, False)) + "\n" for piece in pieces]
                       + [json.dumps(message("", True)) + "\n"])
        else:
            self._send("application/json", [json.dumps(message(REPLY, True))])

    def _openai(self, body: dict[str, Any], pieces: list[str]) -> None:
        def chunk(delta: dict[str, str], finish: str | None) -> str:
            return "data: " + json.dumps({"id": "c1", "object": "chat.completion.chunk", "created": 0,
                                          "model": body["model"], "choices": [
                                              {"index": 0, "delta": delta, "finish_reason": finish}]}) + "\n\n"

        if body.get("stream"):
            self._send("text/event-stream", [chunk({"role": "assistant", "content": piece}, None) for piece in pieces]
                       + [chunk({}, "stop"), "data: [DONE]\n\n"])
        else:
            self._send("application/json", [json.dumps({
                "id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": REPLY}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}})])


@pytest.fixture
def stub() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A running stub: (base URL, the requests it received)."""
    requests: list[dict[str, Any]] = []
    handler = type("RecordingStub", (Stub,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answerer(**settings: Any) -> ChatAnswerer:
    built = build_answerer(Settings(_env_file=None, llm_context_tokens=0, llm_timeout=10, **settings),  # type: ignore[call-arg]
                           NoEncoder())
    assert isinstance(built, ChatAnswerer)
    return built


def check_streamed_answer(backend: ChatAnswerer) -> None:
    *pieces, draft = list(backend.stream("How tall is the lighthouse?", PASSAGES))
    assert len(pieces) > 3 and "".join(pieces) == REPLY  # type: ignore[arg-type]
    assert draft == Draft(REPLY)
    assert backend.draft("How tall is the lighthouse?", PASSAGES) == Draft(REPLY)


def sent_prompt(request: dict[str, Any]) -> str:
    return "\n".join(message["content"] for message in request["body"]["messages"])


def test_ollama_streams_from_its_chat_api(stub: tuple[str, list[dict[str, Any]]]) -> None:
    url, requests = stub
    backend = answerer(llm_provider="ollama", ollama_base_url=url, ollama_model="stub-model")
    assert backend.name == "ollama (stub-model)"
    check_streamed_answer(backend)
    assert requests[0]["path"] == "/api/chat" and requests[0]["body"]["model"] == "stub-model"
    assert "[1] Skerrow Island Lighthouse Reopens | Coastal Herald | 2024-05-30" in sent_prompt(requests[0])
    assert "Question: How tall is the lighthouse?" in sent_prompt(requests[0])


def test_openai_compatible_server_streams_over_sse(stub: tuple[str, list[dict[str, Any]]]) -> None:
    url, requests = stub
    backend = answerer(llm_provider="openai", openai_base_url=f"{url}/v1", openai_api_key=SECRET,
                       openai_model="stub-model")
    check_streamed_answer(backend)
    assert requests[0]["path"] == "/v1/chat/completions" and requests[0]["body"]["stream"] is True
    assert requests[0]["auth"] == f"Bearer {SECRET}"
    assert "Question: How tall is the lighthouse?" in sent_prompt(requests[0])
    assert SECRET not in repr(Settings(_env_file=None, openai_api_key=SecretStr(SECRET)))  # type: ignore[call-arg]


def test_follow_up_rewriting_uses_the_backend(stub: tuple[str, list[dict[str, Any]]]) -> None:
    url, requests = stub
    backend = answerer(llm_provider="openai", openai_base_url=f"{url}/v1", openai_api_key=SECRET)
    from assistant.answering.history import Turn

    # (a previous question naming nothing: a rewrite that drops a name it held falls back to the rule, chat.py)
    rewritten = backend.standalone_question("And how tall is it?", [Turn("user", "Tell me about the lighthouse")])
    assert rewritten == REPLY  # the stub always gives the same reply
    assert "Last question: And how tall is it?" in sent_prompt(requests[0])


@pytest.mark.parametrize("provider, settings, names", [
    ("ollama", {"ollama_base_url": "http://127.0.0.1:{port}"}, ["ollama", "OLLAMA_BASE_URL"]),
    ("openai", {"openai_base_url": "http://127.0.0.1:{port}/v1", "openai_api_key": SECRET},
     ["openai", "OPENAI_BASE_URL"]),
])
def test_a_stopped_server_gives_a_backend_error_naming_what_to_check(
        provider: str, settings: dict[str, str], names: list[str], closed_port: int) -> None:
    backend = answerer(llm_provider=provider, **{key: value.format(port=closed_port) if "{" in value else value
                                                 for key, value in settings.items()})
    started = time.perf_counter()
    with pytest.raises(BackendError) as raised:
        backend.draft("How tall is the lighthouse?", PASSAGES)
    assert time.perf_counter() - started < 30
    message = str(raised.value)
    assert all(name in message for name in names) and SECRET not in message
    assert raised.value.backend.startswith(provider) and raised.value.passages == PASSAGES


def test_auto_without_llama_cpp_falls_back_to_extractive_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    built = build_answerer(Settings(_env_file=None, llm_provider="auto"), NoEncoder())  # type: ignore[call-arg]
    assert built.name == f"extractive ({LOCAL_NOT_INSTALLED})"
    assert LOCAL_NOT_INSTALLED == "local LLM not installed: pip install -r requirements-llm.txt"


def test_openai_without_key_or_server_is_refused_at_start() -> None:
    with pytest.raises(BackendError, match="OPENAI_API_KEY is not set"):
        answerer(llm_provider="openai")


@pytest.mark.slow
def test_the_chat_shows_backend_errors_with_the_passages_and_the_fallback_note(
        tmp_path: Path, fixtures_dir: Path, closed_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    def clear_caches() -> None:
        get_settings.cache_clear()
        default_assistant.cache_clear()
        st.cache_resource.clear()
        st.cache_data.clear()

    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    clear_caches()
    assert ingest_main([str(fixtures_dir), "-q"]) == 0
    monkeypatch.setenv("LLM_PROVIDER", "ollama")
    monkeypatch.setenv("OLLAMA_BASE_URL", f"http://127.0.0.1:{closed_port}")
    clear_caches()
    try:
        at = AppTest.from_file(str(APP), default_timeout=120).run()
        at.chat_input[0].set_value("How tall is the restored lighthouse on Skerrow Island?").run()
        assert not at.exception
        [error] = at.error
        shown_error = error.value.replace("\\", "")  # escaped like article text: OLLAMA\_BASE\_URL
        assert "answering backend is not available" in shown_error and "OLLAMA_BASE_URL" in shown_error
        shown = "\n".join(element.value for element in at.markdown)
        assert "Skerrow Island Lighthouse" in shown and "41 metres" in shown

        monkeypatch.setenv("LLM_PROVIDER", "auto")
        monkeypatch.setitem(sys.modules, "llama_cpp", None)
        clear_caches()
        at = AppTest.from_file(str(APP), default_timeout=120).run()
        assert not at.exception
        assert any("local model is not installed" in info.value for info in at.sidebar.info)
    finally:
        clear_caches()
