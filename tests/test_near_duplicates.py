"""Near-duplicate articles (syndicated copies) are stored once and recorded as alternative sources."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from fakes import FakeEncoder, memory_store

from assistant.config import Settings, get_settings
from assistant.store.signature_index import SignatureIndex
from assistant.store.chunk_store import ChunkStore, build_store
from assistant.types import Article
from ingest.__main__ import main as ingest_main
from ingest.dedup import DuplicateFinder, article_signature, shingle_hashes, signature, similarity, words
from ingest.loaders import load_paths
from ingest.pipeline import Ingestor, IngestReport, delete_articles

_VOCABULARY = ["".join(random.Random(n).choices("abcdefghijklmnopqrstuvwxyz", k=random.Random(-n).randint(3, 9)))
               for n in range(3000)]


def story(seed: int, sentences: int = 25) -> list[str]:
    """Sentences of random words: two stories share (almost) no 5-word run by chance."""
    rng = random.Random(seed)
    return [" ".join(rng.choices(_VOCABULARY, k=12)).capitalize() + "." for _ in range(sentences)]


def edited(sentences: list[str], seed: int, changes: int) -> list[str]:
    """The same sentences with `changes` words replaced (an outlet's small edits)."""
    rng = random.Random(seed)
    result = [sentence.split() for sentence in sentences]
    for _ in range(changes):
        sentence = rng.choice(result)
        sentence[rng.randrange(len(sentence))] = rng.choice(_VOCABULARY)
    return [" ".join(sentence) for sentence in result]


def article(article_id: str, sentences: list[str], source: str = "", **fields: object) -> Article:
    return Article(id=article_id, title=f"Title of {article_id}", text="\n".join(sentences), source=source,
                   url=f"https://{source or 'example'}.invalid/{article_id}", origin=f"/in/{article_id}.jsonl:1",
                   **fields)  # type: ignore[arg-type]


def ingest(store: ChunkStore, *articles: Article) -> IngestReport:
    return Ingestor(store, FakeEncoder()).ingest(list(articles))


def test_signature_estimates_the_jaccard_similarity_of_shingles() -> None:
    original = " ".join(story(1))
    for changes in (0, 3, 10, 30):
        copy = " ".join(edited(story(1), seed=2, changes=changes))
        first, second = set(shingle_hashes(words(original))), set(shingle_hashes(words(copy)))
        exact = len(first & second) / len(first | second)
        estimate = similarity(signature(original), signature(copy))  # type: ignore[arg-type]
        assert abs(estimate - exact) < 0.12, (changes, exact, estimate)


def test_short_texts_have_no_signature() -> None:
    assert signature("Markets closed higher on Tuesday.") is None
    assert article_signature(article("a", story(1, sentences=4))) is None  # 48 words
    assert article_signature(article("a", story(1, sentences=5))) is not None


def test_copy_from_another_outlet_is_stored_once_with_its_source_recorded() -> None:
    store = memory_store()
    original = article("ap-1", story(1), source="AP")
    copy = article("reuters-1", edited(story(1), seed=2, changes=3)[:-1], source="Reuters")  # edited, trimmed
    other = article("ap-2", story(3), source="AP")
    report = ingest(store, original, copy, other)  # the copy follows its original in the same batch
    assert (report.new, report.near_duplicates, report.failed) == (2, 1, 0)
    assert "near-duplicates 1," in report.summary()
    assert {record.id for record in store.articles()} == {"ap-1", "ap-2"}
    [record] = [record for record in store.articles() if record.id == "ap-1"]
    [alternative] = record.alternatives
    assert (alternative.id, alternative.source, alternative.url, alternative.title) == \
        ("reuters-1", "Reuters", "https://Reuters.invalid/reuters-1", "Title of reuters-1")
    assert store.chunks.get(where={"article_id": "reuters-1"})["ids"] == []
    again = ingest(store, original, copy, other)
    assert (again.unchanged, again.near_duplicates, again.chunks) == (3, 0, 0)
    assert len(store.articles()[0].alternatives + store.articles()[1].alternatives) == 1


def test_follow_up_story_sharing_background_paragraphs_is_kept() -> None:
    store = memory_store()
    background = story(1, sentences=10)
    report = ingest(store, article("day-1", background + story(2, sentences=15)),
                    article("day-2", background + story(3, sentences=15)))  # 40% shared: same topic, new story
    assert (report.new, report.near_duplicates) == (2, 0)


def test_a_later_run_recognises_copies_of_articles_stored_earlier(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]
    assert ingest(build_store(settings), article("ap-1", story(1), source="AP")).new == 1
    later = ingest(build_store(settings), article("bbc-1", edited(story(1), seed=5, changes=3), source="BBC"))
    assert (later.new, later.near_duplicates) == (0, 1)
    assert (tmp_path / "data" / "newsdesk_signatures.sqlite3").exists()


def test_threshold_zero_turns_detection_off(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", near_duplicate_threshold=0, _env_file=None)  # type: ignore[call-arg]
    report = ingest(build_store(settings), article("a", story(1)), article("b", story(1)))
    assert (report.new, report.near_duplicates) == (2, 0)
    assert not (tmp_path / "data" / "newsdesk_signatures.sqlite3").exists()
    with pytest.raises(ValueError, match="0 \\(off\\) or between 0.5 and 1"):
        Settings(near_duplicate_threshold=0.3, _env_file=None)  # type: ignore[call-arg]


def test_deleting_an_article_removes_its_signature_and_copies() -> None:
    store = memory_store()
    ingest(store, article("a", story(1)), article("copy", story(1)))
    assert store.signatures is not None and set(store.signatures.hashes()) == {"a"}
    assert delete_articles(store, ["a"]) == (["a"], [])
    assert store.signatures.hashes() == {} and store.signatures.candidates([1, 2, 3]) == []
    report = ingest(store, article("copy", story(1)))  # nothing left to be a copy of
    assert (report.new, report.near_duplicates) == (1, 0)


def test_edited_copy_updates_its_record_and_a_rewritten_one_is_stored() -> None:
    store = memory_store()
    ingest(store, article("a", story(1)), article("copy", story(1), source="X"))
    report = ingest(store, article("copy", edited(story(1), seed=9, changes=3), source="Y"))
    assert report.near_duplicates == 1
    [record] = store.articles()
    assert [(alternative.id, alternative.source) for alternative in record.alternatives] == [("copy", "Y")]
    rewritten = ingest(store, article("copy", story(7), source="Y"))
    assert (rewritten.new, rewritten.near_duplicates) == (1, 0)
    assert {record.id: record.alternatives for record in store.articles()} == {"a": (), "copy": ()}


def test_an_updated_article_keeps_its_alternatives() -> None:
    store = memory_store()
    ingest(store, article("a", story(1)), article("copy", story(1)))
    report = ingest(store, article("a", story(1) + ["A correction was added."]))
    assert report.updated == 1
    [record] = store.articles()
    assert [alternative.id for alternative in record.alternatives] == ["copy"]


def test_lost_signature_is_repaired_by_rerun() -> None:
    store = memory_store()
    ingest(store, article("a", story(1)))
    assert store.signatures is not None
    digest = store.signatures.hashes()["a"]
    store.signatures.delete_article("a")  # e.g. killed between the catalogue write and the signature write
    report = ingest(store, article("a", story(1)), article("copy", story(1)))
    # the run's first sync rebuilds the signature from the one Chroma keeps with the record
    assert (report.unchanged, report.near_duplicates) == (1, 1)
    assert store.signatures.hashes() == {"a": digest}


def test_lost_signature_without_a_copy_in_chroma_is_repaired_by_rerun() -> None:
    store = memory_store()
    ingest(store, article("a", story(1)))
    assert store.signatures is not None
    record = store.catalogue.get(ids=["a"], include=["metadatas"])
    store.catalogue.upsert(ids=["a"], embeddings=[[1.0]], documents=[""], metadatas=record["metadatas"])  # as before
    store.signatures.delete_article("a")
    report = ingest(store, article("a", story(1)), article("copy", story(1)))
    assert (report.unchanged, report.repaired, report.near_duplicates) == (1, 1, 1)


def test_copies_are_found_among_many_stored_signatures() -> None:
    finder = DuplicateFinder(SignatureIndex(":memory:", 0.8))
    for n in range(2000):
        finder.store(f"s{n}", "", signature(" ".join(story(n, sentences=16))))
    def exists(article_id: str) -> bool:
        return True

    for n in range(0, 2000, 100):
        match = finder.find(signature(" ".join(edited(story(n, sentences=16), seed=n, changes=2))), exists)
        assert match is not None and match.article_id == f"s{n}" and match.similarity >= 0.8
        assert finder.find(signature(" ".join(story(5000 + n, sentences=16))), exists) is None


def test_list_shows_alternative_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "wire.jsonl"
    path.write_text("\n".join(json.dumps({"id": i, "title": f"Story via {source}", "text": "\n".join(story(1)),
                                          "source": source, "url": f"https://{source}.invalid/story",
                                          "published": "2024-05-0" + str(n + 1)})
                              for n, (i, source) in enumerate([("ap", "AP"), ("bbc", "BBC"), ("cnn", "CNN")])))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        store = build_store(get_settings())
        assert Ingestor(store, FakeEncoder()).ingest(load_paths([path], 10**6)).near_duplicates == 2
        assert ingest_main(["--list"]) == 0
    finally:
        get_settings.cache_clear()
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "ap\tStory via AP\tAP\t2024-05-01\t2",
        "  also bbc\tStory via BBC\tBBC\t2024-05-02\thttps://BBC.invalid/story",
        "  also cnn\tStory via CNN\tCNN\t2024-05-03\thttps://CNN.invalid/story",
    ]
    assert "1 articles (2 more sources recorded as near-duplicates)" in err


def test_signature_is_stable_across_processes() -> None:
    """Signatures are stored, so they must not depend on Python's per-process string hashing."""
    expected = signature(" ".join(story(4)))
    assert expected is not None and expected.dtype == np.uint32
    assert int(expected[:4].astype(np.uint64).sum()) == int(signature(" ".join(story(4)))[:4].astype(np.uint64).sum())
