"""How soon what one process ingests or deletes is answerable (or gone) in another, already running one.

    python bench/propagation.py [--trials 20]

This process plays the open chat: one NewsAssistant (extractive answers), opened before the trials
start and kept. Each trial writes a new article naming a made-up place, runs `python -m ingest` on
it in a subprocess, and from the moment that subprocess has exited asks `answer()` every 10 ms until
the answer cites the new article; then it deletes the article with `python -m ingest --delete` and
asks until it is no longer cited. Reported: median and max over the trials of when the first answer
showing the change was asked (the propagation delay; 0 when the very first question already saw it)
and when it arrived (plus the answer's own time), for
  - same DATA_DIR: the default layout, both processes clients of the DATA_DIR's local Chroma server;
  - other DATA_DIR: two app machines (their own keyword/signature indexes) against one Chroma server
    (CHROMA_HOST), the reader catching up through the change log.
No dev set needed: the store holds the test fixture articles.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import ROOT

from assistant.chain import NewsAssistant
from assistant.store.server import ensure_server, stop_server
from assistant.config import Settings

PLACES = ["Brackwater", "Dunmarrow", "Elsinford", "Fellhaven", "Glaskirk", "Hollowmere", "Ivelbridge", "Jorvale",
          "Kestrelby", "Larkspire", "Morrowgate", "Nettlecombe", "Oakharrow", "Pellinore", "Quenby", "Ravensholt",
          "Saltmarsh", "Thistlebury", "Umberleigh", "Wyvernhold", "Yarrowby", "Zennor Vale"]


def ingest(data_dir: Path, env: dict[str, str], *args: str) -> float:
    """Runs `python -m ingest` to completion; returns the moment it exited (perf_counter)."""
    result = subprocess.run([sys.executable, "-m", "ingest", "-q", *args], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT),
                                 "HF_HUB_OFFLINE": "1", **env})
    ended = time.perf_counter()
    if result.returncode:
        raise SystemExit(f"ingest {' '.join(args)} failed: {result.stderr.strip()}")
    return ended


def wait_until(check: Callable[[], bool], since: float, limit: float = 60.0) -> tuple[float, float]:
    """(when the first answer that showed the change was asked, when it came), in seconds after `since`."""
    while True:
        asked = time.perf_counter()
        if check():
            return asked - since, time.perf_counter() - since
        if asked - since > limit:
            raise SystemExit(f"not seen after {limit} s")
        time.sleep(0.01)


def trials(label: str, reader: NewsAssistant, writer_dir: Path, env: dict[str, str], count: int,
           work: Path) -> None:
    added, removed = [], []
    for n in range(count):
        place = f"{PLACES[n % len(PLACES)]} {n}"
        question = f"How many berths does the new marina at {place} have?"
        path = work / f"marina-{n}.txt"
        path.write_text(f"New Marina Opens at {place}\nSource: Coast Bench Wire\nPublished: 2024-06-0{1 + n % 9}\n\n"
                        f"The new marina at {place} opened on Friday with {40 + n} berths for visiting yachts, "
                        f"the harbour board of {place} said.\n", encoding="utf-8")

        def cited(place: str = place, question: str = question) -> bool:
            return any(place in citation.title for citation in reader.answer(question).citations)

        ended = ingest(writer_dir, env, str(path))
        added.append(wait_until(cited, ended))
        [article_id] = [citation.article_id for citation in reader.answer(question).citations
                        if place in citation.title][:1]
        ended = ingest(writer_dir, env, "--delete", article_id)
        removed.append(wait_until(lambda: not cited(), ended))
    for name, delays in (("ingest -> answerable", added), ("delete -> not cited", removed)):
        asked, answered = [delay[0] for delay in delays], [delay[1] for delay in delays]
        print(f"{label}: {name}: asked after median {statistics.median(asked) * 1000:.0f} ms, max "
              f"{max(asked) * 1000:.0f} ms; answered after median {statistics.median(answered) * 1000:.0f} ms, "
              f"max {max(answered) * 1000:.0f} ms ({len(delays)} trials)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    os.environ["LLM_PROVIDER"] = "extractive"
    print(f"{os.cpu_count()} CPUs, load average at start {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        fixtures = ROOT / "tests" / "fixtures" / "articles"
        same = root / "same"
        ingest(same, {}, str(fixtures))
        reader = NewsAssistant.from_settings(Settings(data_dir=same, _env_file=None))  # type: ignore[call-arg]
        reader.answer("warm up")
        trials("same DATA_DIR", reader, same, {}, args.trials, root)

        server = ensure_server(root / "server")  # a Chroma server both machines use (CHROMA_HOST)
        remote = {"CHROMA_HOST": server.host, "CHROMA_PORT": str(server.port)}
        machine_a, machine_b = root / "machine-a", root / "machine-b"
        ingest(machine_a, remote, str(fixtures))
        other = NewsAssistant.from_settings(Settings(data_dir=machine_b, chroma_host=server.host,  # type: ignore[call-arg]
                                                     chroma_port=server.port, _env_file=None))
        other.answer("warm up")
        trials("other DATA_DIR (CHROMA_HOST)", other, machine_a, remote, args.trials, root)
        for data_dir in (same, root / "server"):
            stop_server(data_dir)
    print(f"load average at end {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
