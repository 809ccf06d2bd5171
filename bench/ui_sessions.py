"""Memory and responsiveness of the web app with several browser sessions on one server process.

Starts `python -m ui` (default LLM_PROVIDER, so the local model loads when installed) on
a temporary data directory holding the fixture and sample articles, opens N sessions in headless
Chromium (started before the server, as a reader's browser is) one after another, asks one question in
each (all at once), then prints each page's time to interactive (chat input enabled) counted from
navigation start and from the moment the server started serving (its health endpoint answered), each
answer's time, when the models had loaded (the server's log), and the server's resident memory (process
and children).

    .venv/bin/python bench/ui_sessions.py --models /path/to/data/models   # an assembled GGUF, else the
                                                                          # parts are assembled (1.1 GB)
    .venv/bin/python bench/ui_sessions.py --compare ...   # three times: `streamlit run ui/app.py` with
        # UI_BACKGROUND_LOADING=false (the first page waits for the models), the same with true (loading
        # starts on the first page run), then `python -m ui` (loading starts at launch)
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import ROOT

from ui.browser import CHROMIUM_ARGS, find_chromium, streamlit_server, wait_until_interactive

QUESTION = "How close to Grindavik did the lava get?"
ANSWER_CARD = ".st-key-turn-1-source-1, .st-key-turn-1-closest-1"


def rss_kib(pid: int) -> int:
    """VmRSS of the process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: list[int] = []
    queue = [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


@dataclass
class Run:
    """One server's figures, in seconds."""

    label: str
    backend: str = ""
    navigation: list[float] = field(default_factory=list)  # navigation start -> chat input enabled
    serving: list[float] = field(default_factory=list)  # server serving -> chat input enabled
    answers: list[float] = field(default_factory=list)  # asked -> first source card
    first_answer_serving: float = 0.0  # server serving -> the first answer's first card
    models_loaded: str = "?"  # as the server logged it (from the start of loading: launch or first page run)
    rss_gib: float = 0.0
    processes: int = 0
    chroma_gib: float | None = None


def run_server(args: argparse.Namespace, chromium: str, data_dir: Path, log: Path, background: bool,
               launcher: bool) -> Run:
    from playwright.sync_api import sync_playwright

    run = Run(("python -m ui" if launcher else "streamlit run ui/app.py")
              + f", UI_BACKGROUND_LOADING={'true' if background else 'false'}")
    env = {"DATA_DIR": str(data_dir), "UI_BACKGROUND_LOADING": "true" if background else "false"}
    # The browser is open before the server starts, as a reader's is: its own start is not the app's time.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        opened = [browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                  for _ in range(args.sessions)]
        with streamlit_server(env, log, timeout=300, launcher=launcher) as server:
            measure(run, args, server, opened, data_dir)
        browser.close()
    if found := re.search(r"models loaded after ([0-9.]+ s)", log.read_text(encoding="utf-8", errors="replace")):
        run.models_loaded = found.group(1)
    return run


def measure(run: Run, args: argparse.Namespace, server: Any, opened: list[Any], data_dir: Path) -> None:
    """Each session's first page, then one question in every session at once, and the memory after."""
    from assistant.store.server import running

    serving = time.perf_counter()  # the health endpoint has just answered (polled every 0.05 s)
    pages = []
    for page in opened:
        page.goto(server.url)
        run.navigation.append(wait_until_interactive(page, timeout=900))
        run.serving.append(time.perf_counter() - serving)
        pages.append(page)
    asked = []
    for page in pages:
        box = page.locator("[data-testid=stChatInputTextArea]")
        box.fill(args.question)
        box.press("Enter")
        asked.append(time.perf_counter())
    answered: dict[int, float] = {}  # session -> when its first card showed (all watched at once)
    deadline = time.perf_counter() + 900
    while len(answered) < len(pages) and time.perf_counter() < deadline:
        for number, page in enumerate(pages):
            if number not in answered and page.locator(ANSWER_CARD).count():
                answered[number] = time.perf_counter()
        time.sleep(0.2)
    if len(answered) < len(pages):
        raise SystemExit(f"{run.label}: {len(pages) - len(answered)} answers missing after 900 s")
    run.answers = [answered[number] - start for number, start in enumerate(asked)]
    run.first_answer_serving = min(answered.values()) - serving
    sidebar = pages[0].get_by_test_id("stSidebar").get_by_text("Answering backend:")
    sidebar.wait_for(timeout=60_000)
    run.backend = sidebar.inner_text()
    pids = [server.process.pid, *descendants(server.process.pid)]
    run.rss_gib = sum(rss_kib(pid) for pid in pids) / 1024 / 1024
    run.processes = len(pids)
    chroma = running(data_dir.resolve())
    if chroma is not None:  # the store's own server process (shared with ingest commands)
        run.chroma_gib = rss_kib(chroma.pid) / 1024 / 1024


def report(run: Run, sessions: int, question: str) -> None:
    print(f"{run.label}: {run.backend}; {sessions} sessions; question {question!r}")
    for number, (navigation, serving, answer) in enumerate(
            zip(run.navigation, run.serving, run.answers, strict=True), start=1):
        print(f"  session {number}: interactive {serving:.1f} s after the server started serving "
              f"({navigation:.1f} s after navigation start), answer with sources after {answer:.1f} s "
              f"(all {sessions} asked at once)")
    print(f"  first answer {run.first_answer_serving:.1f} s after the server started serving; models loaded "
          f"{run.models_loaded} after loading began (server log; at launch unless --compare's first run)")
    print(f"  server RSS with {sessions} sessions open: {run.rss_gib:.2f} GiB ({run.processes} process"
          f"{'es' if run.processes != 1 else ''})" + (f"; Chroma server RSS {run.chroma_gib:.2f} GiB"
                                                       if run.chroma_gib is not None else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--models", type=Path, help="a folder holding the assembled model, linked as DATA_DIR/models")
    parser.add_argument("--compare", action="store_true",
                        help="run three times: streamlit run with UI_BACKGROUND_LOADING=false (the first page waits for "
                        "the models), streamlit run with loading on the first page run, python -m ui")
    parser.add_argument("--log-dir", type=Path, help="keep the servers' logs here")
    args = parser.parse_args()
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("chromium not found (apt-get install chromium, or set CHROMIUM)")
    from assistant.store.server import stop_server

    with tempfile.TemporaryDirectory(prefix="newsdesk-ui-bench-") as folder:
        data_dir = Path(folder) / "data"
        data_dir.mkdir()
        if args.models:
            (data_dir / "models").symlink_to(args.models.resolve(), target_is_directory=True)
        subprocess.run([sys.executable, "-m", "ingest", "tests/fixtures/articles", "ingest/samples", "-q"],
                       cwd=ROOT, env={**os.environ, "DATA_DIR": str(data_dir)}, check=True)
        logs = args.log_dir or Path(folder)
        runs = []
        # --compare: as before background loading, then loading on the first page run, then at launch
        for background, launcher in ([(False, False), (True, False), (True, True)] if args.compare else [(True, True)]):
            log = logs / f"streamlit-{'launch' if launcher else 'background' if background else 'waiting'}.log"
            runs.append(run_server(args, chromium, data_dir, log, background, launcher))
            report(runs[-1], args.sessions, args.question)
        stop_server(data_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
