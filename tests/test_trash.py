"""Provenance, the trash and the audit log: nothing is lost by a click, every change is recorded."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fakes import FakeEncoder, memory_store
from test_near_duplicates import story

from assistant.store.audit import AuditLog
from assistant.retrieval.retriever import RetrievalSettings, Retriever
from assistant.store.trash import Trash
from assistant.types import Article
from ingest.pipeline import Ingestor, delete_articles

REPO = Path(__file__).resolve().parent.parent


def article(article_id: str, seed: int, title: str = "") -> Article:
    return Article(id=article_id, title=title or f"Story {article_id}", text="\n".join(story(seed, sentences=10)),
                   source="Wire", origin=f"/in/{article_id}.jsonl:1")


def stored_passages(store, article_id: str) -> dict[str, tuple[str, np.ndarray]]:  # type: ignore[no-untyped-def]
    found = store.chunks.get(where={"article_id": article_id}, include=["documents", "embeddings"])
    return {chunk_id: (document, np.asarray(vector)) for chunk_id, document, vector
            in zip(found["ids"], found["documents"], found["embeddings"], strict=True)}


def test_provenance_names_who_added_each_version_when_and_from_where(tmp_path: Path) -> None:
    store = memory_store()
    store.audit = AuditLog(tmp_path / "audit.jsonl")
    before = time.strftime("%Y-%m-%d", time.gmtime())
    Ingestor(store, FakeEncoder(), added_by="alice@paper.example").ingest([article("a", 1)])
    Ingestor(store, FakeEncoder()).ingest([Article(**{**article("b", 2).__dict__, "added_by": "feed:https://f.example/rss"})])
    records = {record.id: record for record in store.articles()}
    assert records["a"].added_by == "alice@paper.example" and records["a"].origin == "/in/a.jsonl:1"
    assert records["b"].added_by == "feed:https://f.example/rss"
    assert records["a"].added_at[:10] >= before
    assert [(entry.who, entry.action, entry.article_id) for entry in reversed(store.audit.entries())] == [
        ("alice@paper.example", "added", "a"), ("feed:https://f.example/rss", "added", "b")]


def test_a_trashed_article_is_never_retrieved_and_comes_back_whole_when_restored(tmp_path: Path) -> None:
    store = memory_store()
    store.audit = AuditLog(tmp_path / "audit.jsonl")
    encoder = FakeEncoder()
    Ingestor(store, encoder).ingest([article("a", 1), article("b", 2)])
    retriever = Retriever(store, encoder, RetrievalSettings(1.0, 4.0, 50, 2, 1.0))
    question = " ".join(story(1, sentences=1))
    assert "a" in {passage.article_id for passage in retriever.retrieve(question, k=5)}
    before = stored_passages(store, "a")
    keyword_hash, signature_hash = store.keyword_hashes()["a"], store.signature_hashes()["a"]

    trash = Trash(store, days=30)
    assert delete_articles(store, ["a", "nope"], by="bob@paper.example", trash=trash) == (["a"], ["nope"])
    assert {record.id for record in store.articles()} == {"b"}
    assert "a" not in {passage.article_id for passage in retriever.retrieve(question, k=5)}
    assert store.keywords.search(question, 5) and all(  # type: ignore[union-attr]
        not chunk_id.startswith("a") for chunk_id, _ in store.keywords.search(question, 50))  # type: ignore[union-attr]
    [entry] = trash.list()
    assert (entry.record.id, entry.trashed_by, entry.reason) == ("a", "bob@paper.example", "deleted")

    restored = trash.restore(entry.trash_id, by="carol@paper.example")
    assert restored.id == "a" and trash.list() == []
    after = stored_passages(store, "a")
    assert after.keys() == before.keys()
    for chunk_id, (document, vector) in before.items():
        assert after[chunk_id][0] == document and np.allclose(after[chunk_id][1], vector)
    assert (store.keyword_hashes()["a"], store.signature_hashes()["a"]) == (keyword_hash, signature_hash)
    assert "a" in {passage.article_id for passage in retriever.retrieve(question, k=5)}
    actions = [(entry.who, entry.action, entry.article_id) for entry in reversed(store.audit.entries())]
    assert actions[-2:] == [("bob@paper.example", "moved to the trash (deleted)", "a"),
                            ("carol@paper.example", "restored from the trash", "a")]


def test_restoring_an_older_version_moves_the_current_one_to_the_trash() -> None:
    store = memory_store()
    encoder = FakeEncoder()
    Ingestor(store, encoder).ingest([article("a", 1, title="First version")])
    trash = Trash(store)
    trash.put("a", by="ed", reason="replaced")
    Ingestor(store, encoder).ingest([article("a", 3, title="Second version")])
    [old] = trash.list()
    trash.restore(old.trash_id, by="ed")
    [record] = store.articles()
    assert record.title == "First version"
    [current] = trash.list()
    assert current.record.title == "Second version" and current.reason.startswith("replaced by the restored version")


def test_expired_entries_are_purged_and_purge_empties_the_trash() -> None:
    store = memory_store()
    Ingestor(store, FakeEncoder()).ingest([article("a", 1), article("b", 2)])
    trash = Trash(store, days=30)
    trash.put("a", by="ed")
    trash.put("b", by="ed")
    old = trash.list()[-1]
    meta = trash.records.get(ids=[old.trash_id], include=["metadatas"])["metadatas"][0]
    trash.records.update(ids=[old.trash_id], metadatas=[{**meta, "at": time.time() - 31 * 86400}])
    assert [entry.trash_id for entry in trash.list()] != [] and old.trash_id not in {e.trash_id for e in trash.list()}
    assert trash.passages.get(where={"trash_id": old.trash_id})["ids"] == []
    assert trash.purge() == 1 and trash.list() == [] and trash.passages.count() == 0


@pytest.mark.slow
def test_the_ingest_command_moves_deletes_to_the_trash_and_purges_it(tmp_path: Path, fixtures_dir: Path) -> None:
    env = {"DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    import os

    def ingest(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ingest", "-q", *args], env={**os.environ, **env}, cwd=REPO,
                              capture_output=True, text=True, timeout=600)

    assert ingest(str(fixtures_dir / "volcano.txt")).returncode == 0
    [row] = ingest("--list").stdout.splitlines()
    deleted = ingest("--delete", row.split("\t")[0])
    assert deleted.returncode == 0 and "deleted 1 (moved to the trash)" in deleted.stdout
    assert ingest("--list").stdout == ""
    purged = ingest("--purge-trash")
    assert purged.returncode == 0 and "purged 1 " in purged.stdout
    audit = [line for line in (tmp_path / "data" / "newsdesk_audit.jsonl").read_text().splitlines()]
    assert ['"added"' in audit[0], '"moved to the trash (deleted)"' in audit[1], '"purged from the trash"' in audit[2]] \
        == [True, True, True]
