"""Bad files: each gets one error line naming it and the problem, and the good file beside it is still ingested."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fakes import FakeEncoder, memory_store

from assistant.config import Settings, get_settings
from assistant.encoders.embeddings import MiniLMEmbeddings
from assistant.types import Article
from ingest.__main__ import main as ingest_main
from ingest.chunking import chunk_article
from ingest.loaders import load_paths
from ingest.pipeline import Ingestor, IngestReport

MAX_FILE_BYTES = int(Settings.model_fields["max_file_mb"].default * 1e6)
GOOD = "Harbour Reopens After Storm\nSource: Coast Daily\n\nThe harbour reopened on Monday after the storm. " \
       "Fishing boats returned to the quay by noon.\n"


def _huge(path: Path) -> str:
    with path.open("wb") as file:  # sparse: 51 MB on paper, nothing written
        file.truncate(51_000_000)
    return f"{path}: file is 51.0 MB, over the 50 MB limit"


def _one_long_line(path: Path) -> str:
    path.write_text("A Very Long Line\n\n" + "word " * 1_000_000)  # 5 MB, no sentence end
    return f"{path.resolve()}: article is 5.0 MB, over the 1 MB limit (MAX_ARTICLE_MB)"


def _malformed_jsonl(path: Path) -> str:
    path.write_text(json.dumps({"id": "kept-line", "title": "Kept", "text": "A line that loads."})
                    + '\n{"id": "broken", "title": \n')
    return f"{path}:2: invalid JSON (Expecting value, column 27)"


CASES: dict[str, tuple[str, Callable[[Path], str]]] = {
    "zero bytes": ("empty.txt", lambda path: (path.write_bytes(b""), f"{path}: file is empty")[1]),
    "binary with a text extension": ("photo.txt", lambda path: (
        path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))),
        f"{path}: binary file, not text")[1]),
    "invalid UTF-8": ("latin1.md", lambda path: (
        path.write_bytes("# Caf\xe9 opens\n\nA new caf\xe9 opened.".encode("latin-1")),
        f"{path}: not valid UTF-8 text (byte 5)")[1]),
    "50 MB file": ("huge.txt", _huge),
    "one 5 MB line": ("long-line.txt", _one_long_line),
    "malformed JSON": ("broken.json", lambda path: (
        path.write_text('[{"title": "A", "text": "B"}, {"title": '),
        f"{path}:1: invalid JSON (Expecting value, column 41)")[1]),
    "malformed JSON Lines line": ("mixed.jsonl", _malformed_jsonl),
}


def _ingest(*paths: Path) -> tuple[IngestReport, set[str]]:
    store = memory_store()
    report = Ingestor(store, FakeEncoder()).ingest(load_paths(paths, MAX_FILE_BYTES))
    return report, {record.title for record in store.articles()}


@pytest.mark.parametrize("case", CASES)
def test_bad_file_gets_one_error_line_and_the_good_file_is_ingested(case: str, tmp_path: Path) -> None:
    name, write = CASES[case]
    (tmp_path / "good.txt").write_text(GOOD)
    expected = write(tmp_path / name)
    started = time.perf_counter()
    report, titles = _ingest(tmp_path)
    assert time.perf_counter() - started < 30
    assert report.errors == [expected]
    assert report.failed == 1 and "Harbour Reopens After Storm" in titles


def test_a_path_that_climbs_out_of_the_folder_is_refused_as_an_unknown_file_type(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (tmp_path / "uploads" / "a").mkdir(parents=True)
    (tmp_path / "good.txt").write_text(GOOD)
    climbing = tmp_path / "uploads" / "a" / ".." / ".." / "etc" / "passwd"
    report, titles = _ingest(climbing, tmp_path / "good.txt")
    [error] = report.errors
    assert error.startswith(f"{climbing}: unknown file type '(none)'; expected one of ")
    assert titles == {"Harbour Reopens After Storm"}


def test_a_5_mb_line_holding_many_articles_is_ingested(tmp_path: Path) -> None:
    """Refusing long lines would refuse minified JSON; the limit is on one article's text instead."""
    records = [{"id": f"r{n}", "title": f"Record {n}", "text": f"Record {n} says this. " * 2_500} for n in range(100)]
    (tmp_path / "minified.json").write_text(json.dumps(records, separators=(",", ":")))
    assert (tmp_path / "minified.json").stat().st_size > 5_000_000
    report, titles = _ingest(tmp_path)
    assert (report.new, report.failed) == (100, 0) and "Record 99" in titles


@pytest.mark.slow
def test_an_article_just_under_the_limit_on_one_line_chunks_in_bounded_time(encoder: MiniLMEmbeddings) -> None:
    article = Article(id="long", title="One Line", text="word " * 190_000)  # 0.95 MB, no sentence end
    started = time.perf_counter()
    chunks = chunk_article(article, encoder.token_counts, 256)
    assert time.perf_counter() - started < 60
    assert max(encoder.token_counts([chunk.embed_text for chunk in chunks])) <= 254
    assert sum(chunk.text.count("word") for chunk in chunks) == 190_000


@pytest.mark.slow
def test_the_command_prints_only_the_error_lines_and_the_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "good.txt").write_text(GOOD)
    expected = sorted(write(source / name) for name, write in CASES.values())
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        assert ingest_main([str(source), "-q"]) == 1
    finally:
        get_settings.cache_clear()
    out, err = capsys.readouterr()
    assert sorted(err.splitlines()) == expected
    assert out.startswith(f"new 2, updated 0, unchanged 0, near-duplicates 0, failed {len(CASES)}, ")
