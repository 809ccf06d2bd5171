"""Local mode only for pages asked for by a loopback name (ui/auth.py), and sign-in's e-mail verification.

A DNS-rebinding page (another site's name resolved to 127.0.0.1) talks to the chat as a browser would: the
real server (`python -m ui`) is given a WebSocket session whose Host and Origin name `attacker.example`,
over a connection to 127.0.0.1 (what a browser does once the name resolves there). That session gets the
read-only mode, and the sidebar says why; the same server still gives a loopback Host Local mode.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings
from ui.auth import Role, SignIn, decide, foreign_page
from ui.browser import ROOT, Server, streamlit_server

SIGNED_IN = SignIn((None,))


def settings(**values: Any) -> Settings:
    values = {"auth_required": False, "editors": [], "allow_anonymous_edits": False, **values}
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


# --- the decision ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("headers", "foreign"), [
    ({}, None),  # no request at all (a script run without a browser session)
    ({"Host": "127.0.0.1:8501"}, None), ({"Host": "localhost:8501"}, None), ({"Host": "[::1]:8501"}, None),
    ({"Host": "localhost"}, None), ({"Host": "127.0.0.1:8501", "Origin": "http://localhost:8501"}, None),
    ({"Host": "attacker.example:8501"}, "attacker.example:8501"),
    ({"Host": "127.0.0.1.attacker.example:8501"}, "127.0.0.1.attacker.example:8501"),
    ({"Host": "localhost@attacker.example"}, "localhost@attacker.example"),
    ({"Host": "127.0.0.1:8501", "Origin": "http://attacker.example:8501"}, "a page of http://attacker.example:8501"),
    ({"Host": "127.0.0.1:8501", "Origin": "null"}, "a page of null"),
    ({"Upgrade": "websocket"}, "a request without a Host header"),
])
def test_only_a_loopback_host_is_this_computer(headers: dict[str, str], foreign: str | None) -> None:
    assert foreign_page(headers) == foreign


def test_a_foreign_host_on_a_loopback_server_is_read_only_and_says_why() -> None:
    local = decide(settings(), SignIn(), "127.0.0.1", {}, foreign_page({"Host": "localhost:8501"}))
    assert local.can_edit and local.mode.startswith("**Local mode**")
    rebound = decide(settings(), SignIn(), "127.0.0.1", {}, foreign_page({"Host": "attacker.example:8501"}))
    assert not rebound.can_edit and rebound.role is Role.READER and not rebound.blocked
    assert rebound.mode.startswith("**Read-only**: no sign-in is configured and this page was reached as "
                                   "attacker\\.example\\:8501, not as this computer")
    opened = decide(settings(allow_anonymous_edits=True), SignIn(), "127.0.0.1", {}, "attacker.example:8501")
    assert opened.can_edit and opened.mode.startswith("**Open mode**"), "ALLOW_ANONYMOUS_EDITS opens it on purpose"


def test_an_absent_email_verified_claim_is_no_editor() -> None:
    editors = settings(editors=["@newsroom.example"])
    user = {"is_logged_in": True, "email": "desk@newsroom.example", "sub": "1"}
    absent = decide(editors, SIGNED_IN, "0.0.0.0", user)
    assert not absent.can_edit and "has not verified your e-mail address" in absent.mode
    for verified in (True, "true"):
        assert decide(editors, SIGNED_IN, "0.0.0.0", {**user, "email_verified": verified}).can_edit
    for unverified in (False, "false", None, "yes", 1):
        assert not decide(editors, SIGNED_IN, "0.0.0.0", {**user, "email_verified": unverified}).can_edit


# --- a real server and a rebinding page's session -------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`python -m ui` on 127.0.0.1 without sign-in (Local mode for this computer), on an empty store."""
    folder = tmp_path_factory.mktemp("rebinding")
    env = {"DATA_DIR": str(folder / "data"), "LLM_PROVIDER": "extractive"}
    with streamlit_server(env, ROOT / "test-artifacts" / "streamlit-rebinding.log") as running:
        yield running


def page_as(server: Server, host: str, page: str, timeout: float = 240.0) -> str:
    """Everything one run of `page` sends to a session opened as a browser on http://HOST does (Host and Origin
    name HOST), over a connection to the server's own address: the page's text and widgets (protobuf text)."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    port = int(server.url.rsplit(":", 1)[1])
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    sent: list[str] = []
    with connect(f"ws://{host}/_stcore/stream", sock=connection, origin=f"http://{host}",  # type: ignore[arg-type]
                 subprotocols=["streamlit"], open_timeout=30, max_size=None) as session:  # type: ignore[list-item]
        message = BackMsg()
        message.rerun_script.page_name = page
        message.rerun_script.query_string = ""
        session.send(message.SerializeToString())
        deadline = time.monotonic() + timeout
        while True:
            forward = ForwardMsg()
            forward.ParseFromString(session.recv(timeout=max(1.0, deadline - time.monotonic())))
            sent.append(str(forward))
            if forward.WhichOneof("type") == "script_finished":
                return "\n".join(sent)


@pytest.mark.slow
def test_a_rebinding_page_gets_read_only_and_this_computer_local_mode(server: Server) -> None:
    port = server.url.rsplit(":", 1)[1]
    local = page_as(server, f"127.0.0.1:{port}", "library")
    assert "**Local mode**" in local and "file_uploader" in local, "this computer may upload"

    rebound = page_as(server, f"attacker.example:{port}", "library")
    assert "**Local mode**" not in rebound
    assert "**Read-only**: no sign-in is configured and this page was reached as attacker" in rebound
    assert "file_uploader" not in rebound and "Only editors add or delete articles" in rebound
    chat = page_as(server, f"attacker.example:{port}", "")
    assert "**Read-only**" in chat and "**Local mode**" not in chat
    assert "**Local mode**" in page_as(server, f"localhost:{port}", "library")
