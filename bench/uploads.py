"""Uploading many one-article files into a large store: the stored articles read once per upload, not per file.

    python bench/uploads.py [--articles 20000] [--files 200] [--keep DIR]

Builds a store of N synthetic articles in a temporary DATA_DIR (as the app opens it: build_store)
quickly: their passages get random unit vectors, written in batches through the store's API (passages,
catalogue records with signatures, keyword and signature indexes, change log), so the model encodes
none of them. Then, in the same run, it uploads FILES one-article Markdown files twice (two sets of new
articles, so both start from about the same store), the model (MiniLM) embedding their passages:

  1. per file, as before: each file its own ingest, which reads the stored articles again (half of
     the files before variant 2 and half after, so a drifting machine load weighs on both alike);
  2. one submission (ui/uploads.py ingest_uploads): the stored articles are read once.

It prints the build time, each variant's total time and time per file, and what one reading of the
stored articles (the work a per-file ingest repeats) costs on this store.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
import tempfile
import time
from contextlib import nullcontext
from datetime import date, timedelta
from pathlib import Path

import common  # noqa: F401 (puts the checkout on sys.path)
import numpy as np

from assistant.store.server import stop_server
from assistant.config import Settings
from assistant.encoders.embeddings import MiniLMEmbeddings
from assistant.store.chunk_store import StoredArticle, build_store
from assistant.types import Article
from ingest.chunking import chunk_article
from ingest.dedup import article_signature, signature_bytes
from ingest.pipeline import IngestBatch, Ingestor, chunk_metadata, content_hash
from ui.uploads import Upload, UploadLimits, ingest_upload, ingest_uploads

BATCH = 1000
DIMENSIONS = 384  # MiniLM's, so the uploads' real vectors fit the same collection
SOURCES = [f"Synthetic Wire {n}" for n in range(40)]


def words(rng: random.Random, vocabulary: list[str], count: int) -> str:
    """Sentences of random words: no two texts share 5-word shingles, so none is a near-duplicate."""
    chosen = [rng.choice(vocabulary) for _ in range(count)]
    return " ".join(" ".join(chosen[i:i + 12]).capitalize() + "." for i in range(0, count, 12))


def synthetic_article(n: int, rng: random.Random, vocabulary: list[str]) -> Article:
    published = date(2020, 1, 1) + timedelta(days=n % 1800)
    return Article(id=f"synthetic-{n:06d}", title=f"Synthetic report {n} on {rng.choice(vocabulary)}",
                   text="\n".join(words(rng, vocabulary, 60) for _ in range(2)), source=SOURCES[n % len(SOURCES)],
                   url=f"https://synthetic.example.invalid/{n}", published=published, origin=f"bench:{n}")


def build(settings: Settings, count: int, seed: int) -> float:
    """`count` synthetic articles with random passage vectors; seconds taken."""
    started = time.perf_counter()
    store = build_store(settings)
    rng, vectors = random.Random(seed), np.random.default_rng(seed)
    vocabulary = [f"w{n}" for n in range(5000)]
    counter = lambda texts: [len(text.split()) for text in texts]  # noqa: E731 (a stand-in tokenizer)
    for start in range(0, count, BATCH):
        articles = [synthetic_article(n, rng, vocabulary) for n in range(start, min(start + BATCH, count))]
        records, signatures, chunks = [], [], []
        for article in articles:
            digest = content_hash(article, settings.chunk_max_tokens)
            article_chunks = chunk_article(article, counter, settings.chunk_max_tokens, chunk_metadata(article, digest))
            signature = article_signature(article)
            chunks += article_chunks
            signatures.append(signature_bytes(signature))
            records.append(StoredArticle(id=article.id, title=article.title, source=article.source, url=article.url,
                                         published=article.published.isoformat() if article.published else "",
                                         chunks=len(article_chunks), content_hash=digest, origin=article.origin))
            if store.signatures is not None:
                store.signatures.replace_article(article.id, digest, signatures[-1])
        unit = vectors.standard_normal((len(chunks), DIMENSIONS)).astype(np.float32)
        unit /= np.linalg.norm(unit, axis=1, keepdims=True)
        with store.writing():
            store.log_changes([record.id for record in records], "put")
            store.chunks.upsert(ids=[chunk.id for chunk in chunks], embeddings=unit,
                                documents=[chunk.text for chunk in chunks],
                                metadatas=[chunk.metadata for chunk in chunks])
            store.write_records(records, signatures)
            store.rebuild_keywords({record.id: record.content_hash for record in records})
        print(f"  built {min(start + BATCH, count):,} articles, {time.perf_counter() - started:.0f} s", flush=True)
    return time.perf_counter() - started


def upload_files(prefix: str, count: int, seed: int) -> list[Upload]:
    rng = random.Random(seed)
    vocabulary = [f"{prefix}{n}" for n in range(3000)]
    files = []
    for n in range(count):
        text = "\n\n".join(words(rng, vocabulary, 60) for _ in range(2))
        files.append(Upload(f"{prefix}-{n:03d}.md", (f"# Uploaded {prefix} story {n}\n\nSource: Bench Gazette\n"
                                                      f"Published: 2025-01-20\n\n{text}\n").encode()))
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="build the store in DIR and keep it")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="newsdesk-bench-uploads-"))
    os.environ["DATA_DIR"] = str(folder)
    settings = Settings(data_dir=folder, _env_file=None)  # type: ignore[call-arg]
    try:
        print(f"load average before: {os.getloadavg()[0]:.2f} (1 min)")
        seconds = build(settings, args.articles, args.seed)
        print(f"store of {args.articles:,} synthetic articles built in {seconds:.0f} s")
        encoder = MiniLMEmbeddings()
        encoder.encode(["load the model before timing"])
        store = build_store(settings, encoder)
        ingestor = Ingestor.from_settings(settings, store, encoder)
        limits = UploadLimits(args.files, 10**9, int(settings.max_file_mb * 1e6))
        lock = nullcontext  # one session: nothing to wait for

        reads = []
        for _ in range(3):
            started = time.perf_counter()
            IngestBatch(ingestor)
            reads.append(time.perf_counter() - started)
        print(f"one reading of the stored articles ({store.count_articles():,}): "
              f"{', '.join(f'{value:.2f}' for value in reads)} s")

        # The per-file variant runs half before and half after the submission, so a machine load that
        # drifts during the run weighs on both alike.
        old_files = upload_files("old", args.files, args.seed + 1)
        new_files = upload_files("new", args.files, args.seed + 2)
        half = len(old_files) // 2
        started = time.perf_counter()
        old = [ingest_upload(upload, ingestor, limits.max_file_bytes, lock) for upload in old_files[:half]]
        old_seconds = time.perf_counter() - started
        started = time.perf_counter()
        new = ingest_uploads(new_files, ingestor, limits, lock)
        new_seconds = time.perf_counter() - started
        started = time.perf_counter()
        old += [ingest_upload(upload, ingestor, limits.max_file_bytes, lock) for upload in old_files[half:]]
        old_seconds += time.perf_counter() - started
        variants = (("per file (before)", old, old_seconds), ("one submission (now)", new, new_seconds))
        for name, results, total in variants:
            ingested = sum(result.status == "ingested" for result in results)
            print(f"{name}: {len(results)} files, {ingested} ingested, {total:.1f} s, "
                  f"{total / len(results) * 1000:.0f} ms per file")
        print(f"store now holds {store.count_articles():,} articles; load average after: {os.getloadavg()[0]:.2f}")
    finally:
        if args.keep is None:
            stop_server(folder)  # the store's Chroma server outlives its clients otherwise
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
