"""Checks of a store's state shared by the reliability tests: what retrieval may return, and snapshots."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any

import numpy as np

from assistant.config import Settings
from assistant.encoders.embeddings import TextEncoder
from assistant.retrieval.retriever import Retriever, retrieval_settings
from assistant.store.chunk_store import ChunkStore


def complete_articles(store: ChunkStore) -> set[str]:
    """Articles with a catalogue record whose every passage (positions 0..chunks-1) is stored in its version."""
    records = {record.id: record for record in store.articles()}
    stored = store.chunks.get(include=["metadatas"])
    positions: dict[tuple[str, str], list[int]] = defaultdict(list)
    for meta in stored["metadatas"] or []:
        positions[(str(meta["article_id"]), str(meta["content_hash"]))].append(int(meta["position"]))
    return {article_id for article_id, record in records.items() if record.content_hash
            and sorted(positions[(article_id, record.content_hash)]) == list(range(record.chunks))}


def assert_retrieval_returns_only_complete_articles(store: ChunkStore, encoder: TextEncoder) -> int:
    """Search with every stored passage's own vector (so a half-written article's passages would rank first)
    and with questions made of passage words; every passage returned must belong to a complete article
    and be its current version. Returns how many passages were checked."""
    complete = complete_articles(store)
    hashes = {record.id: record.content_hash for record in store.articles()}
    stored = store.chunks.get(include=["embeddings", "metadatas", "documents"])
    by_id = {chunk_id: meta for chunk_id, meta in zip(stored["ids"], stored["metadatas"] or [], strict=True)}
    retriever = Retriever(store, encoder, retrieval_settings(Settings(_env_file=None)))  # type: ignore[call-arg]
    checked = 0
    questions = [" ".join(document.split()[:6]) for document in stored["documents"] or []][:20]
    results = [store.search(np.asarray(vector), k=5) for vector in stored["embeddings"] if vector is not None]
    results += [retriever.retrieve(question, k=5) for question in questions if question.strip()]
    for passages in results:
        for passage in passages:
            assert passage.article_id in complete, f"{passage.chunk_id} of an incomplete article was retrieved"
            assert by_id[passage.chunk_id]["content_hash"] == hashes[passage.article_id]
            checked += 1
    return checked


def snapshot(store: ChunkStore) -> dict[str, Any]:
    """Everything an ingest writes: catalogue, passages (with vectors), keyword and signature entries."""
    stored = store.chunks.get(include=["embeddings", "metadatas", "documents"])
    return {
        "articles": sorted(({**dataclasses.asdict(record), "added_at": "(the time it was written)"}
                            for record in store.articles()), key=lambda r: r["id"]),
        "chunks": {chunk_id: (document, meta) for chunk_id, document, meta
                   in zip(stored["ids"], stored["documents"] or [], stored["metadatas"] or [], strict=True)},
        "vectors": {chunk_id: np.asarray(vector) for chunk_id, vector in zip(stored["ids"], stored["embeddings"],
                                                                              strict=True)},
        "keywords": (store.keyword_hashes(), store.keywords.count() if store.keywords is not None else 0),
        "signatures": store.signature_hashes(),
        "passages": (store.passages.hashes(), store.passages.count()) if store.passages is not None else None,
    }


def assert_same_store(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    """Equal snapshots; vectors may differ by float noise (the model's batches can be composed differently)."""
    for part, value in expected.items():
        if part == "vectors":
            assert actual[part].keys() == value.keys()
            for chunk_id, vector in value.items():
                assert np.allclose(actual[part][chunk_id], vector, atol=1e-4), chunk_id
        else:
            assert actual[part] == value, part
