"""End to end with the real MiniLM model and a temporary Chroma directory."""

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from assistant.answering.answerers import NOT_FOUND
from assistant.chain import NewsAssistant
from ingest.__main__ import main as ingest_main
from ingest.loaders import load_paths
from ingest.pipeline import Ingestor, IngestReport, delete_articles

pytestmark = pytest.mark.slow


def ingest_paths(news: NewsAssistant, *paths: Path) -> IngestReport:
    return Ingestor(news.store, news.encoder).ingest(load_paths(paths, 10**7))


def test_each_fixture_question_retrieves_its_article_and_the_answer_cites_it(
        news: NewsAssistant, fixtures_dir: Path, expected: list[dict[str, Any]]) -> None:
    report = ingest_paths(news, fixtures_dir)
    assert (report.new, report.failed) == (6, 0)
    for case in expected:
        passages = news.retrieve(case["question"], k=5)
        assert passages[0].title == case["title"], case["question"]
        result = news.answer(case["question"], k=5)
        assert result.found and result.backend == "extractive"
        assert result.citations[0].title == case["title"]
        assert "[1]" in result.text
        assert case["answer_contains"].lower() in result.text.lower(), (case["question"], result.text)
        assert result.citations[0].quote in result.citations[0].passage


def test_unrelated_question_gets_the_not_found_answer(news: NewsAssistant, fixtures_dir: Path) -> None:
    ingest_paths(news, fixtures_dir)
    result = news.answer("Which team won the Stanley Cup in ice hockey?")
    assert result.text == NOT_FOUND and result.citations == [] and not result.found
    assert result.passages  # the closest passages are still returned


def test_reingest_adds_nothing(news: NewsAssistant, fixtures_dir: Path) -> None:
    ingest_paths(news, fixtures_dir)
    chunks = news.store.count_chunks()
    again = ingest_paths(news, fixtures_dir)
    assert (again.new, again.updated, again.unchanged, again.chunks) == (0, 0, 6, 0)
    assert news.store.count_chunks() == chunks and news.store.count_articles() == 6


def test_changed_article_replaces_all_its_chunks(news: NewsAssistant, fixtures_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "articles"
    shutil.copytree(fixtures_dir, source)
    ingest_paths(news, source)
    records = [json.loads(line) for line in (source / "news.jsonl").read_text().splitlines()]
    records[1]["text"] = "Arabica futures fell to 2.10 dollars per pound as rain returned to Minas Gerais."
    (source / "news.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    report = ingest_paths(news, source)
    assert (report.new, report.updated, report.unchanged) == (0, 1, 5)
    stored = news.store.chunks.get(where={"article_id": "coffee-2024"}, include=["documents"])
    assert stored["documents"] == ["Arabica futures fell to 2.10 dollars per pound as rain returned to Minas Gerais."]
    passages = news.retrieve("record price of arabica coffee per pound", k=10)
    assert all("3.44" not in p.text for p in passages)


def test_edited_text_file_without_url_replaces_the_old_article(news: NewsAssistant, fixtures_dir: Path,
                                                               tmp_path: Path) -> None:
    path = tmp_path / "lighthouse.txt"
    shutil.copy(fixtures_dir / "lighthouse.txt", path)
    ingest_paths(news, path)
    [old] = news.store.articles()
    path.write_text(path.read_text().replace("41 metres", "44 metres"))
    report = ingest_paths(news, path)
    assert (report.new, report.updated) == (0, 1)
    [new] = news.store.articles()
    assert new.id != old.id
    assert all(p.article_id == new.id for p in news.retrieve("lighthouse height", k=10))


def test_delete_removes_the_article_from_retrieval(news: NewsAssistant, fixtures_dir: Path) -> None:
    ingest_paths(news, fixtures_dir)
    assert delete_articles(news.store, ["bees-2024", "nope"]) == (["bees-2024"], ["nope"])
    assert all(p.article_id != "bees-2024" for p in news.retrieve("honeybee colony losses", k=10))
    assert news.store.count_articles() == 5


def test_filters_restrict_retrieval(news: NewsAssistant, fixtures_dir: Path) -> None:
    ingest_paths(news, fixtures_dir)
    only = news.retrieve("price record", k=10, filters={"article_ids": ["bees-2024"]})
    assert only and {p.article_id for p in only} == {"bees-2024"}
    dated = news.retrieve("eruption", k=10, filters={"date_from": "2024-03-17", "date_to": "2024-03-17"})
    assert dated and {p.published for p in dated} == {"2024-03-17"}
    with pytest.raises(ValueError, match="invalid filters"):
        news.answer("eruption", filters={"publisher": "x"})


def test_stream_answer_yields_text_then_the_answer(news: NewsAssistant, fixtures_dir: Path,
                                                    expected: list[dict[str, Any]]) -> None:
    ingest_paths(news, fixtures_dir)
    pieces = list(news.stream_answer(expected[0]["question"]))
    final = pieces[-1]
    assert all(isinstance(piece, str) for piece in pieces[:-1]) and pieces[:-1]
    assert final.citations and final.citations[0].title == expected[0]["title"]


def test_follow_up_uses_history(news: NewsAssistant, fixtures_dir: Path) -> None:
    ingest_paths(news, fixtures_dir)
    history = [{"role": "user", "content": "What did the survey of honeybee colonies find?"},
               {"role": "assistant", "content": "Beekeepers lost many colonies [1]."}]
    result = news.answer("And what caused it?", history=history)
    assert result.citations and result.citations[0].article_id == "bees-2024"


def test_cli_reports_bad_input_and_still_ingests_the_rest(fixtures_dir: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.config import get_settings

    source = tmp_path / "in"
    shutil.copytree(fixtures_dir, source)
    (source / "binary.txt").write_bytes(b"\x00\x00\x01")
    (source / "bad.jsonl").write_text('{"title": "x"\n{"id": "n", "title": "No text", "text": ""}\n')
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        assert ingest_main([str(source), "-q"]) == 1
        out, err = capsys.readouterr()
        assert f"{source / 'binary.txt'}: binary file, not text" in err
        assert f"{source / 'bad.jsonl'}:1: invalid JSON" in err
        assert f"{source / 'bad.jsonl'}:2: article has no text" in err
        assert out.strip().startswith("new 6, updated 0, unchanged 0, near-duplicates 0, failed 3, chunks written ")
        assert ingest_main(["--list"]) == 0
        listing = capsys.readouterr().out.splitlines()
        assert len(listing) == 6 and any(line.startswith("bees-2024\t") for line in listing)
        assert ingest_main(["--delete", "bees-2024"]) == 0
        assert ingest_main(["--delete", "bees-2024"]) == 1
        assert "bees-2024: no such article" in capsys.readouterr().err
    finally:
        get_settings.cache_clear()
