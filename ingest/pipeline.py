"""Ingest articles: skip unchanged ones, chunk and embed the rest in batches, upsert, replace, delete."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import PurePath

from assistant.embeddings import TextEncoder
from assistant.filters import UNKNOWN_DAY, day_number
from assistant.store import ChunkStore, StoredArticle
from assistant.types import Article, Chunk
from ingest.chunking import chunk_article
from ingest.loaders import MARKDOWN_SUFFIXES, TEXT_SUFFIXES, LoadError

logger = logging.getLogger(__name__)

CHUNKER_VERSION = "1"
"""Part of every content hash: bump it when chunking changes so stored articles are re-chunked."""


@dataclass
class IngestReport:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    chunks: int = 0
    repaired: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"new {self.new}, updated {self.updated}, unchanged {self.unchanged}, failed {self.failed}, "
            f"chunks written {self.chunks}, {self.seconds:.1f} s"
            + (f" (keyword index repaired for {self.repaired})" if self.repaired else "")
        )


def content_hash(article: Article, max_tokens: int) -> str:
    """Changes whenever anything stored for the article would change."""
    parts = [CHUNKER_VERSION, str(max_tokens), article.title, article.standfirst, article.text,
             article.source, article.url, article.published.isoformat() if article.published else "",
             article.author]
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:16]


def chunk_metadata(article: Article, digest: str) -> dict[str, str | int | float]:
    """Article fields stored with each of its passages (section and position are added per chunk)."""
    return {
        "article_id": article.id,
        "title": article.title,
        "source": article.source,
        "url": article.url,
        "author": article.author,
        "published": article.published.isoformat() if article.published else "",
        "day": day_number(article.published) if article.published else UNKNOWN_DAY,
        "content_hash": digest,
    }


def _is_whole_file(origin: str) -> bool:
    """Text and Markdown files hold one article, so a new version of the file replaces the old article."""
    return PurePath(origin).suffix.lower() in TEXT_SUFFIXES | MARKDOWN_SUFFIXES


@dataclass
class _Pending:
    article: Article
    record: StoredArticle
    chunks: list[Chunk]
    replaces: str | None
    is_update: bool


class Ingestor:
    """Writes articles into a ChunkStore, embedding each new passage exactly once."""

    def __init__(self, store: ChunkStore, encoder: TextEncoder, max_tokens: int = 256,
                 batch_chunks: int = 256) -> None:
        self.store = store
        self.encoder = encoder
        self.max_tokens = min(max_tokens, encoder.max_tokens)
        self.batch_chunks = batch_chunks

    def ingest(self, items: Iterable[Article | LoadError],
               on_error: Callable[[str], None] = lambda line: None) -> IngestReport:
        """Ingest every article; each LoadError or failed article is reported and the rest go on."""
        started = time.perf_counter()
        report = IngestReport()
        known = {record.id: record for record in self.store.articles()}
        keyword_hashes = self.store.keyword_hashes()
        by_origin = {record.origin: record.id for record in known.values() if _is_whole_file(record.origin)}
        seen: set[str] = set()
        pending: list[_Pending] = []

        def fail(line: str) -> None:
            report.failed += 1
            report.errors.append(line)
            on_error(line)

        for item in items:
            if isinstance(item, LoadError):
                fail(str(item))
                continue
            if item.id in seen:
                logger.info("%s: article %s appears more than once; kept the first", item.origin, item.id)
                continue
            seen.add(item.id)
            digest = content_hash(item, self.max_tokens)
            previous = known.get(item.id)
            if previous is not None and previous.content_hash == digest:
                if self.store.keywords is not None and keyword_hashes.get(item.id) != digest:
                    self.store.repair_keywords(item.id, digest)
                    report.repaired += 1
                report.unchanged += 1
                continue
            chunks = chunk_article(item, self.encoder.token_counts, self.max_tokens, chunk_metadata(item, digest))
            replaced = by_origin.get(item.origin) if _is_whole_file(item.origin) else None
            pending.append(_Pending(
                article=item,
                record=StoredArticle(
                    id=item.id, title=item.title, source=item.source, url=item.url,
                    published=item.published.isoformat() if item.published else "",
                    chunks=len(chunks), content_hash=digest, origin=item.origin,
                ),
                chunks=chunks,
                replaces=replaced if replaced != item.id else None,
                is_update=previous is not None or (replaced is not None and replaced != item.id),
            ))
            if sum(len(entry.chunks) for entry in pending) >= self.batch_chunks:
                self._flush(pending, report, fail)
                pending = []
        self._flush(pending, report, fail)
        report.seconds = time.perf_counter() - started
        return report

    def _flush(self, pending: list[_Pending], report: IngestReport, fail: Callable[[str], None]) -> None:
        """Embed the passages of several articles in one call, then store each article."""
        if not pending:
            return
        vectors = self.encoder.encode([chunk.embed_text for entry in pending for chunk in entry.chunks])
        offset = 0
        for entry in pending:
            article_vectors = vectors[offset:offset + len(entry.chunks)]
            offset += len(entry.chunks)
            try:
                self.store.write_article(entry.record, entry.chunks, article_vectors)
                if entry.replaces:
                    self.store.delete_article(entry.replaces)
            except Exception as error:  # a store failure loses this article only
                fail(f"{entry.article.origin or entry.article.id}: could not store article ({error})")
                continue
            report.chunks += len(entry.chunks)
            if entry.is_update:
                report.updated += 1
            else:
                report.new += 1


def delete_articles(store: ChunkStore, article_ids: Iterable[str]) -> tuple[list[str], list[str]]:
    """Delete articles completely (passages and catalogue record); returns (deleted, not found)."""
    deleted: list[str] = []
    missing: list[str] = []
    for article_id in article_ids:
        (deleted if store.delete_article(article_id) else missing).append(article_id)
    return deleted, missing
