"""Keyword + dense retrieval: exact names and numbers, consistency of both indexes, dates, diversity."""

import json
from pathlib import Path

import pytest
from test_ingest_and_answer import ingest_paths

from conftest import make_assistant

from assistant.chain import NewsAssistant
from assistant.config import Settings
from assistant.encoders.embeddings import MiniLMEmbeddings
from assistant.store.keyword_engines import ENGINES
from assistant.store.keyword_index import match_query
from assistant.retrieval.retriever import diversify, fuse
from assistant.types import Passage

TOWNS = ["Alder", "Birch", "Cedar", "Dunmore", "Elmstead", "Fernley", "Garrow", "Hollin", "Ivybridge", "Juniper"]


def _council_articles(path: Path) -> Path:
    """Ten near-identical council stories that differ only in a resolution number and a name."""
    records = []
    for index, town in enumerate(TOWNS):
        number = 4207 + index
        records.append({
            "id": f"council-{index}",
            "title": f"{town} council approves spending plan",
            "text": (f"The {town} town council voted on Tuesday to approve Resolution {number}, which sets "
                     f"the spending plan for roads, parks and libraries next year. Councillor "
                     f"{town[:3]}vik-{index} said the budget was balanced. Residents will see the changes "
                     f"from January, the council said."),
            "source": "Council Gazette",
            "published": "2024-02-01",
        })
    path.write_text("\n".join(json.dumps(record) for record in records))
    return path


@pytest.fixture(params=list(ENGINES))
def engine_news(request: pytest.FixtureRequest, tmp_path: Path, encoder: MiniLMEmbeddings) -> NewsAssistant:
    """An assistant on each keyword engine (KEYWORD_ENGINE)."""
    settings = Settings(data_dir=tmp_path / "data", keyword_engine=request.param,  # type: ignore[call-arg]
                        _env_file=None)
    return make_assistant(settings, encoder)


def test_match_query_quotes_content_words() -> None:
    assert match_query('What did "Resolution 4210" (AND NOT) say?') == '"resolution" OR "4210"'
    assert match_query("the of and") == ""


@pytest.mark.slow
def test_keyword_search_finds_the_exact_number_dense_search_misses(engine_news: NewsAssistant, tmp_path: Path) -> None:
    news = engine_news
    ingest_paths(news, _council_articles(tmp_path / "council.jsonl"))
    question = "Which town passed Resolution 4210?"  # 4207 + 3: Dunmore
    dense = news.retriever.retrieve(question, k=3, dense_only=True)
    assert dense[0].article_id != "council-3"  # the small embedding model does not see the number
    hybrid = news.retrieve(question, k=3)
    assert hybrid[0].article_id == "council-3"
    name = news.retrieve("What did councillor Garvik-6 say about the budget?", k=1)
    assert name[0].article_id == "council-6"


@pytest.mark.slow
def test_delete_and_update_reach_both_indexes(engine_news: NewsAssistant, tmp_path: Path) -> None:
    news = engine_news
    path = _council_articles(tmp_path / "council.jsonl")
    ingest_paths(news, path)
    keywords = news.store.keywords
    assert keywords is not None and keywords.count() == 10
    news.store.delete_article("council-3")
    assert keywords.search("4210", 5) == [] and "council-3" not in keywords.hashes()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[0]["text"] = records[0]["text"].replace("Resolution 4207", "Resolution 9999")
    path.write_text("\n".join(json.dumps(record) for record in records))
    assert ingest_paths(news, path).updated == 1
    assert keywords.search("4207", 5) == []
    assert [chunk_id for chunk_id, _ in keywords.search("9999", 5)] == ["council-0#0"]


@pytest.mark.slow
def test_crash_between_chroma_and_keyword_writes_is_repaired_by_rerun(engine_news: NewsAssistant, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    news = engine_news
    path = _council_articles(tmp_path / "council.jsonl")
    engine = type(news.store.keywords)
    original = engine.replace_article

    def crash_on_fifth(self: object, article_id: str, *args: object) -> None:
        if article_id == "council-5":
            raise OSError("killed")
        original(self, article_id, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "replace_article", crash_on_fifth)
    first = ingest_paths(news, path)
    assert (first.new, first.failed) == (9, 1)
    assert news.store.chunks.get(where={"article_id": "council-5"})["ids"]  # Chroma was written...
    assert "council-5" not in news.store.keyword_hashes()  # ...the keyword index was not
    monkeypatch.setattr(engine, "replace_article", original)
    second = ingest_paths(news, path)
    assert (second.new, second.unchanged) == (1, 9)
    assert news.store.keywords is not None and news.store.keywords.count() == 10
    assert set(news.store.keyword_hashes()) == {a.id for a in news.store.articles()}


@pytest.mark.slow
def test_lost_keyword_index_is_rebuilt_without_embedding(engine_news: NewsAssistant, tmp_path: Path) -> None:
    news = engine_news
    path = _council_articles(tmp_path / "council.jsonl")
    ingest_paths(news, path)
    assert news.store.keywords is not None
    for article in news.store.articles():
        news.store.keywords.delete_article(article.id)
    encoded = news.encoder.encode
    calls: list[int] = []
    news.encoder.encode = lambda texts: calls.append(len(texts)) or encoded(texts)  # type: ignore[method-assign]
    try:
        report = ingest_paths(news, path)  # its first sync, or else its own repair, rebuilds them from Chroma
    finally:
        del news.encoder.encode
    assert (report.unchanged, report.chunks, calls) == (10, 0, [])
    assert news.store.keywords.count() == 10
    assert news.store.keyword_hashes() == {a.id: a.content_hash for a in news.store.articles()}


@pytest.mark.slow
def test_this_week_prefers_the_recent_article(news: NewsAssistant, tmp_path: Path) -> None:
    from datetime import date

    path = tmp_path / "strikes.jsonl"
    text = ("Rail workers walked out over pay, halting trains across the region. The union said the strike "
            "would continue until the operator made a new offer.")
    path.write_text("\n".join(json.dumps(r) for r in [
        {"id": "old", "title": "Rail strike halts trains", "text": text, "published": "2023-06-02"},
        {"id": "new", "title": "Rail strike halts trains again", "text": text, "published": "2024-03-18"},
    ]))
    ingest_paths(news, path)
    assert news.retrieve("Why did rail workers strike this week?", k=2, as_of=date(2024, 3, 20))[0].article_id == "new"
    assert news.retrieve("Why did rail workers strike in June 2023?", k=2, as_of=date(2024, 3, 20))[0].article_id == "old"


def _p(article: str, position: int, text: str = "x") -> Passage:
    return Passage(chunk_id=f"{article}#{position}", article_id=article, title=article, text=text, score=0.5,
                   position=position)


def test_diversify_caps_per_article_and_merges_neighbours() -> None:
    ranked = [_p("a", 3, "three"), _p("a", 4, "four"), _p("a", 9), _p("a", 1), _p("a", 12), _p("b", 0), _p("c", 0)]
    result = diversify(ranked, k=4, max_per_article=2)
    assert [(p.article_id, p.position) for p in result] == [("a", 3), ("a", 9), ("b", 0), ("c", 0)]
    assert result[0].text == "three\n\nfour"


def test_fusion_rewards_agreement() -> None:
    scores = fuse([(1.0, ["x", "y", "z"]), (1.0, ["z", "w"])])
    assert max(scores, key=scores.__getitem__) == "z"
    assert scores["x"] > scores["w"]


def test_recency_prior_prefers_passages_near_the_time_asked_about() -> None:
    from dataclasses import replace
    from datetime import date

    from assistant.nlp.dates import time_window
    from assistant.retrieval.retriever import RetrievalSettings, rank_candidates

    old = replace(_p("old", 0), published="2023-06-02")
    new = replace(_p("new", 0), published="2024-03-18")
    on = RetrievalSettings(1.0, 1.0, 50, 2, 1.0, recency_prior=1.0, recency_half_life_days=90)
    off = replace(on, recency_prior=0.0)
    as_of = date(2024, 3, 20)

    def first(settings: RetrievalSettings, question: str) -> str:
        ranked = rank_candidates([old, new], [], [], time_window(question, as_of), settings, 2, as_of)
        return ranked[0].article_id

    assert first(off, "Why did rail workers strike?") == "old"  # the dense ranking alone
    assert first(on, "Why did rail workers strike?") == "new"  # news questions are about now
    assert first(on, "Why did rail workers strike in June 2023?") == "old"  # ... unless they name a time
