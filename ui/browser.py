"""Drive the app in a real browser: a `streamlit run ui/app.py` server and headless Chromium pages.

Used by tests/test_browser.py and bench/ui_sessions.py. Playwright is a development dependency,
imported by its callers; it never downloads a browser here: pages run in the system's Chromium.
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
from collections.abc import Iterator, Mapping
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


def _wait_healthy(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {server.process.returncode}:\n{server.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"streamlit not healthy after {timeout:.0f} s:\n{server.log.read_text()[-3000:]}")


@contextmanager
def streamlit_server(env: Mapping[str, str], log: Path, timeout: float = 120.0) -> Iterator[Server]:
    """`streamlit run ui/app.py` on 127.0.0.1 and a free port, from the repo root (so .streamlit/config.toml
    applies), with `env` added to this process's environment; stopped on exit."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "ui/app.py", "--server.address", "127.0.0.1",
               "--server.port", str(port), "--server.headless", "true", "--server.fileWatcherType", "none",
               "--browser.gatherUsageStats", "false"]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=output,
                                   stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_healthy(server, timeout)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
