"""The keyword and signature indexes are derived caches that follow Chroma through the change log.

Two ChunkStores on one Chroma client, each with its own in-memory indexes, stand for two app
machines (two DATA_DIRs) against one Chroma server.
"""

from __future__ import annotations

import uuid

import chromadb
import numpy as np
import pytest
from fakes import FakeEncoder
from test_near_duplicates import edited, story

from assistant.store.keyword_engines import ENGINES, open_engine
from assistant.store.signature_index import SignatureIndex
from assistant.store.chunk_store import ChunkStore, StoredArticle
from assistant.types import Article
from ingest.chunking import chunk_article
from ingest.dedup import article_signature, signature_bytes
from ingest.pipeline import Ingestor, chunk_metadata, content_hash


@pytest.fixture(params=list(ENGINES))
def engine(request: pytest.FixtureRequest) -> str:
    """Each keyword engine (KEYWORD_ENGINE) follows Chroma the same way."""
    return str(request.param)


def two_machines(engine: str = "fts5") -> tuple[ChunkStore, ChunkStore]:
    client = chromadb.EphemeralClient()
    name = f"t{uuid.uuid4().hex[:12]}"
    first, second = (ChunkStore(client, name, None, open_engine(engine, ":memory:"), SignatureIndex(":memory:", 0.8),
                                sync_seconds=0) for _ in range(2))
    return first, second


def article(article_id: str, seed: int, source: str = "Wire") -> Article:
    return Article(id=article_id, title=f"Story {article_id}", text="\n".join(story(seed, sentences=12)),
                   source=source, origin=f"/in/{article_id}.jsonl:1")


def test_what_one_machine_stores_and_deletes_reaches_the_other_machines_indexes(engine: str) -> None:
    first, second = two_machines(engine)
    assert second.keywords is not None and second.signatures is not None
    second.sync(force=True)
    assert second.keyword_hashes() == {}
    Ingestor(first, FakeEncoder()).ingest([article("a", 1), article("b", 2)])
    second.sync(force=True)
    expected = {record.id: record.content_hash for record in first.articles()}
    assert second.keyword_hashes() == second.signature_hashes() == expected
    assert second.keywords.count() == first.keywords.count() > 0  # type: ignore[union-attr]
    first.delete_article("a")
    second.sync(force=True)
    assert set(second.keyword_hashes()) == set(second.signature_hashes()) == {"b"}


def test_a_copy_of_an_article_stored_through_one_machine_is_recognised_through_the_other() -> None:
    first, second = two_machines()
    Ingestor(first, FakeEncoder()).ingest([article("a", 1, source="Valley Post")])
    copy = Article(id="copy", title="Another headline", text="\n".join(edited(story(1, sentences=12), seed=4,
                                                                                 changes=2)),
                   source="River Wire", origin="/in/copy.jsonl:1")
    report = Ingestor(second, FakeEncoder()).ingest([copy])
    assert report.near_duplicates == 1
    [record] = second.articles()
    assert [alternative.source for alternative in record.alternatives] == ["River Wire"]


def test_a_change_whose_record_lands_after_its_log_entry_is_picked_up_later(engine: str) -> None:
    first, second = two_machines(engine)
    second.sync(force=True)
    new = article("late", 5)
    digest = content_hash(new, 256)
    first.log_changes(["late"], "put")  # the writer has noted the change; its record is not written yet
    second.sync(force=True)
    assert second.keyword_hashes() == {}
    chunks = chunk_article(new, FakeEncoder().token_counts, 256, chunk_metadata(new, digest))
    record = StoredArticle(id="late", title=new.title, source=new.source, url="", published="", chunks=len(chunks),
                           content_hash=digest, origin=new.origin)
    first.write_article(record, chunks, FakeEncoder().encode([chunk.embed_text for chunk in chunks]), new=True,
                        signature=signature_bytes(article_signature(new)))
    second.sync(force=True)  # no new log entry: the pending one is looked at again
    assert second.keyword_hashes() == second.signature_hashes() == {"late": digest}


def test_a_fresh_machine_rebuilds_both_indexes_from_chroma_without_embedding(engine: str) -> None:
    """Also what a switch of KEYWORD_ENGINE does: the new engine's index starts empty and is filled."""
    first, _ = two_machines()
    encoder = FakeEncoder()
    Ingestor(first, encoder).ingest([article(f"s{n}", n) for n in range(5)])
    fresh = ChunkStore(first.client, first.chunks.name, None, open_engine(engine, ":memory:"),
                       SignatureIndex(":memory:", 0.8))
    fresh.sync(force=True)  # its first sync compares every record (a full reconcile)
    assert fresh.keyword_hashes() == fresh.signature_hashes() == first.keyword_hashes()
    assert fresh.keywords.count() == first.keywords.count()  # type: ignore[union-attr]
    stored = fresh.signatures.hashes()  # type: ignore[union-attr]
    assert len(stored) == 5
    expected = first.signatures.candidates([0])  # type: ignore[union-attr]
    assert fresh.signatures.candidates([0]) == expected  # type: ignore[union-attr]
    sig = article_signature(article("s3", 3))
    assert sig is not None
    from assistant.store.signature_index import buckets

    found = {article_id for article_id, _ in fresh.signatures.candidates(buckets(sig))}  # type: ignore[union-attr]
    assert "s3" in found
    assert np.array_equal(np.frombuffer(dict(fresh.signatures.candidates(buckets(sig)))["s3"],  # type: ignore[union-attr]
                                        dtype=np.uint32), sig)
