"""Keyword-only candidates come from the local passage cache, with no call to Chroma, and stay right.

Two ChunkStores on one Chroma client, each with its own in-memory indexes and passage cache, stand for
two app machines (two DATA_DIRs) against one Chroma server: what one writes reaches the other's cache
through the index sync, and a deleted article leaves it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import chromadb
import numpy as np
from fakes import FakeEncoder
from test_index_sync import article

from assistant.config import Settings
from assistant.retrieval.retriever import Retriever, retrieval_settings
from assistant.store.chunk_store import ChunkStore
from assistant.store.keyword_index import KeywordIndex
from assistant.store.passage_cache import PassageCache
from assistant.store.signature_index import SignatureIndex
from ingest.pipeline import Ingestor


def machine(client: chromadb.ClientAPI, name: str, cache: bool = True) -> ChunkStore:
    return ChunkStore(client, name, None, KeywordIndex(":memory:"), SignatureIndex(":memory:", 0.8),
                      sync_seconds=0, passages=PassageCache(":memory:") if cache else None)


@contextmanager
def counted_gets(store: ChunkStore) -> Iterator[list[list[str]]]:
    """Records the ids of every `get` the store sends to its passages' collection."""
    calls: list[list[str]] = []
    original = store.chunks.get

    def get(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(list(kwargs.get("ids") or []))
        return original(*args, **kwargs)

    store.chunks.get = get  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        store.chunks.get = original  # type: ignore[method-assign]


def all_chunk_ids(store: ChunkStore) -> list[str]:
    return sorted(store.chunks.get(include=[])["ids"])


def test_keyword_only_candidates_come_from_the_cache_without_a_chroma_call_and_match_chroma() -> None:
    client = chromadb.EphemeralClient()
    name = f"t{uuid.uuid4().hex[:12]}"
    cached, uncached = machine(client, name), machine(client, name, cache=False)
    Ingestor(cached, FakeEncoder()).ingest([article("a", 1), article("b", 2)])
    ids = all_chunk_ids(cached)
    assert cached.passages is not None and cached.passages.count() == len(ids) >= 2
    query = FakeEncoder().encode(["a question"])[0]
    with counted_gets(cached) as calls:
        local = cached.passage_candidates(ids[::-1], query)
    assert calls == []
    remote = uncached.passage_candidates(ids[::-1], query)
    assert [passage.chunk_id for passage, _ in local] == ids[::-1]
    for (mine, digest), (theirs, their_digest) in zip(local, remote, strict=True):
        assert digest == their_digest
        assert (mine.chunk_id, mine.article_id, mine.title, mine.text, mine.source, mine.url, mine.published,
                mine.section, mine.position) == (theirs.chunk_id, theirs.article_id, theirs.title, theirs.text,
                                                 theirs.source, theirs.url, theirs.published, theirs.section,
                                                 theirs.position)
        assert abs(mine.score - theirs.score) < 2e-3


def test_passages_the_cache_lacks_are_fetched_from_chroma_in_the_order_asked() -> None:
    client = chromadb.EphemeralClient()
    name = f"t{uuid.uuid4().hex[:12]}"
    store = machine(client, name)
    Ingestor(store, FakeEncoder()).ingest([article("a", 1), article("b", 2)])
    assert store.passages is not None
    store.passages.delete_article("b")
    ids = all_chunk_ids(store)
    query = FakeEncoder().encode(["a question"])[0]
    with counted_gets(store) as calls:
        found = store.passage_candidates(ids, query)
    assert [passage.chunk_id for passage, _ in found] == ids
    assert len(calls) == 1 and calls[0] and all(chunk_id.startswith("b") for chunk_id in calls[0])


def test_another_machines_writes_and_deletes_reach_this_cache_through_the_sync() -> None:
    client = chromadb.EphemeralClient()
    name = f"t{uuid.uuid4().hex[:12]}"
    first, second = machine(client, name), machine(client, name)
    second.sync(force=True)
    Ingestor(first, FakeEncoder()).ingest([article("a", 1), article("b", 2)])
    second.sync(force=True)
    assert second.passages is not None
    assert second.passages.hashes() == {record.id: record.content_hash for record in first.articles()}
    query = FakeEncoder().encode(["a question"])[0]
    ids = all_chunk_ids(first)
    with counted_gets(second) as calls:
        assert len(second.passage_candidates(ids, query)) == len(ids)
    assert calls == []
    first.delete_article("a")
    second.sync(force=True)
    assert set(second.passages.hashes()) == {"b"}
    assert all(passage.article_id == "b" for passage, _ in second.passage_candidates(ids, query))


def test_an_existing_store_fills_its_cache_on_the_first_sync_without_rewriting_its_keyword_rows() -> None:
    client = chromadb.EphemeralClient()
    name = f"t{uuid.uuid4().hex[:12]}"
    before = machine(client, name, cache=False)  # a DATA_DIR written before the cache existed
    Ingestor(before, FakeEncoder()).ingest([article("a", 1), article("b", 2)])
    keywords = before.keywords
    assert keywords is not None
    written: list[str] = []
    replace = keywords.replace_article
    keywords.replace_article = lambda article_id, *rest: (written.append(article_id),  # type: ignore[method-assign]
                                                          replace(article_id, *rest))
    after = ChunkStore(client, name, None, keywords, None, sync_seconds=0, passages=PassageCache(":memory:"))
    after.sync(force=True)
    assert after.passages is not None and after.passages.count() == len(all_chunk_ids(after))
    assert written == []


def test_an_updated_article_replaces_its_cached_passages() -> None:
    client = chromadb.EphemeralClient()
    name = f"t{uuid.uuid4().hex[:12]}"
    store = machine(client, name)
    Ingestor(store, FakeEncoder()).ingest([article("a", 1)])
    Ingestor(store, FakeEncoder()).ingest([article("a", 7)])
    assert store.passages is not None
    record = store.records(["a"])["a"]
    assert store.passages.hashes() == {"a": record.content_hash}
    ids = all_chunk_ids(store)
    assert store.passages.count() == len(ids)
    texts = {passage.chunk_id: passage.text for passage, _ in
             store.passage_candidates(ids, np.ones(16, dtype=np.float32) / 4)}
    stored = store.chunks.get(ids=ids, include=["documents"])
    assert texts == dict(zip(stored["ids"], stored["documents"], strict=True))


# --- a question's passages from the cache, kept exact by the change log ------------------------------------------

def retriever(store: ChunkStore) -> Retriever:
    return Retriever(store, FakeEncoder(), retrieval_settings(Settings(_env_file=None)))  # type: ignore[call-arg]


@contextmanager
def counted_reads(store: ChunkStore) -> Iterator[list[str]]:
    """Records every read of passages or records the store sends to Chroma (get, query), by collection."""
    calls: list[str] = []
    originals = []
    for collection in (store.chunks, store.catalogue):
        for method in ("get", "query"):
            original = getattr(collection, method)
            originals.append((collection, method, original))

            def recorded(*args, _original=original, _name=f"{collection.name}.{method}", **kwargs):  # type: ignore[no-untyped-def]
                calls.append(_name)
                return _original(*args, **kwargs)

            setattr(collection, method, recorded)
    try:
        yield calls
    finally:
        for collection, method, original in originals:
            setattr(collection, method, original)


def test_a_question_reads_only_ids_and_scores_from_chroma_when_the_cache_holds_its_passages() -> None:
    client = chromadb.EphemeralClient()
    name = f"t{uuid.uuid4().hex[:12]}"
    store = machine(client, name)
    Ingestor(store, FakeEncoder()).ingest([article(f"a{n}", n) for n in range(6)])
    search = retriever(store)
    question = "Story a3 harbour ferry"
    first = search.retrieve(question, k=4)
    with counted_reads(store) as calls:
        again = search.retrieve(question, k=4)
    assert calls == [f"{name}.query"]  # the dense search's ids and distances; nothing else
    assert [(p.chunk_id, p.text, p.score) for p in again] == [(p.chunk_id, p.text, p.score) for p in first]
    same_keywords = ChunkStore(client, name, None, store.keywords, None, sync_seconds=0)  # keyword ties alike
    uncached = retriever(same_keywords).retrieve(question, k=4)
    assert [(p.chunk_id, p.text) for p in again] == [(p.chunk_id, p.text) for p in uncached]
    assert all(abs(a.score - b.score) < 2e-3 for a, b in zip(again, uncached, strict=True))


def test_another_machines_delete_is_gone_from_the_next_question_however_long_the_sync_interval() -> None:
    client = chromadb.EphemeralClient()
    name = f"t{uuid.uuid4().hex[:12]}"
    writer = machine(client, name)
    reader = ChunkStore(client, name, None, KeywordIndex(":memory:"), None, sync_seconds=3600,
                        passages=PassageCache(":memory:"))
    Ingestor(writer, FakeEncoder()).ingest([article("a", 1), article("b", 2)])
    search = retriever(reader)
    assert {p.article_id for p in search.retrieve("Story a", k=10)} == {"a", "b"}
    writer.delete_article("a")
    assert {p.article_id for p in search.retrieve("Story a", k=10)} == {"b"}


def test_an_article_another_machine_is_rewriting_is_not_returned_half_written() -> None:
    client = chromadb.EphemeralClient()
    name = f"t{uuid.uuid4().hex[:12]}"
    writer, reader = machine(client, name), machine(client, name)
    Ingestor(writer, FakeEncoder()).ingest([article("a", 1), article("b", 2)])
    search = retriever(reader)
    assert {p.article_id for p in search.retrieve("Story a", k=10)} == {"a", "b"}
    writer.log_changes(["a"], "put")  # what write_articles does first: note the write, then hide the record
    writer.catalogue.update(ids=["a"], metadatas=[{"content_hash": ""}])
    assert {p.article_id for p in search.retrieve("Story a", k=10)} == {"b"}


def test_an_article_this_process_hid_for_rewriting_is_not_returned_from_the_cache() -> None:
    client = chromadb.EphemeralClient()
    name = f"t{uuid.uuid4().hex[:12]}"
    store = machine(client, name)
    Ingestor(store, FakeEncoder()).ingest([article("a", 1), article("b", 2)])
    search = retriever(store)
    assert {p.article_id for p in search.retrieve("Story a", k=10)} == {"a", "b"}
    store.catalogue.update(ids=["a"], metadatas=[{"content_hash": ""}])  # as write_articles hides an article
    store.index_sync.note_versions({"a": ""})  # ... and notes it (no change-log read tells this process)
    assert {p.article_id for p in search.retrieve("Story a", k=10)} == {"b"}


def test_a_question_asked_again_or_remembered_is_not_embedded_again() -> None:
    client = chromadb.EphemeralClient()
    store = machine(client, f"t{uuid.uuid4().hex[:12]}")
    Ingestor(store, FakeEncoder()).ingest([article(f"a{n}", n) for n in range(4)])
    search = retriever(store)
    encoder = search.encoder
    assert isinstance(encoder, FakeEncoder)
    first = search.retrieve("Story a2 harbour ferry", k=3)
    again = search.retrieve("Story a2 harbour ferry", k=3)
    assert encoder.encoded == 1 and [p.chunk_id for p in again] == [p.chunk_id for p in first]
    # a vector kept elsewhere (a followed question's) is used as given: here one pointing at another article
    aimed = FakeEncoder().encode(["Story a0 harbour ferry"])[0]
    search.remember("Which ferry?", aimed)
    remembered = search.retrieve("Which ferry?", k=3, dense_only=True)
    assert encoder.encoded == 1
    aimed_at = retriever(store).retrieve("Story a0 harbour ferry", k=3, dense_only=True)
    assert [(p.chunk_id, round(p.score, 5)) for p in remembered] == [(p.chunk_id, round(p.score, 5)) for p in aimed_at]


def test_an_articles_passage_vectors_come_from_the_cache_in_their_current_version_else_from_chroma() -> None:
    client = chromadb.EphemeralClient()
    name = f"t{uuid.uuid4().hex[:12]}"
    cached, uncached = machine(client, name), machine(client, name, cache=False)
    Ingestor(cached, FakeEncoder()).ingest([article("a", 1), article("b", 2), article("c", 3)])
    cached.sync(force=True)
    with counted_gets(cached) as calls:
        local = cached.article_vectors(["a", "c"])
    assert calls == []  # both held by the cache in the version the store's records name
    with counted_gets(cached) as calls:
        assert cached.article_vectors(["gone"]) == []
    assert len(calls) == 1  # an article the versions do not know is asked of Chroma (written since the sync?)
    uncached.sync(force=True)
    remote = uncached.article_vectors(["a", "c"])
    assert sorted(article_id for article_id, _ in local) == sorted(article_id for article_id, _ in remote)
    assert {article_id for article_id, _ in local} == {"a", "c"}
    for article_id in ("a", "c"):
        mine = sorted(tuple(np.round(v, 2)) for a, v in local if a == article_id)
        theirs = sorted(tuple(np.round(v, 2)) for a, v in remote if a == article_id)
        assert len(mine) == len(theirs) and np.allclose(np.array(mine), np.array(theirs), atol=0.011)
    # an article rewritten by another machine since this cache's last sync: read from Chroma, not the cache
    Ingestor(uncached, FakeEncoder()).ingest([article("a", 9)])
    cached.index_sync.versions.pop("a", None)
    with counted_gets(cached) as calls:
        again = cached.article_vectors(["a"])
    assert calls == [[]] and again and all(article_id == "a" for article_id, _ in again)
