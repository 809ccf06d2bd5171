"""The Chroma store: passages with their embeddings, and a catalogue with one record per article.

Reads go through langchain-chroma; writes use chromadb's collection API directly so that
each passage is stored with an embedding computed once by the ingest pipeline (of the
title-carrying text) while the stored document stays the plain passage.
The catalogue record is written after an article's passages: it marks the article complete.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings

from assistant.config import Settings
from assistant.types import Chunk, Passage

logger = logging.getLogger(__name__)

_COSINE = {"hnsw": {"space": "cosine"}}
_CATALOGUE_VECTOR = [1.0]  # catalogue records are looked up by id, never by similarity


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


class ChunkStore:
    """Passages and article catalogue in one Chroma database (local directory or server)."""

    def __init__(self, client: chromadb.ClientAPI, collection: str, embeddings: Embeddings | None = None) -> None:
        self.client = client
        self.vectorstore = Chroma(
            client=client,
            collection_name=collection,
            embedding_function=embeddings,
            collection_configuration=_COSINE,
        )
        self.chunks = client.get_collection(collection)
        self.catalogue = client.get_or_create_collection(f"{collection}_articles")

    def write_article(self, record: StoredArticle, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Store an article's passages, drop any left over from an older version, then mark it complete."""
        if chunks:
            self.chunks.upsert(
                ids=[chunk.id for chunk in chunks],
                embeddings=vectors,
                documents=[chunk.text for chunk in chunks],
                metadatas=[chunk.metadata for chunk in chunks],
            )
        self.chunks.delete(where={"$and": [{"article_id": record.id}, {"position": {"$gte": len(chunks)}}]})
        self.catalogue.upsert(
            ids=[record.id],
            embeddings=[_CATALOGUE_VECTOR],
            documents=[record.title],
            metadatas=[{k: v for k, v in record.__dict__.items() if k not in ("id",)}],
        )

    def delete_article(self, article_id: str) -> bool:
        """Remove an article and all its passages; False when it was not stored."""
        known = bool(self.catalogue.get(ids=[article_id], include=[])["ids"])
        self.chunks.delete(where={"article_id": article_id})
        self.catalogue.delete(ids=[article_id])
        return known

    def articles(self) -> list[StoredArticle]:
        """Every stored article, newest first."""
        result = self.catalogue.get(include=["metadatas"])
        records = [
            StoredArticle(id=article_id, **{field: meta[field] for field in _RECORD_FIELDS})
            for article_id, meta in zip(result["ids"], result["metadatas"] or [], strict=True)
        ]
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
        return [
            Passage(
                chunk_id=document.id or "",
                article_id=str(document.metadata.get("article_id", "")),
                title=str(document.metadata.get("title", "")),
                text=document.page_content,
                score=round(1.0 - float(distance), 4),
                source=str(document.metadata.get("source", "")),
                url=str(document.metadata.get("url", "")),
                published=str(document.metadata.get("published", "")),
                section=str(document.metadata.get("section", "")),
                position=int(document.metadata.get("position", 0)),
            )
            for document, distance in hits
        ]


_RECORD_FIELDS = ("title", "source", "url", "published", "chunks", "content_hash", "origin")


def build_client(settings: Settings) -> chromadb.ClientAPI:
    """A Chroma server client when CHROMA_HOST is set, else a persistent store under DATA_DIR."""
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_host:
        return chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings)
    path = settings.data_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


def build_store(settings: Settings, embeddings: Embeddings | None = None) -> ChunkStore:
    return ChunkStore(build_client(settings), settings.collection, embeddings)
