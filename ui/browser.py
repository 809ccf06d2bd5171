"""Drive the app in a real browser: a `python -m ui` server and headless Chromium pages.

Used by tests/test_browser.py, tests/test_browser_auth.py and bench/ui_sessions.py. Playwright is a
development dependency, imported by its callers; it never downloads a browser here: pages run in the
system's Chromium. `oidc_provider` serves OpenID Connect sign-in (the oidc-provider-mock development
dependency) on 127.0.0.1 for the sign-in test.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox"]
CHAT_INPUT = "[data-testid=stChatInputTextArea]"


def find_chromium() -> str | None:
    """$CHROMIUM, else Debian's `chromium` (or `chromium-browser`) on PATH."""
    if path := os.environ.get("CHROMIUM"):
        return path if Path(path).is_file() else None
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def _wait_healthy(server: Server, timeout: float, path: str = "/_stcore/health",
                  healthy: Callable[[bytes], bool] = lambda body: body.strip() == b"ok",
                  name: str = "streamlit") -> None:
    """Until GET `path` answers a body that is `healthy`; fails when the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{name} exited with {server.process.returncode}:\n{server.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}{path}", timeout=2) as response:
                if healthy(response.read()):
                    return
        except OSError:
            pass
        time.sleep(0.05)  # bench/ui_sessions.py times the first page from here
    raise TimeoutError(f"{name} not healthy after {timeout:.0f} s:\n{server.log.read_text()[-3000:]}")


@contextmanager
def _serving(command: list[str], url: str, log: Path, env: Mapping[str, str] | None = None) -> Iterator[Server]:
    """Run `command` from the repo root with its output in `log`; stop it on exit."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=output,
                                   stderr=subprocess.STDOUT)
    try:
        yield Server(url, process, log)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def streamlit_server(env: Mapping[str, str], log: Path, timeout: float = 120.0,
                     secrets: Path | None = None, launcher: bool = True) -> Iterator[Server]:
    """`python -m ui` (streamlit run ui/app.py, loading at launch) on 127.0.0.1 and a free port, from the repo root (so .streamlit/config.toml
    applies), with `env` added to this process's environment; stopped on exit.

    `secrets` is the secrets.toml to read instead of .streamlit/secrets.toml (e.g. an `[auth]` section).
    `launcher=False` starts plain `streamlit run ui/app.py` (loading begins on the first page run).
    """
    port = free_port()
    start = ["-m", "ui"] if launcher else ["-m", "streamlit", "run", "ui/app.py"]
    command = [sys.executable, *start, "--server.address", "127.0.0.1",
               "--server.port", str(port), "--server.headless", "true", "--server.fileWatcherType", "none",
               "--browser.gatherUsageStats", "false"]
    if secrets is not None:
        command += ["--secrets.files", str(secrets)]
    with _serving(command, f"http://127.0.0.1:{port}", log, env) as server:
        _wait_healthy(server, timeout)
        yield server


@contextmanager
def oidc_provider(log: Path, timeout: float = 60.0) -> Iterator[Server]:
    """An OpenID Connect provider (oidc-provider-mock) on 127.0.0.1 and a free port; stopped on exit.

    Any client id and secret are accepted; its authorize page asks for the user's subject (`sub`),
    which is also their e-mail address unless the claims were set with `PUT /users/SUB`.
    """
    port = free_port()
    command = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)]
    with _serving(command, f"http://127.0.0.1:{port}", log) as server:
        _wait_healthy(server, timeout, "/.well-known/openid-configuration", lambda body: b'"issuer"' in body,
                      "oidc-provider-mock")
        yield server


def wait_until_interactive(page: Page, timeout: float = 180.0) -> float:
    """Seconds from the page's navigation start until the chat input accepts text."""
    handle = page.wait_for_function(
        f"() => {{ const box = document.querySelector('{CHAT_INPUT}');"
        " return box && !box.disabled ? performance.now() : false; }", timeout=timeout * 1000, polling=100)
    return float(handle.json_value()) / 1000


def ask(page: Page, question: str, turn: int, timeout: float = 300.0) -> Locator:
    """Type a question into the chat and wait for the answer's first card (a source or closest match).

    `turn` is the answer's index in the conversation (1 for the first answer, 3 for the second).
    """
    box = page.locator(CHAT_INPUT)
    box.fill(question)
    box.press("Enter")
    card = page.locator(f".st-key-turn-{turn}-source-1, .st-key-turn-{turn}-closest-1")
    card.wait_for(timeout=timeout * 1000)
    return card


def upload_files(page: Page, *files: Path, timeout: float = 120.0) -> None:
    """On the Library page: choose `files`, wait until each is uploaded to the server (its chip is drawn
    and no chip still spins; pressing the button earlier submits an empty form), press "Add to library"
    and wait for the run to finish."""
    from playwright.sync_api import expect

    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files([str(file) for file in files])
    for file in files:
        expect(page.get_by_test_id("stFileChipName").filter(has_text=file.name)).to_be_visible(timeout=timeout * 1000)
    expect(page.get_by_test_id("stFileChipIconSpinner")).to_have_count(0, timeout=timeout * 1000)
    page.get_by_role("button", name="Add to library").click()
    page.get_by_text("Upload finished:").wait_for(timeout=timeout * 1000)


def screenshot(page: Page, path: Path) -> Path:
    """The whole page, however long: the viewport is stretched to the scrolled content for the shot."""
    width, height = page.viewport_size["width"], page.viewport_size["height"]  # type: ignore[index]
    content = page.evaluate("() => Math.max(...[...document.querySelectorAll('div, section')]"
                            ".map(element => element.scrollHeight))")
    page.set_viewport_size({"width": width, "height": min(max(height, int(content)), 4000)})
    page.wait_for_timeout(500)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": width, "height": height})
    return path
