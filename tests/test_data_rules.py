"""Rules about what is stored, checked against races and odd input (issue 19, items 8, 9, 10, 13, 14):

- a feed never brings back an entry an editor deleted, unless it changed upstream and `--restore-deleted` asks;
- an update prepared while another process deletes the article does not undo the delete, and says so;
- a purge and a restore of the trash are serialised with the store's write lock (one "purged" per entry);
- two ingests of the same new files at once: one stores them, the other finds them unchanged (no
  spurious audit lines);
- JSON records hold strings where the README says strings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import chromadb
import pytest
from fakes import FakeEncoder, send_html
from test_untrusted_records import ingest, jsonl
from test_web_sources import (  # noqa: F401  (cli and site are fixtures)
    Cli,
    Site,
    article_html,
    cli,
    conditional,
    counts,
    feed_site,
    paragraphs,
    rfc822,
    rss,
    site,
    stored,
)

from assistant.config import Settings
from assistant.encoders.embeddings import MiniLMEmbeddings
from assistant.infra.locks import file_lock
from assistant.store.audit import AuditLog
from assistant.store.chunk_store import ChunkStore
from assistant.store.keyword_index import KeywordIndex
from assistant.store.trash import Trash
from assistant.types import Article
from ingest.loaders import article_id
from ingest.pipeline import Ingestor

REPO = Path(__file__).resolve().parent.parent


# --- 14: strings where the README says strings -----------------------------------------------------------


def test_numbers_for_text_fields_are_refused_with_one_line(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "records.jsonl",
                 json.dumps({"title": "Numbers", "text": 12345}),
                 json.dumps({"title": "A Url", "text": "Some text.", "url": 42}),
                 json.dumps({"title": 2024, "text": "Some text."}),
                 json.dumps({"id": 7, "title": "Numbered", "text": "An integer id is an id."}))
    report, articles = ingest(path)
    assert report.errors == [f"{path}:2: field 'text' must be a string, not int",
                             f"{path}:3: field 'url' must be a string, not int",
                             f"{path}:4: field 'title' must be a string, not int"]
    assert set(articles) == {"before", "after", "7"}, "the rest of the file is stored"


# --- 10: purge and restore under the write lock ----------------------------------------------------------


def locked_store(tmp_path: Path) -> ChunkStore:
    """A store in memory with the write lock and audit log of a DATA_DIR in tmp_path."""
    return ChunkStore(chromadb.EphemeralClient(), f"t{uuid.uuid4().hex[:12]}", None, KeywordIndex(":memory:"), None,
                      file_lock(tmp_path / "newsdesk.write.lock"), audit=AuditLog(tmp_path / "audit.jsonl"))


def trashed_article(store: ChunkStore) -> tuple[Trash, str]:
    text = " ".join(f"The harbour wall was repaired in stage {n} of the works." for n in range(60))
    report = Ingestor(store, FakeEncoder(), max_tokens=64).ingest(
        [Article(id="harbour", title="Harbour Wall Repaired", text=text, origin="t.jsonl:1")])
    assert report.new == 1 and store.count_chunks() > 1
    trash = Trash(store)
    entry = trash.put("harbour", "cli")
    assert entry is not None
    return trash, entry.trash_id


def purged_lines(tmp_path: Path) -> list[str]:
    return [entry.detail for entry in AuditLog(tmp_path / "audit.jsonl").entries() if entry.action.startswith("purged")]


def test_two_purges_at_once_purge_and_log_one_entry_once(tmp_path: Path) -> None:
    store = locked_store(tmp_path)
    trash, trash_id = trashed_article(store)
    deleting = trash._delete

    def slow_delete(trash_ids: list[str]) -> None:
        time.sleep(0.5)  # the first purge is still deleting when the second one looks
        deleting(trash_ids)

    trash._delete = slow_delete  # type: ignore[method-assign]
    counts_: list[int] = []
    purges = [threading.Thread(target=lambda: counts_.append(trash.purge())) for _ in range(2)]
    for purge in purges:
        purge.start()
        time.sleep(0.1)
    for purge in purges:
        purge.join(30)
    assert sorted(counts_) == [0, 1]
    assert purged_lines(tmp_path) == [trash_id], "one entry, one purged line"


def test_a_restore_racing_a_purge_restores_every_passage(tmp_path: Path) -> None:
    store = locked_store(tmp_path)
    trash, trash_id = trashed_article(store)
    chunks = trash.passages.count()
    passages = trash.passages
    reading, purged = threading.Event(), threading.Event()

    class SlowPassages:  # the restore reads the entry, then its passages, slowly
        def __getattr__(self, name: str) -> Any:
            return getattr(passages, name)

        def get(self, **query: Any) -> Any:
            reading.set()
            purged.wait(2.0)  # a purge that does not wait for the write lock gets in here
            return passages.get(**query)

    trash.passages = SlowPassages()  # type: ignore[assignment]
    restored: list[Any] = []
    restore = threading.Thread(target=lambda: restored.append(trash.restore(trash_id, "editor")))
    restore.start()
    assert reading.wait(30)
    purge = threading.Thread(target=lambda: (Trash(store).purge(), purged.set()))
    purge.start()
    restore.join(30)
    purge.join(30)
    [record] = restored
    assert store.records(["harbour"])["harbour"].chunks == chunks == record.chunks
    assert store.count_chunks() == chunks, "every passage is back"
    assert purged_lines(tmp_path) == [], "the restored entry was never purged"


# --- 9 and 13: real ingest processes racing ---------------------------------------------------------------


def _env(data_dir: Path) -> dict[str, str]:
    return {**os.environ, "DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1",
            "LLM_PROVIDER": "extractive", "FETCH_ALLOW_HOSTS": "127.0.0.1"}


def _ingest(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ingest", "-q", *args], env=_env(data_dir), cwd=REPO,
                          capture_output=True, text=True, timeout=600)


class SlowPage:
    """One article page on 127.0.0.1 that answers only once `wanted` requests wait for it, or when released."""

    def __init__(self, wanted: int = 1) -> None:
        self.release = threading.Event()
        self.waiting = 0
        self.all_waiting = threading.Event()
        page = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                page.waiting += 1
                if page.waiting >= wanted:
                    page.all_waiting.set()
                page.release.wait(timeout=300)
                body = article_html("Ferry Timetable Changes", paragraphs("ferry timetable"))
                send_html(self, body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ferry.html"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def _records(path: Path, version: str) -> Path:
    path.write_text("".join(json.dumps({"id": f"j{n}", "title": f"Junction {n} Reopens ({version})",
                                        "text": f"Junction {n} reopened on Monday. {version} of the report: "
                                                + " ".join(paragraphs(f"junction {n} {version}"))}) + "\n"
                            for n in range(10)), encoding="utf-8")
    return path


def _audit(data_dir: Path) -> list[dict[str, Any]]:
    path = data_dir / "newsdesk_audit.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
def test_updates_do_not_undo_a_delete_made_while_they_were_prepared(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = _ingest(data_dir, str(_records(tmp_path / "first.jsonl", "first version")))
    assert first.returncode == 0 and "new 10" in first.stdout, first.stderr
    page = SlowPage()
    try:  # the updates are read, then the run waits for a slow page; meanwhile all ten are deleted
        updating = subprocess.Popen([sys.executable, "-m", "ingest", "-q",
                                     str(_records(tmp_path / "second.jsonl", "second version")), page.url],
                                    env=_env(data_dir), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
        assert page.all_waiting.wait(300), "the ingest never asked for the page"
        deleted = _ingest(data_dir, "--delete", *(f"j{n}" for n in range(10)))
        assert deleted.returncode == 0 and "deleted 10" in deleted.stdout, deleted.stderr
        page.release.set()
        out, err = updating.communicate(timeout=300)
    finally:
        page.close()
    assert updating.returncode == 0, err
    assert "new 1, updated 0, unchanged 0" in out, out
    assert "(not stored: 10 deleted by another process meanwhile)" in out, out
    listed = _ingest(data_dir, "--list").stdout
    assert not any(row.startswith("j") for row in listed.splitlines()), "a delete was undone"
    assert "Ferry Timetable Changes" in listed


@pytest.mark.slow
def test_two_ingests_of_the_same_new_files_at_once_report_truthfully(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    files = tmp_path / "news"
    files.mkdir()
    _records(files / "junctions.jsonl", "only version")
    page = SlowPage(wanted=2)
    try:  # both read the empty store, then wait for the same slow page: their batches are written one after the other
        runs = [subprocess.Popen([sys.executable, "-m", "ingest", "-q", str(files), page.url], env=_env(data_dir),
                                 cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
        assert page.all_waiting.wait(300), "the ingests never both asked for the page"
        page.release.set()
        outputs = [run.communicate(timeout=300) for run in runs]
    finally:
        page.close()
    assert [run.returncode for run in runs] == [0, 0], outputs
    summaries = sorted(out.strip().splitlines()[-1] for out, _ in outputs)
    assert [counts(summary) for summary in summaries] == [
        {"new": 0, "updated": 0, "unchanged": 11, "near-duplicates": 0, "failed": 0, "chunks written": 0},
        {"new": 11, "updated": 0, "unchanged": 0, "near-duplicates": 0, "failed": 0,
         "chunks written": counts(summaries[1])["chunks written"]},
    ], summaries
    actions = [entry["action"] for entry in _audit(data_dir)]
    assert actions == ["added"] * 11, "no spurious 'updated' lines"


# --- 8: a feed never brings back a deleted entry ---------------------------------------------------------


@pytest.mark.slow
def test_a_feed_does_not_bring_back_a_deleted_entry(site: Site, cli: Cli, settings: Settings,  # noqa: F811
                                                   encoder: MiniLMEmbeddings) -> None:
    items = feed_site(site, count=3)
    feed = site.url("/feed.xml")
    site.routes["/feed.xml"] = conditional(rss("Valley Post", items), '"v1"', rfc822(10))
    status, out, errors = cli("--feed", feed)
    assert (status, errors, counts(out)["new"]) == (0, [], 3)
    ids = [article_id(None, item["link"], "", "") for item in items]
    status, out, _ = cli("--delete", ids[0])
    assert status == 0 and "deleted 1" in out

    def poll(version: str, *extra: str) -> str:
        site.routes["/feed.xml"] = conditional(rss("Valley Post", items), f'"{version}"', rfc822(10 + int(version[1:])))
        before = len(site.requests)
        status, out, errors = cli("--feed", feed, *extra)
        assert (status, errors) == (0, []), out
        fetched = sorted(path for path, _ in site.requests[before:] if path != "/feed.xml")
        return out.splitlines()[0] + " | fetched " + ",".join(fetched)

    # The feed changes (a new entry): the new one is fetched, the deleted one is not.
    site.routes["/articles/3"] = (200, {}, article_html("Elmsford Library Extended", paragraphs("library")))
    items.append({"title": "Elmsford Library Extended", "link": site.url("/articles/3"), "date": rfc822(4)})
    assert poll("v2") == (f"feed Valley Post ({feed}): 4 entries, 2 unchanged, 1 pages fetched, 0 from feed content, "
                          "1 deleted here, not fetched again | fetched /articles/3")
    assert ids[0] not in stored(settings, encoder)

    # Deleted and its trash purged before any poll saw it gone: the audit log still knows.
    assert cli("--delete", ids[1])[0] == 0 and cli("--purge-trash")[0] == 0
    assert poll("v3").endswith("4 entries, 2 unchanged, 0 pages fetched, 0 from feed content, "
                               "2 deleted here, not fetched again | fetched ")

    # Changed upstream: still not fetched, until an editor asks for it; then only the changed one.
    items[0] = {**items[0], "date": rfc822(20)}
    site.routes["/articles/0"] = (200, {}, article_html("Elmsford Project 0 Approved", paragraphs("revised plan")))
    assert poll("v4").endswith("2 deleted here, not fetched again | fetched ")
    assert poll("v5", "--restore-deleted").endswith(
        "1 deleted here, not fetched again, 1 deleted but changed upstream, fetched again | fetched /articles/0")
    now = set(stored(settings, encoder))
    assert {ids[0], ids[2], article_id(None, site.url("/articles/3"), "", "")} <= now and ids[1] not in now
    assert poll("v6").endswith("3 unchanged, 0 pages fetched, 0 from feed content, "
                               "1 deleted here, not fetched again | fetched ")
