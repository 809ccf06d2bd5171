"""The Chroma store: passages with their embeddings, and a catalogue with one record per article.

Reads go through langchain-chroma; writes use chromadb's collection API directly so that
each passage is stored with an embedding computed once by the ingest pipeline (of the
title-carrying text) while the stored document stays the plain passage.

Consistency without transactions: the catalogue record is written after an article's passages
and names the content hash they carry; an update or a delete first blanks the record's hash
(a delete removes the record last). Searches return only passages whose hash matches their
article's record, so an ingest killed at any point never shows a half-written article, and the
next ingest (which compares the same hashes) finishes it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings

from assistant.config import Settings
from assistant.filters import UNKNOWN_DAY
from assistant.keyword_index import KeywordIndex
from assistant.signature_index import SignatureIndex
from assistant.types import Chunk, Passage

logger = logging.getLogger(__name__)

_COSINE = {"hnsw": {"space": "cosine"}}
_CATALOGUE_VECTOR = [1.0]  # catalogue records are looked up by id, never by similarity
_BEING_WRITTEN = ""  # the content hash of a record whose article is being replaced or deleted


@dataclass(frozen=True)
class AlternativeSource:
    """Another outlet's copy of a stored article (a near-duplicate), kept as a source, not stored again."""

    id: str
    title: str
    source: str
    url: str
    published: str
    content_hash: str
    origin: str


@dataclass(frozen=True)
class StoredArticle:
    """A catalogue record: what `python -m ingest --list` shows."""

    id: str
    title: str
    source: str
    url: str
    published: str
    chunks: int
    content_hash: str
    origin: str
    alternatives: tuple[AlternativeSource, ...] = ()


class ChunkStore:
    """Passages and article catalogue in one Chroma database (local directory or server),
    with the keyword index beside it kept in step."""

    def __init__(self, client: chromadb.ClientAPI, collection: str, embeddings: Embeddings | None = None,
                 keywords: KeywordIndex | None = None, signatures: SignatureIndex | None = None) -> None:
        self.client = client
        self.keywords = keywords
        self.signatures = signatures
        self.vectorstore = Chroma(
            client=client,
            collection_name=collection,
            embedding_function=embeddings,
            collection_configuration=_COSINE,
        )
        self.chunks = client.get_collection(collection)
        self.catalogue = client.get_or_create_collection(f"{collection}_articles")

    def write_article(self, record: StoredArticle, chunks: Sequence[Chunk], vectors: np.ndarray,
                      new: bool = False) -> None:
        """Store an article's passages, drop any left over from an older version, then mark it complete.

        Unless the caller knows the article is `new`, its old version is hidden from searches first.
        """
        if not new:
            self.catalogue.update(ids=[record.id], metadatas=[{"content_hash": _BEING_WRITTEN}])
        if chunks:
            self.chunks.upsert(
                ids=[chunk.id for chunk in chunks],
                embeddings=vectors,
                documents=[chunk.text for chunk in chunks],
                metadatas=[chunk.metadata for chunk in chunks],
            )
        self.chunks.delete(where={"$and": [{"article_id": record.id}, {"position": {"$gte": len(chunks)}}]})
        if self.keywords is not None:
            self.keywords.replace_article(record.id, record.content_hash, [_keyword_row(c.id, c.metadata, c.text)
                                                                           for c in chunks])
        self.write_records([record])

    def write_records(self, records: Sequence[StoredArticle]) -> None:
        """Write catalogue records: each marks its article complete in the version its content hash names."""
        self.catalogue.upsert(
            ids=[record.id for record in records],
            embeddings=[_CATALOGUE_VECTOR] * len(records),
            documents=[record.title for record in records],
            metadatas=[{**{field: getattr(record, field) for field in _RECORD_FIELDS},
                        "alternatives": _alternatives_json(record.alternatives)} for record in records],
        )

    def set_alternatives(self, article_id: str, alternatives: Sequence[AlternativeSource]) -> None:
        """Replace the alternative sources recorded on a stored article (nothing else of it changes)."""
        self.catalogue.update(ids=[article_id], metadatas=[{"alternatives": _alternatives_json(alternatives)}])

    def repair_keywords(self, article_id: str, content_hash: str) -> None:
        """Rebuild an article's keyword entries from its stored passages (no embedding needed)."""
        if self.keywords is None:
            return
        stored = self.chunks.get(where={"article_id": article_id}, include=["documents", "metadatas"])
        rows = [_keyword_row(chunk_id, meta or {}, document or "")
                for chunk_id, document, meta in zip(stored["ids"], stored["documents"] or [],
                                                    stored["metadatas"] or [], strict=True)]
        self.keywords.replace_article(article_id, content_hash, rows)

    def keyword_hashes(self) -> dict[str, str]:
        return self.keywords.hashes() if self.keywords is not None else {}

    def signature_hashes(self) -> dict[str, str]:
        return self.signatures.hashes() if self.signatures is not None else {}

    def delete_article(self, article_id: str) -> bool:
        """Remove an article (its alternative sources with it), its passages and signature; False when it
        was not stored."""
        known = bool(self.catalogue.get(ids=[article_id], include=[])["ids"])
        if known:  # hidden first; the record goes last, so a crash in between leaves it to delete again
            self.catalogue.update(ids=[article_id], metadatas=[{"content_hash": _BEING_WRITTEN}])
        self.chunks.delete(where={"article_id": article_id})
        if self.keywords is not None:
            self.keywords.delete_article(article_id)
        if self.signatures is not None:
            self.signatures.delete_article(article_id)
        self.catalogue.delete(ids=[article_id])
        return known

    def articles(self) -> list[StoredArticle]:
        """Every stored article, newest first."""
        result = self.catalogue.get(include=["metadatas"])
        records = [_record(article_id, meta) for article_id, meta in zip(result["ids"], result["metadatas"] or [],
                                                                          strict=True)]
        return sorted(records, key=lambda record: (record.published, record.title), reverse=True)

    def count_articles(self) -> int:
        return self.catalogue.count()

    def count_chunks(self) -> int:
        return self.chunks.count()

    def sources(self) -> list[str]:
        return sorted({record.source for record in self.articles() if record.source})

    def search(self, vector: Sequence[float], k: int, where: dict[str, Any] | None = None) -> list[Passage]:
        """The k passages closest to the query vector (cosine), best first."""
        if k <= 0 or self.chunks.count() == 0:
            return []
        hits = self.vectorstore.similarity_search_by_vector_with_relevance_scores(
            [float(value) for value in vector], k=k, filter=where
        )
        return self._complete([_passage(document.id or "", document.page_content, document.metadata,
                                        1.0 - float(distance)) for document, distance in hits],
                              [document.metadata for document, _ in hits])

    def get_passages(self, chunk_ids: Sequence[str], vector: Sequence[float]) -> list[Passage]:
        """Passages by id, scored by cosine similarity to the query vector (for keyword-only hits)."""
        if not chunk_ids:
            return []
        found = self.chunks.get(ids=list(chunk_ids), include=["documents", "metadatas", "embeddings"])
        query = np.asarray(vector, dtype=np.float32)
        metas = [meta or {} for meta in found["metadatas"] or []]
        return self._complete([
            _passage(chunk_id, document or "", meta, float(np.asarray(embedding, dtype=np.float32) @ query))
            for chunk_id, document, meta, embedding in zip(found["ids"], found["documents"], metas,
                                                           found["embeddings"], strict=True)
        ], metas)

    def _complete(self, passages: list[Passage], metas: Sequence[Mapping[str, Any]]) -> list[Passage]:
        """The passages that belong to the version of their article its catalogue record names."""
        article_ids = sorted({passage.article_id for passage in passages})
        if not article_ids:
            return []
        records = self.catalogue.get(ids=article_ids, include=["metadatas"])
        current = {article_id: (meta or {}).get("content_hash") for article_id, meta
                   in zip(records["ids"], records["metadatas"] or [], strict=True)}
        return [passage for passage, meta in zip(passages, metas, strict=True)
                if current.get(passage.article_id) and meta.get("content_hash") == current[passage.article_id]]


def _passage(chunk_id: str, text: str, meta: Mapping[str, Any], score: float) -> Passage:
    return Passage(
        chunk_id=chunk_id,
        article_id=str(meta.get("article_id", "")),
        title=str(meta.get("title", "")),
        text=text,
        score=round(score, 4),
        source=str(meta.get("source", "")),
        url=str(meta.get("url", "")),
        published=str(meta.get("published", "")),
        section=str(meta.get("section", "")),
        position=int(meta.get("position", 0)),
    )


def _keyword_row(chunk_id: str, meta: Mapping[str, Any], text: str) -> tuple[str, str, str, str, int]:
    return chunk_id, str(meta.get("title", "")), text, str(meta.get("source", "")), int(meta.get("day", UNKNOWN_DAY))


_RECORD_FIELDS = ("title", "source", "url", "published", "chunks", "content_hash", "origin")


def _alternatives_json(alternatives: Sequence[AlternativeSource]) -> str:
    return json.dumps([asdict(alternative) for alternative in alternatives])


def _record(article_id: str, meta: Mapping[str, Any]) -> StoredArticle:
    alternatives = tuple(AlternativeSource(**item) for item in json.loads(str(meta.get("alternatives") or "[]")))
    return StoredArticle(id=article_id, **{field: meta[field] for field in _RECORD_FIELDS}, alternatives=alternatives)


def build_client(settings: Settings) -> chromadb.ClientAPI:
    """A Chroma server client when CHROMA_HOST is set, else a persistent store under DATA_DIR."""
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_host:
        return chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings)
    path = settings.data_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


def build_store(settings: Settings, embeddings: Embeddings | None = None) -> ChunkStore:
    keywords = KeywordIndex(settings.data_dir / f"{settings.collection}_keywords.sqlite3",
                            settings.keyword_title_weight) if settings.keyword_search else None
    signatures = SignatureIndex(settings.data_dir / f"{settings.collection}_signatures.sqlite3",
                                settings.near_duplicate_threshold) if settings.near_duplicate_threshold else None
    return ChunkStore(build_client(settings), settings.collection, embeddings, keywords, signatures)
