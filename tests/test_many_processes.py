"""Many processes on one store, as a newsroom uses it: the chat open all day while ingest commands add
and delete articles, and app machines with their own DATA_DIR against one Chroma server.

Every test here starts real processes (`python -m ingest`, `chroma run`), on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import make_assistant
from fakes import send_html
from test_chroma_server import chroma_server  # noqa: F401  (fixture)
from test_near_duplicates import edited, story
from test_ui import OpenApp, ask, assistant_messages, library, open_app, rendered, writable_store  # noqa: F401

from assistant.store.client import local_client
from assistant.store.server import INFO_FILE, read_info, running
from assistant.config import Settings
from assistant.encoders.embeddings import MiniLMEmbeddings
from assistant.store.keyword_engines import ENGINES

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
FRESH_WITHIN = 5.0  # seconds from the end of another process's change to the chat showing it


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1",
            "LLM_PROVIDER": "extractive", **extra}


def _ingest(data_dir: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ingest", "-q", *args], env=_env(data_dir, **extra), cwd=REPO,
                          capture_output=True, text=True, timeout=600)


def _article(path: Path, title: str, source: str, published: str, paragraphs: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([title, f"Source: {source}", f"Published: {published}", "", *paragraphs]) + "\n",
                    encoding="utf-8")
    return path


def _within(seconds: float, check: Callable[[], bool]) -> float:
    """Seconds until `check()` first holds; fails after `seconds`."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, f"not seen within {seconds} s"
        time.sleep(0.1)
    return time.monotonic() - started


FERRY_TITLE = "Quillmore Ferry Service Resumes After Harbour Wall Repairs"
FERRY_QUESTION = "When did the Quillmore ferry service resume?"
FERRY = ["The ferry between Quillmore and Tansey Island resumed on Monday after six weeks of repairs "
         "to the harbour wall, the port authority said.",
         "The first crossing carried 212 passengers, and the operator said the timetable of eight "
         "daily sailings would return in full by the end of the month."]


def _cited_titles(at: Any) -> str:
    [*_, answer] = assistant_messages(at)
    return rendered(answer)


def test_the_open_chat_answers_from_articles_other_processes_add_and_forgets_deleted_ones(
        open_app: OpenApp, writable_store: Path, tmp_path: Path) -> None:  # noqa: F811
    at = open_app(writable_store)  # the chat, open in this long-lived process
    assert FERRY_TITLE not in _cited_titles(ask(at, FERRY_QUESTION))
    assert at.sidebar.metric[0].value == "6"
    path = _article(tmp_path / "new" / "ferry.txt", FERRY_TITLE, "Island Courier", "2024-05-06", FERRY)

    added = _ingest(writable_store, str(path))  # another process
    assert added.returncode == 0, added.stderr
    assert "new 1" in added.stdout
    seconds = _within(FRESH_WITHIN, lambda: FERRY_TITLE in _cited_titles(ask(at, FERRY_QUESTION)))
    assert "212 passengers" in _cited_titles(at) or "Monday" in _cited_titles(at)
    assert seconds < FRESH_WITHIN
    at.run()  # the sidebar and the source filter follow on the next rerun
    assert at.sidebar.metric[0].value == "7"
    assert "Island Courier" in at.sidebar.multiselect[0].options

    [line] = [row for row in _ingest(writable_store, "--list").stdout.splitlines() if FERRY_TITLE in row]
    deleted = _ingest(writable_store, "--delete", line.split("\t")[0])
    assert deleted.returncode == 0, deleted.stderr
    _within(FRESH_WITHIN, lambda: FERRY_TITLE not in _cited_titles(ask(at, FERRY_QUESTION)))
    at.run()
    assert at.sidebar.metric[0].value == "6"
    assert "Island Courier" not in at.sidebar.multiselect[0].options
    assert FERRY_TITLE not in set(library(at).dataframe[0].value["Title"])


def test_every_process_joins_the_one_server_of_a_data_dir(tmp_path: Path, fixtures_dir: Path) -> None:
    data_dir = tmp_path / "data"
    first = _ingest(data_dir, str(fixtures_dir / "volcano.txt"))
    assert first.returncode == 0, first.stderr
    info = running(data_dir.resolve())
    assert info is not None and info.socket == str(data_dir.resolve() / "chroma.sock")
    second = _ingest(data_dir, str(fixtures_dir / "lighthouse.txt"))  # finds the recorded server and joins it
    assert second.returncode == 0, second.stderr
    assert read_info(data_dir.resolve()) == info
    listed = _ingest(data_dir, "--list")
    assert len(listed.stdout.splitlines()) == 2


def test_a_data_dir_open_embedded_is_refused_to_other_processes_with_one_line(tmp_path: Path,
                                                                            fixtures_dir: Path) -> None:
    data_dir = tmp_path / "data"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from assistant.config import Settings; "
                               "from assistant.store.chunk_store import build_store; "
                               f"build_store(Settings(data_dir={str(data_dir)!r}, chroma_mode='embedded', "
                               "_env_file=None)); print('open', flush=True); time.sleep(120)"],
                              env=_env(data_dir), cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        for mode in ("embedded", "server"):  # neither a second embedded client nor a server may open it
            refused = _ingest(data_dir, str(fixtures_dir / "volcano.txt"), CHROMA_MODE=mode)
            assert refused.returncode == 1
            [line] = refused.stderr.strip().splitlines()
            assert f"{data_dir.resolve() / 'chroma'} is open in another process (" in line
            assert f"pid {holder.pid}" in line
    finally:
        holder.kill()
        holder.wait()
    assert _ingest(data_dir, str(fixtures_dir / "volcano.txt")).returncode == 0  # free again: the server opens it


def test_a_process_that_opened_a_store_embedded_in_a_thread_exits_cleanly(tmp_path: Path) -> None:
    """The directory's owner lock is held for the process's life, whichever thread took it: leaving the
    process releases it without "Exception ignored ... cannot release un-acquired lock"."""
    data_dir = tmp_path / "data"
    done = subprocess.run([sys.executable, "-c", "import threading; from assistant.config import Settings; "
                           "from assistant.store.chunk_store import build_store; "
                           "opener = threading.Thread(target=lambda: build_store(Settings(data_dir="
                           f"{str(data_dir)!r}, chroma_mode='embedded', _env_file=None))); "
                           "opener.start(); opener.join(); print('opened')"],
                          env=_env(data_dir), cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "opened", done.stderr
    assert "Exception ignored" not in done.stderr and "un-acquired" not in done.stderr, done.stderr


class _SlowPage(BaseHTTPRequestHandler):
    """Serves one article page, only once the test lets it (a slow source holding an ingest mid-run)."""

    release = threading.Event()
    requested = threading.Event()

    def do_GET(self) -> None:  # noqa: N802
        type(self).requested.set()
        type(self).release.wait(timeout=120)
        paragraphs = "".join(f"<p>{sentence}</p>" for sentence in FERRY * 3)
        body = (f"<html><head><title>Ferry Timetable Changes</title></head><body><article>"
                f"<h1>Ferry Timetable Changes</h1>{paragraphs}</article></body></html>").encode()
        send_html(self, body)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_delete_during_an_ingest_sticks_and_a_copy_of_the_deleted_article_is_stored_on_its_own(
        tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    original = _article(tmp_path / "first" / "original.txt", "Dam Opens Floodgates", "Valley Post", "2024-04-02",
                        story(11, sentences=20))
    other = _article(tmp_path / "first" / "other.txt", "Council Budget Passes", "Valley Post", "2024-04-03",
                     story(12, sentences=20))
    assert _ingest(data_dir, str(original.parent)).returncode == 0
    ids = {row.split("\t")[1]: row.split("\t")[0] for row in _ingest(data_dir, "--list").stdout.splitlines()}

    # The second ingest reads the unchanged other article and a copy of the original, then waits for a slow
    # web page before its batch is written; meanwhile another process deletes the original and the other one.
    copy = _article(tmp_path / "later" / "copy.txt", "Floodgates Opened at Dam", "River Wire", "2024-04-02",
                    edited(story(11, sentences=20), seed=5, changes=2))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _SlowPage.release.clear()
    _SlowPage.requested.clear()
    url = f"http://127.0.0.1:{server.server_address[1]}/ferry.html"
    ingest = subprocess.Popen([sys.executable, "-m", "ingest", "-q", str(other), str(copy), url],
                              env=_env(data_dir, FETCH_ALLOW_HOSTS="127.0.0.1"), cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _SlowPage.requested.wait(timeout=300), "the ingest never asked for the page"
        deleted = _ingest(data_dir, "--delete", ids["Dam Opens Floodgates"], ids["Council Budget Passes"])
        assert deleted.returncode == 0, deleted.stderr
        _SlowPage.release.set()
        out, err = ingest.communicate(timeout=300)
    finally:
        _SlowPage.release.set()
        ingest.kill()
        server.shutdown()
    assert ingest.returncode == 0, err
    assert "new 2" in out and "near-duplicates 0" in out, out
    articles = {row.split("\t")[1]: row for row in _ingest(data_dir, "--list").stdout.splitlines()
                if not row.startswith("  also")}
    assert "Dam Opens Floodgates" not in articles and "Council Budget Passes" not in articles, "a delete was undone"
    assert set(articles) == {"Floodgates Opened at Dam", "Ferry Timetable Changes"}
    assert "River Wire" in articles["Floodgates Opened at Dam"], "the copy is an article of its own"


@pytest.mark.parametrize("engine", list(ENGINES))
def test_two_app_machines_against_one_chroma_server_share_keywords_and_copies(
        chroma_server: int, tmp_path: Path, encoder: MiniLMEmbeddings, engine: str) -> None:  # noqa: F811
    first, second = (Settings(data_dir=tmp_path / name, chroma_host="127.0.0.1", chroma_port=chroma_server,
                              keyword_engine=engine, _env_file=None)  # type: ignore[call-arg]
                     for name in ("machine-a", "machine-b"))
    reader = make_assistant(second, encoder)  # machine B's app, open before anything is stored
    assert reader.store.count_articles() == 0
    original = _article(tmp_path / "a" / "mill.txt", "Old Mill Reopens as Museum", "Valley Post", "2024-04-02",
                        ["The Zarnowiec mill reopened on Saturday as a museum of milling after a restoration "
                         "that cost 3.1 million euros.", *story(21, sentences=14)])
    env = {"CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": str(chroma_server), "KEYWORD_ENGINE": engine}
    added = _ingest(first.data_dir, str(original), **env)  # machine A's ingest command
    assert added.returncode == 0, added.stderr

    def found_by_keyword() -> bool:
        assert reader.store.keywords is not None
        reader.retrieve("Zarnowiec", k=3)  # a question syncs the indexes (at most every INDEX_SYNC_SECONDS)
        return any(reader.store.keywords.search("Zarnowiec", 3))

    _within(FRESH_WITHIN, found_by_keyword)
    [passage, *_] = reader.retrieve("Zarnowiec", k=3)
    assert passage.title == "Old Mill Reopens as Museum"
    assert not (first.data_dir / "chroma").exists() and not (second.data_dir / "chroma").exists()

    copy = _article(tmp_path / "b" / "mill-copy.txt", "Mill Museum Opens", "River Wire", "2024-04-03",
                    [*edited(["The Zarnowiec mill reopened on Saturday as a museum of milling after a restoration "
                              "that cost 3.1 million euros.", *story(21, sentences=14)], seed=9, changes=2)])
    through_b = _ingest(second.data_dir, str(copy), **env)  # machine B's ingest detects the copy of A's article
    assert through_b.returncode == 0, through_b.stderr
    assert "near-duplicates 1" in through_b.stdout
    [record] = reader.store.articles()
    assert [alternative.source for alternative in record.alternatives] == ["River Wire"]

    deleted = _ingest(second.data_dir, "--delete", record.id, **env)
    assert deleted.returncode == 0
    writer = make_assistant(first, encoder)  # machine A: the delete reaches its keyword index too
    _within(FRESH_WITHIN, lambda: not writer.retrieve("Zarnowiec", k=3) and writer.store.keyword_hashes() == {})


def test_sixteen_readers_an_ingest_and_a_delete_at_once(tmp_path: Path, encoder: MiniLMEmbeddings,
                                                        fixtures_dir: Path) -> None:
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir, _env_file=None)  # type: ignore[call-arg]
    assert _ingest(data_dir, str(fixtures_dir)).returncode == 0
    news = make_assistant(settings, encoder)
    corpus = tmp_path / "corpus"
    for n in range(30):
        _article(corpus / f"story-{n}.txt", f"Story number {n}", "Wire", "2024-05-01", story(100 + n, sentences=8))
    ids = [row.split("\t")[0] for row in _ingest(data_dir, "--list").stdout.splitlines()]
    processes = [subprocess.Popen([sys.executable, "-m", "ingest", "-q", str(corpus)], env=_env(data_dir),
                                  cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
                 subprocess.Popen([sys.executable, "-m", "ingest", "-q", "--delete", *ids[:3]], env=_env(data_dir),
                                  cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    errors: list[BaseException] = []
    stop = threading.Event()

    def ask(index: int) -> int:
        asked = 0
        while not stop.is_set() or asked < 2:
            try:
                news.answer(["Who won the chess title?", "How close did the lava get?", "Story number 7"][index % 3])
            except BaseException as error:  # noqa: BLE001  every error counts
                errors.append(error)
            asked += 1
        return asked

    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(ask, index) for index in range(16)]
        outputs = [process.communicate(timeout=600) for process in processes]
        stop.set()
        asked = sum(future.result() for future in futures)
    assert [process.returncode for process in processes] == [0, 0], outputs
    assert errors == [], errors[:3]
    assert asked >= 32
    titles = {record.title for record in news.store.articles()}
    assert {f"Story number {n}" for n in range(30)} <= titles
    assert len(titles) == 6 - 3 + 30
    assert set(news.store.keyword_hashes()) == {record.id for record in news.store.articles()}


def test_the_server_survives_the_process_that_started_it_and_is_replaced_on_its_socket(tmp_path: Path,
                                                                                      fixtures_dir: Path) -> None:
    data_dir = tmp_path / "data"
    assert _ingest(data_dir, str(fixtures_dir / "volcano.txt")).returncode == 0
    info = running(data_dir.resolve())
    assert info is not None
    client = local_client(data_dir)
    assert client.heartbeat()
    os.kill(info.pid, 9)  # the server dies: the next process starts another on the same socket
    _within(10, lambda: running(data_dir.resolve()) is None)
    assert _ingest(data_dir, "--list").returncode == 0
    again = running(data_dir.resolve())
    assert again is not None and again.pid != info.pid and again.socket == info.socket
    assert client.heartbeat()  # an open client goes on working
    assert (data_dir / INFO_FILE).exists()
