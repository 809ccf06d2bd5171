"""Memory and responsiveness of the web app with several browser sessions on one server process.

Starts `streamlit run ui/app.py` (default LLM_PROVIDER, so the local model loads when installed) on
a temporary data directory holding the fixture and sample articles, opens N sessions in headless
Chromium one after another, asks one question in each (all at once), then prints each page's time
to interactive (navigation start -> chat input enabled; the first includes loading the models), each
answer's time, and the server's resident memory (process and children).

    .venv/bin/python bench/ui_sessions.py --models /path/to/data/models   # an assembled GGUF, else the
                                                                          # parts are assembled (1.1 GB)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT

from ui.browser import CHROMIUM_ARGS, find_chromium, streamlit_server, wait_until_interactive

QUESTION = "How close to Grindavik did the lava get?"


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--models", type=Path, help="a folder holding the assembled model, linked as DATA_DIR/models")
    args = parser.parse_args()
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("chromium not found (apt-get install chromium, or set CHROMIUM)")
    from playwright.sync_api import sync_playwright

    from assistant.chroma_server import running, stop_server

    with tempfile.TemporaryDirectory(prefix="newsdesk-ui-bench-") as folder:
        data_dir = Path(folder) / "data"
        data_dir.mkdir()
        if args.models:
            (data_dir / "models").symlink_to(args.models.resolve(), target_is_directory=True)
        env = {"DATA_DIR": str(data_dir)}
        subprocess.run([sys.executable, "-m", "ingest", "tests/fixtures/articles", "ingest/samples", "-q"],
                       cwd=ROOT, env={**os.environ, **env}, check=True)
        with streamlit_server(env, Path(folder) / "streamlit.log", timeout=300) as server, \
                sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
            pages, ready = [], []
            for _ in range(args.sessions):
                page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                page.goto(server.url)
                ready.append(wait_until_interactive(page, timeout=900))
                pages.append(page)
            backend = pages[0].get_by_test_id("stSidebar").get_by_text("Answering backend").inner_text()
            asked = []
            for page in pages:
                box = page.locator("[data-testid=stChatInputTextArea]")
                box.fill(args.question)
                box.press("Enter")
                asked.append(time.perf_counter())
            answered = []
            for page, start in zip(pages, asked, strict=True):
                card = page.locator(".st-key-turn-1-source-1, .st-key-turn-1-closest-1")
                card.wait_for(timeout=900_000)
                answered.append(time.perf_counter() - start)
            pids = [server.process.pid, *descendants(server.process.pid)]
            total = sum(rss_kib(pid) for pid in pids)
            print(f"server: {backend}; {args.sessions} sessions; question {args.question!r}")
            for number, (seconds, answer) in enumerate(zip(ready, answered, strict=True), start=1):
                print(f"session {number}: time to interactive {seconds:.1f} s"
                      + (" (first page: loads the models)" if number == 1 else "")
                      + f", answer with sources after {answer:.1f} s (all {args.sessions} asked at once)")
            print(f"server RSS with {args.sessions} sessions open: {total / 1024 / 1024:.2f} GiB "
                  f"({len(pids)} process{'es' if len(pids) != 1 else ''})")
            chroma = running(data_dir.resolve())
            if chroma is not None:  # the store's own server process (shared with ingest commands)
                print(f"Chroma server RSS: {rss_kib(chroma.pid) / 1024 / 1024:.2f} GiB")
            browser.close()
        stop_server(data_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
