"""`python -m ingest --reembed`: encode every stored passage again with the configured encoder.

For a store whose passages hold vectors of another encoder (EMBEDDING_BACKEND changed to or from
onnx-int8). Nothing but the vectors changes: each passage's text to embed is rebuilt from what Chroma
stores (title, section heading, passage), in batches, and only its embedding is updated; the trash's
passages are re-encoded too, so a restored article matches. The store's record names the new vectors
from the start, with the old ones as unfinished (`reembedding_from`), and each collection keeps a
checkpoint: an interrupted run loses nothing, and running the command again goes on where it stopped.
Ingests may run meanwhile (they write the new vectors); a passage they changed while its batch was
being encoded is left as they wrote it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import chromadb
import numpy as np

from assistant.encoders.embeddings import TextEncoder
from assistant.store.chunk_store import ChunkStore
from ingest.chunking import embed_text, title_fits

logger = logging.getLogger(__name__)

CHECKPOINT_KEY = "reembedded_up_to"
"""A collection's metadata key: the last passage id (in sorted order) whose vector is re-encoded."""


@dataclass
class ReembedReport:
    vectors: str
    passages: int = 0
    skipped: int = 0
    """Passages an ingest replaced while their batch was being encoded (they hold new vectors already)."""
    already: bool = False

    def summary(self) -> str:
        if self.already:
            return f"the store already holds {self.vectors} vectors; nothing re-embedded"
        return (f"re-embedded {self.passages} passages with {self.vectors}"
                + (f" ({self.skipped} changed by an ingest meanwhile, left as written)" if self.skipped else ""))


def reembed(store: ChunkStore, encoder: TextEncoder, vectors: str, trash: chromadb.Collection | None = None,
            max_tokens: int = 256, batch: int = 256,
            progress: Callable[[int, int], None] = lambda done, total: None) -> ReembedReport:
    """Re-encode the passages of `store` (and of the `trash` collection) so they hold `vectors`."""
    recorded, previous = store.recorded_vectors(fresh=True)
    report = ReembedReport(vectors)
    if recorded is None or (recorded == vectors and previous is None):
        with store.writing():
            store.record_vectors(vectors)
        report.already = True
        return report
    with store.writing():  # from now on every process writes (and may read) the new vectors
        store.record_vectors(vectors, previous=previous or recorded)
    collections = [store.chunks] + ([trash] if trash is not None else [])
    todo = {collection.name: _remaining(collection) for collection in collections}
    total, done = sum(len(ids) for ids in todo.values()), 0
    progress(done, total)
    for collection in collections:
        ids = todo[collection.name]
        for start in range(0, len(ids), batch):
            part = ids[start:start + batch]
            found = collection.get(ids=part, include=["documents", "metadatas"])
            texts = _embed_texts(found["ids"], found["documents"] or [], found["metadatas"] or [], encoder, max_tokens)
            encoded = encoder.encode([texts[chunk_id] for chunk_id in found["ids"]]) if found["ids"] else []
            with store.writing():
                now = collection.get(ids=list(found["ids"]), include=["documents", "metadatas"])
                current = {chunk_id: (document, meta) for chunk_id, document, meta
                           in zip(now["ids"], now["documents"] or [], now["metadatas"] or [], strict=True)}
                keep = [index for index, (chunk_id, document, meta) in enumerate(
                    zip(found["ids"], found["documents"] or [], found["metadatas"] or [], strict=True))
                    if current.get(chunk_id) == (document, meta)]
                if keep:
                    collection.update(ids=[found["ids"][index] for index in keep],
                                      embeddings=np.asarray(encoded, dtype=np.float32)[keep])
                report.passages += len(keep)
                report.skipped += len(found["ids"]) - len(keep)
                _set_checkpoint(collection, part[-1])
            done += len(part)
            progress(done, total)
    with store.writing():
        for collection in collections:
            _set_checkpoint(collection, None)
        store.record_vectors(vectors)
    return report


def _remaining(collection: chromadb.Collection) -> list[str]:
    """Ids of the collection's passages after its checkpoint, sorted."""
    checkpoint = str((collection.metadata or {}).get(CHECKPOINT_KEY) or "")
    ids = sorted(collection.get(include=[])["ids"])
    return [chunk_id for chunk_id in ids if chunk_id > checkpoint]


def _set_checkpoint(collection: chromadb.Collection, last_id: str | None) -> None:
    """Record how far the re-embed got (None: done; "" stands for none where Chroma wants some metadata)."""
    meta: dict[str, Any] = {key: value for key, value in (collection.metadata or {}).items() if key != CHECKPOINT_KEY}
    if last_id is not None or not meta:
        meta[CHECKPOINT_KEY] = last_id or ""
    if meta != (collection.metadata or {}):
        collection.modify(metadata=meta)


def _embed_texts(ids: Sequence[str], documents: Sequence[str | None], metas: Sequence[Mapping[str, Any] | None],
                 encoder: TextEncoder, max_tokens: int) -> dict[str, str]:
    """The text each passage was embedded from at ingest (ingest/chunking.py): title (unless the title and
    the longest heading of the article's passages leave too little room), section heading, passage."""
    sections: dict[str, set[str]] = defaultdict(set)
    titles: dict[str, str] = {}
    for meta in metas:
        article_id = str((meta or {}).get("article_id", ""))
        titles[article_id] = str((meta or {}).get("title", ""))
        sections[article_id].add(str((meta or {}).get("section", "")))
    counted = list({text for text in [*titles.values(), *(s for group in sections.values() for s in group)] if text})
    tokens = dict(zip(counted, encoder.token_counts(counted), strict=True))
    with_title = {article_id: title_fits(tokens.get(title, 0),
                                         max((tokens.get(s, 0) for s in sections[article_id]), default=0),
                                         max_tokens)
                  for article_id, title in titles.items()}
    result = {}
    for chunk_id, document, meta in zip(ids, documents, metas, strict=True):
        meta = meta or {}
        article_id = str(meta.get("article_id", ""))
        result[chunk_id] = embed_text(titles[article_id] if with_title[article_id] else "",
                                      str(meta.get("section", "")), document or "")
    return result
