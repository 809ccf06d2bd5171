"""Every keyword engine (KEYWORD_ENGINE: tantivy, fts5) keeps the one contract of the keyword index:
rows replaced and deleted per article, content hashes for the index sync, the filters, the title weight,
word pruning, a failed batch leaving nothing, and several processes writing in turn while a reader
sees each write without being reopened."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.filters import UNKNOWN_DAY, Filters, day_number
from assistant.store.keyword_common import KeywordEngine
from assistant.store.keyword_engines import ENGINES, EngineMissing, keyword_index_path, open_engine

REPO = Path(__file__).resolve().parent.parent
ENGINE_NAMES = list(ENGINES)
MARCH = day_number(date(2024, 3, 5))
MAY = day_number(date(2024, 5, 20))


@pytest.fixture(params=ENGINE_NAMES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def opened(engine: str, tmp_path: Path, **options: float) -> KeywordEngine:
    return open_engine(engine, keyword_index_path(tmp_path, "newsdesk", engine), **options)  # type: ignore[arg-type]


def ids(found: list[tuple[str, float]]) -> list[str]:
    return [chunk_id for chunk_id, _ in found]


def test_replace_delete_and_hashes(engine: str, tmp_path: Path) -> None:
    index = opened(engine, tmp_path)
    assert index.count() == 0 and index.hashes() == {} and index.search("lava", 5) == []
    index.replace_article("a", "h1", [("a#0", "Volcano", "lava flows reached Zarnowiec", "Wire", MARCH),
                                      ("a#1", "Volcano", "ash over the valley", "Wire", MARCH)])
    index.replace_article("b", "h2", [("b#0", "Bees", "honey prices rose", "Wire", MARCH)])
    assert index.count() == 3 and index.hashes() == {"a": "h1", "b": "h2"}
    assert ids(index.search("Where did the lava reach?", 5)) == ["a#0"]
    assert index.hits("zarnowiec", 5)[0][:2] == ("a#0", "a")
    index.replace_article("a", "h3", [("a#0", "Volcano", "the eruption ended", "Wire", MARCH)])  # fewer rows
    assert index.count() == 2 and index.search("lava", 5) == [] and ids(index.search("eruptions", 5)) == ["a#0"]
    index.delete_article("b")
    assert index.search("honey", 5) == [] and index.count() == 1
    assert index.hashes() == {"a": "h3"} and index.hashes(["b", "a", "zz"]) == {"a": "h3"}
    with index.batch():
        index.replace_article("c", "h4", [("c#0", "Tram", "the tram line opened", "Wire", MARCH)])
        index.delete_article("a")
    assert index.hashes() == {"c": "h4"} and ids(index.search("tram", 5)) == ["c#0"] and index.count() == 1
    assert index.hits("the of and", 5) == [] and index.hits("tram", 0) == []


def test_a_failed_batch_leaves_nothing(engine: str, tmp_path: Path) -> None:
    index = opened(engine, tmp_path)
    index.replace_article("a", "h1", [("a#0", "Volcano", "lava", "Wire", MARCH)])
    with pytest.raises(OSError), index.batch():
        index.replace_article("b", "h2", [("b#0", "Bees", "honey", "Wire", MARCH)])
        index.delete_article("a")
        raise OSError("killed")
    assert index.hashes() == {"a": "h1"} and ids(index.search("lava", 5)) == ["a#0"] and index.search("honey", 5) == []
    index.replace_article("b", "h2", [("b#0", "Bees", "honey", "Wire", MARCH)])  # and the next write goes through
    assert ids(index.search("honey", 5)) == ["b#0"]


def test_filters_by_source_article_and_day(engine: str, tmp_path: Path) -> None:
    index = opened(engine, tmp_path)
    index.replace_article("m", "h", [("m#0", "Harbour", "ferry timetable", "Island Courier", MARCH)])
    index.replace_article("y", "h", [("y#0", "Harbour", "ferry strike", "Valley Post", MAY)])
    index.replace_article("u", "h", [("u#0", "Harbour", "ferry fares", "Valley Post", UNKNOWN_DAY)])
    everything = set(ids(index.search("ferry", 10)))
    assert everything == {"m#0", "y#0", "u#0"}

    def found(**given: object) -> set[str]:
        return set(ids(index.search("ferry", 10, Filters(**given))))  # type: ignore[arg-type]

    assert found(source=["Valley Post"]) == {"y#0", "u#0"}
    assert found(source=["Island Courier", "Valley Post"]) == everything
    assert found(article_ids=["m", "u"]) == {"m#0", "u#0"}
    assert found(date_from=date(2024, 4, 1)) == {"y#0"}  # undated passages never match a date filter
    assert found(date_to=date(2024, 4, 1)) == {"m#0"}
    assert found(date_from=date(2024, 3, 5), date_to=date(2024, 5, 20)) == {"m#0", "y#0"}
    assert found(source=["Valley Post"], date_to=date(2024, 12, 31)) == {"y#0"}
    assert found(source=["Nobody"]) == set() and found(article_ids=["gone"]) == set()


def test_the_title_weight_ranks_title_matches(engine: str, tmp_path: Path) -> None:
    rows = [("t", "Ferry news", "the harbour wall was repaired"), ("b", "Harbour news", "the ferry resumed on Monday")]
    weights = ((5.0, "t#0"), (0.2, "b#0")) if engine != "tantivy" else ((5.0, "t#0"),)  # tantivy: 1 at least
    for weight, first in weights:
        index = opened(engine, tmp_path / str(weight), title_weight=weight)
        for article_id, title, body in rows:
            index.replace_article(article_id, "h", [(f"{article_id}#0", title, body, "Wire", MARCH)])
        found = index.search("ferry", 5)
        assert ids(found)[0] == first and len(found) == 2 and found[0][1] > found[1][1] > 0


def test_tantivy_scores_title_and_body_words_alike_at_weight_one(tmp_path: Path) -> None:
    """As FTS5 scores a row: a word in a short title does not outrank the same word in the body."""
    index = opened("tantivy", tmp_path, title_weight=1.0)
    index.replace_article("t", "h", [("t#0", "Ferry news", "the harbour wall was repaired on Monday", "Wire", MARCH)])
    index.replace_article("b", "h", [("b#0", "Harbour news", "the ferry wall was repaired on Monday", "Wire", MARCH)])
    found = index.search("ferry", 5)
    assert len(found) == 2 and abs(found[0][1] - found[1][1]) < 1e-6


def test_a_query_leaves_out_the_words_most_passages_hold(engine: str, tmp_path: Path) -> None:
    common = [(f"c{n}", "Report", f"council budget week news item {n}") for n in range(40)]
    rare = [("r", "Report", "the council approved the lighthouse budget this week")]
    for max_df, expected in ((1.0, 41), (0.5, 1)):
        index = opened(engine, tmp_path / str(max_df), max_df=max_df, prune_from=0)
        with index.batch():
            for article_id, title, body in [*common, *rare]:
                index.replace_article(article_id, "h", [(f"{article_id}#0", title, body, "Wire", MARCH)])
        found = index.hits("Council budget for the lighthouse this week?", 50)
        assert len(found) == expected and found[0][0] == "r#0"
        if max_df < 1:
            assert len(index.hits("council budget week", 50)) == 41  # all common: the rarest still searches
    small = opened(engine, tmp_path / "0.5", max_df=0.5)  # 41 passages: under PRUNE_FROM, every word searches
    assert len(small.hits("Council budget for the lighthouse this week?", 50)) == 41


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from assistant.store.keyword_engines import open_engine
    engine, path, name, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    index = open_engine(engine, Path(path))
    for n in range(count):
        index.replace_article(f"{name}{n}", "h", [(f"{name}{n}#0", "Ferry", f"ferry {name} crossing {n}", "Wire", 1)])
    print(index.count(), flush=True)
""")


def _writer(engine: str, path: Path, name: str, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", WRITER, engine, str(path), name, str(count)], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_processes_writing_in_turn_and_at_once_reach_an_open_reader(engine: str, tmp_path: Path) -> None:
    path = keyword_index_path(tmp_path, "newsdesk", engine)
    reader = open_engine(engine, path)  # open all along, never reopened
    writer = open_engine(engine, path)  # this process writes too
    writer.replace_article("here", "h", [("here#0", "Ferry", "ferry alpha", "Wire", 1)])
    first = _writer(engine, path, "one", 3)
    assert first.communicate(timeout=120)[0].strip() == "4", first.stderr
    writer.replace_article("there", "h", [("there#0", "Ferry", "ferry beta", "Wire", 1)])  # after the other process
    assert reader.count() == 5 and {"one2#0", "here#0", "there#0"} <= set(ids(reader.search("ferry", 10)))
    both = [_writer(engine, path, name, 10) for name in ("left", "right")]  # two at once: they take turns
    for process in both:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    assert reader.count() == 25 and len(reader.hashes()) == 25
    assert ids(reader.search("right crossing 9", 1)) == ["right9#0"]
    writer.delete_article("left0")
    assert "left0" not in reader.hashes() and "left0#0" not in ids(reader.search("left", 20))


KILLED = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from assistant.store.keyword_engines import open_engine
    engine, path = sys.argv[1], sys.argv[2]
    index = open_engine(engine, Path(path))
    index.replace_article("kept", "h1", [("kept#0", "Ferry", "ferry kept", "Wire", 1)])
    with index.batch():
        index.replace_article("lost", "h2", [("lost#0", "Ferry", "ferry lost", "Wire", 1)])
        index.delete_article("kept")
        os.kill(os.getpid(), signal.SIGKILL)  # killed half-way through a write
""")


@pytest.mark.slow
def test_a_process_killed_mid_write_leaves_a_usable_index(engine: str, tmp_path: Path) -> None:
    path = keyword_index_path(tmp_path, "newsdesk", engine)
    killed = subprocess.run([sys.executable, "-c", KILLED, engine, str(path)], cwd=REPO, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    index = open_engine(engine, path)
    assert index.hashes() == {"kept": "h1"} and ids(index.search("ferry", 5)) == ["kept#0"]
    index.replace_article("next", "h3", [("next#0", "Ferry", "ferry next", "Wire", 1)])  # its writer lock is free
    assert set(ids(index.search("ferry", 5))) == {"kept#0", "next#0"}


CRASH_AFTER_COMMIT = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    import assistant.store.keyword_tantivy as engine
    transactions = engine.write_transaction
    calls = []

    def dying(connection):
        calls.append(1)
        if len(calls) == 2:  # the tantivy commit of the second write is done; its hashes are not set yet
            os.kill(os.getpid(), signal.SIGKILL)
        return transactions(connection)

    index = engine.TantivyKeywordIndex(Path(sys.argv[1]))
    index.replace_article("a", "h1", [("a#0", "Ferry", "ferry old", "Wire", 1)])
    engine.write_transaction = dying
    index.replace_article("a", "h2", [("a#0", "Ferry", "ferry new", "Wire", 1)])
""")


@pytest.mark.slow
def test_tantivy_killed_between_its_commit_and_the_hashes_leaves_the_article_to_repair(tmp_path: Path) -> None:
    path = keyword_index_path(tmp_path, "newsdesk", "tantivy")
    killed = subprocess.run([sys.executable, "-c", CRASH_AFTER_COMMIT, str(path)], cwd=REPO, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    index = open_engine("tantivy", path)
    assert index.hashes() == {"a": ""}  # matches no record's hash: the index sync rebuilds it
    assert ids(index.search("new", 5)) == ["a#0"]


def test_each_engine_keeps_its_own_index_and_a_missing_package_is_named(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    paths = {keyword_index_path(tmp_path, "newsdesk", engine) for engine in ENGINES}
    assert len(paths) == 2 and tmp_path / "newsdesk_keywords.sqlite3" in paths  # fts5's file as before
    settings = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    from assistant.store.keyword_engines import open_keyword_index

    assert type(open_keyword_index(settings)).__name__ == "TantivyKeywordIndex"  # the default
    monkeypatch.setitem(sys.modules, "tantivy", None)  # as if it were not installed
    with pytest.raises(EngineMissing, match=r"^KEYWORD_ENGINE=tantivy needs the tantivy package: .*pip install tantivy"):
        open_engine("tantivy", tmp_path / "x")
    with pytest.raises(ValueError, match="KEYWORD_ENGINE='lucene'"):
        open_engine("lucene", tmp_path / "y")
