"""Ingest under failure: a crash (or SIGKILL) at any point, concurrent ingests and readers, random input.

After any interruption retrieval never returns a passage of a half-written article, and re-running
the ingest ends with exactly the store an uninterrupted run gives.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import chromadb
import pytest
from conftest import make_assistant
from consistency import assert_retrieval_returns_only_complete_articles, assert_same_store, complete_articles, snapshot
from fakes import FakeEncoder, memory_store
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from test_chroma_server import chroma_server  # noqa: F401  (fixture)
from test_near_duplicates import edited, story

from assistant.config import Settings
from assistant.store.keyword_engines import keyword_index_path
from assistant.encoders.embeddings import MiniLMEmbeddings
from assistant.store.chunk_store import ChunkStore, build_store
from assistant.types import Article
from ingest.loaders import load_paths
from ingest.pipeline import Ingestor, IngestReport

REPO = Path(__file__).resolve().parent.parent


class Killed(BaseException):
    """Stands in for SIGKILL: not an Exception, so nothing in the pipeline catches it."""


class WriteCounter:
    """Counts every write the store makes (Chroma, keyword index, signatures); can die at the n-th."""

    WRITES: ClassVar[dict[str, tuple[str, ...]]] = {"chunks": ("upsert", "delete", "update"), "catalogue": ("upsert", "delete", "update"), "changes": ("upsert", "delete"),
              "keywords": ("replace_article", "delete_article"), "signatures": ("replace_article", "delete_article")}

    def __init__(self, store: ChunkStore) -> None:
        self.count = 0
        self.die_at: int | None = None
        for part, methods in self.WRITES.items():
            target = getattr(store, part)
            for name in methods:
                setattr(target, name, self._counted(getattr(target, name)))

    def _counted(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def write(*args: Any, **kwargs: Any) -> Any:
            if self.count == self.die_at:
                raise Killed
            self.count += 1
            return method(*args, **kwargs)
        return write


def _phases() -> tuple[list[Article], list[Article]]:
    """A first ingest (new articles, a copy, a whole-file article), then a second one that changes them."""
    def make(article_id: str, sentences: list[str], origin: str = "") -> Article:
        return Article(id=article_id, title=f"Story {article_id}", text="\n".join(sentences), source="Wire",
                       origin=origin or f"/in/feed.jsonl:{article_id}")

    first = [make("long", story(1, sentences=30)), make("short", story(2, sentences=2)),
             make("copy", edited(story(1, sentences=30), seed=3, changes=2)),
             make("txt-1", story(4, sentences=8), origin="/in/notes.txt"), make("kept", story(5, sentences=12))]
    second = [make("long", story(1, sentences=9)),  # fewer passages than before
              make("short", story(2, sentences=3)), make("copy", edited(story(1, sentences=30), seed=6, changes=2)),
              make("txt-2", story(4, sentences=9), origin="/in/notes.txt"),  # the edited file: a new id
              make("kept", story(5, sentences=12)), make("added", story(7, sentences=10))]
    return first, second


def _ingest(store: ChunkStore, articles: list[Article]) -> IngestReport:
    return Ingestor(store, FakeEncoder(), max_tokens=128).ingest(articles)


def test_a_crash_at_any_write_hides_the_half_written_article_and_a_rerun_completes_it() -> None:
    first, second = _phases()
    reference = memory_store()
    counter = WriteCounter(reference)
    _ingest(reference, first)
    after_first, writes_first = snapshot(reference), counter.count
    _ingest(reference, second)
    after_second, writes_second = snapshot(reference), counter.count - writes_first
    # A flush writes its articles in batches (store.write_articles): the first phase's 5 articles now take
    # 14 writes (23 when each article was written on its own); every one of them is a kill point below.
    assert writes_first > 12 and writes_second > 15
    for phase, writes, expected in ((0, writes_first, after_first), (1, writes_second, after_second)):
        for die_at in range(writes):
            store = memory_store()
            counter = WriteCounter(store)
            if phase == 1:
                _ingest(store, first)
                counter.count = 0
            counter.die_at = die_at
            with pytest.raises(Killed):
                _ingest(store, (first, second)[phase])
            counter.die_at = None
            assert_retrieval_returns_only_complete_articles(store, FakeEncoder())
            report = _ingest(store, (first, second)[phase])
            assert report.failed == 0
            assert_same_store(snapshot(store), expected)


_word = st.text(st.characters(categories=("L", "N")), min_size=1, max_size=10)
_sentence = st.lists(_word, min_size=1, max_size=25).map(lambda words: " ".join(words).capitalize() + ".")
_paragraph = st.lists(_sentence, min_size=1, max_size=6).map(" ".join)
_text = st.one_of(st.lists(_paragraph, min_size=1, max_size=8).map("\n".join),
                  st.text(min_size=1, max_size=3000)).filter(lambda text: any(ch.isalnum() for ch in text))


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(st.tuples(_word, _text), min_size=1, max_size=6))
def test_random_articles_ingest_and_reingest_changes_nothing(texts: list[tuple[str, str]]) -> None:
    articles = [Article(id=f"a{n}", title=title, text=text, origin=f"/in/a.jsonl:{n}")
                for n, (title, text) in enumerate(texts)]
    store = memory_store()
    encoder = FakeEncoder()
    ingestor = Ingestor(store, encoder, max_tokens=64)
    report = ingestor.ingest(articles)
    assert (report.failed, report.new + report.near_duplicates) == (0, len(articles))
    records = {record.id: record for record in store.articles()}
    assert complete_articles(store) == set(records)
    for record in records.values():  # every word of a stored article is in one of its passages
        stored = store.chunks.get(where={"article_id": record.id}, include=["documents", "metadatas"])
        kept = " ".join([record.title, *stored["documents"], *(str(m["section"]) for m in stored["metadatas"])])
        text = next(article.text for article in articles if article.id == record.id)
        assert set(re.findall(r"\w+", text)) <= set(re.findall(r"\w+", kept))
    before, encoded = snapshot(store), encoder.encoded
    again = ingestor.ingest(articles)
    assert (again.unchanged, again.chunks, encoder.encoded) == (len(articles), 0, encoded)
    assert_same_store(snapshot(store), before)


# --- the real command, killed with SIGKILL ----------------------------------------------------------

def _write_corpus(folder: Path, version: int) -> None:
    """24 one-passage articles (20 in a JSON Lines file, 2 text files) and two syndicated copies;
    version 2 changes a third of the articles, one copy and one text file."""
    folder.mkdir(exist_ok=True)

    def text(seed: int) -> str:
        return " ".join(story(seed + (1000 if version == 2 and seed % 3 == 0 else 0), sentences=5))

    records = [{"id": f"wire-{n}", "title": f"Wire story {n}", "source": "Wire", "published": "2024-05-01",
                "text": text(n)} for n in range(20)]
    records += [{"id": f"copy-{n}", "title": f"Copy of {n}", "source": "Other",  # another outlet's small edits
                 "text": text(n).rsplit(" ", 1)[0] + " indeed."} for n in (3, 8)]
    (folder / "wire.jsonl").write_text("\n".join(json.dumps(record) for record in records))
    for n in (501, 503):
        (folder / f"note-{n}.txt").write_text(f"Note {n}\nSource: Desk\n\n{text(n)}\n")


def _run(corpus: Path, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "ingest", "-q", str(corpus)], cwd=corpus.parent, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(process: subprocess.Popen[bytes]) -> str:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err.decode()
    return out.decode()


@contextmanager
def _opened(data_dir: Path) -> Iterator[ChunkStore]:
    """The store as a new process would see it (Chroma caches an open store per path and process)."""
    chromadb.api.client.SharedSystemClient.clear_system_cache()
    try:
        yield build_store(Settings(data_dir=data_dir, _env_file=None))  # type: ignore[call-arg]
    finally:
        chromadb.api.client.SharedSystemClient.clear_system_cache()


def _written(data_dir: Path) -> set[tuple[str, str]]:
    """(article, content hash) pairs the keyword index holds: written just before an article is complete."""
    index = keyword_index_path(data_dir, "newsdesk", Settings(_env_file=None).keyword_engine)  # type: ignore[call-arg]
    path = index / "articles.sqlite3" if index.suffix != ".sqlite3" else index  # tantivy's hashes beside its index
    if not path.exists():
        return set()
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as connection:
            return set(connection.execute("SELECT article_id, content_hash FROM articles"))
    except sqlite3.OperationalError:  # not created yet
        return set()


def _same(actual: dict[str, Any], expected: dict[str, Any]) -> bool:
    try:
        assert_same_store(actual, expected)
    except AssertionError:
        return False
    return True


def _after(seconds: float) -> Callable[[], bool]:
    deadline = time.monotonic() + seconds
    return lambda: time.monotonic() > deadline


def _written_more(data_dir: Path, before: set[tuple[str, str]], count: int) -> Callable[[], bool]:
    return lambda: len(_written(data_dir) - before) >= count


def _kill_when(process: subprocess.Popen[bytes], ready: Callable[[], bool]) -> bool:
    """SIGKILL the process once `ready()`; False when it finished first."""
    while process.poll() is None:
        if ready():
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.005)
    return False


@pytest.mark.slow
def test_sigkill_at_random_points_then_rerun_gives_the_uninterrupted_store(tmp_path: Path,
                                                                           encoder: MiniLMEmbeddings) -> None:
    rng = random.Random(7)
    corpus = tmp_path / "corpus"
    reference, work = tmp_path / "reference", tmp_path / "work"
    partial_kills = 0
    for version, kills in ((1, ("early", "progress", "anytime")), (2, ("progress",))):
        _write_corpus(corpus, version)
        with _opened(reference) as store:  # the uninterrupted run, in this process
            settings = Settings(data_dir=reference, _env_file=None)  # type: ignore[call-arg]
            assert Ingestor.from_settings(settings, store, encoder).ingest(load_paths([corpus], 10**6)).failed == 0
            expected = snapshot(store)
        for kill in kills:
            before = _written(work)
            process = _run(corpus, work)
            if kill == "early":  # while the command is starting
                killed = _kill_when(process, _after(rng.uniform(0.0, 1.5)))
            elif kill == "progress":  # after a random number of articles were written
                killed = _kill_when(process, _written_more(work, before, rng.randint(1, 5)))
            else:  # anywhere in a run of about 20 s
                killed = _kill_when(process, _after(rng.uniform(0.0, 20.0)))
            if not killed:
                _finish(process)
            with _opened(work) as store:
                assert_retrieval_returns_only_complete_articles(store, FakeEncoder(384))
                unfinished = not _same(snapshot(store), expected)
            progress = _written(work)
            # killed after it began writing (a keyword entry written or blanked) and before it finished
            partial_kills += killed and progress != before and unfinished
        output = _finish(_run(corpus, work))
        assert "failed 0" in output
        with _opened(work) as store:
            assert_same_store(snapshot(store), expected)
    assert partial_kills >= 2  # the kills did land in the middle of writing


# --- one Chroma server, two ingests and sixteen readers at once -----------------------------------------

def _server_corpus(folder: Path, name: str, first: int, count: int) -> Path:
    path = folder / name
    path.mkdir(parents=True)
    records = [{"id": f"s{n}", "title": f"Council report {n}", "source": "Gazette",
                "text": f"Councillor Vik{n} said the budget for district {n} was approved. " + " ".join(story(n, 4))}
               for n in range(first, first + count)]
    (path / f"{name}.jsonl").write_text("\n".join(json.dumps(record) for record in records))
    return path


@pytest.mark.slow
def test_two_ingests_and_sixteen_readers_at_once_against_one_chroma_server(
        chroma_server: int, tmp_path: Path, encoder: MiniLMEmbeddings) -> None:  # noqa: F811
    settings = Settings(data_dir=tmp_path / "local", chroma_host="127.0.0.1", chroma_port=chroma_server,
                        _env_file=None)  # type: ignore[call-arg]
    news = make_assistant(settings, encoder)
    shared = _server_corpus(tmp_path, "shared", 0, 8)
    first, second = _server_corpus(tmp_path, "first", 100, 14), _server_corpus(tmp_path, "second", 200, 14)
    assert Ingestor.from_settings(settings, news.store, encoder).ingest(load_paths([shared], 10**6)).new == 8
    env = {**os.environ, "DATA_DIR": str(tmp_path / "local"), "CHROMA_HOST": "127.0.0.1",
           "CHROMA_PORT": str(chroma_server), "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    processes = [subprocess.Popen([sys.executable, "-m", "ingest", "-q", str(folder), str(shared)], cwd=tmp_path,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for folder in (first, second)]
    questions = [f"What did councillor Vik{n} say about the budget?" for n in (0, 3, 5, 7)]  # stored before
    barrier = threading.Barrier(16)
    answers: list[Any] = []
    rounds_during_ingest = 0

    def ask(index: int) -> Any:
        barrier.wait(timeout=120)
        return news.answer(questions[index % len(questions)], as_of=None)

    with ThreadPoolExecutor(16) as pool:
        while any(process.poll() is None for process in processes) or not answers:
            running = all(process.poll() is None for process in processes)
            answers.extend(pool.map(ask, range(16)))  # any exception in a thread is raised here
            rounds_during_ingest += running
    outputs = [process.communicate(timeout=600) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], [err.decode() for _, err in outputs]
    assert rounds_during_ingest >= 1
    assert all(answer.found and answer.citations for answer in answers)

    store = build_store(settings, encoder)
    records = {record.id: record for record in store.articles()}
    assert set(records) == {f"s{n}" for n in [*range(8), *range(100, 114), *range(200, 214)]}
    assert complete_articles(store) == set(records)
    assert store.keyword_hashes() == store.signature_hashes() == {i: r.content_hash for i, r in records.items()}
    assert store.keywords is not None and store.keywords.count() == store.count_chunks() == \
        sum(record.chunks for record in records.values())
    cited = {citation.article_id for answer in answers for citation in answer.citations}
    assert cited <= set(records) and {"s0", "s3", "s5", "s7"} <= cited
    again = Ingestor.from_settings(settings, store, encoder).ingest(load_paths([shared, first, second], 10**6))
    assert (again.unchanged, again.repaired, again.chunks) == (36, 0, 0)
