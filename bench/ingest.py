"""Ingest throughput vs. the raw encode throughput of the embedding model on the same passages.

    python bench/ingest.py --limit 200            # seeded sample of the dev articles
    python bench/ingest.py --limit 0 --keep DIR   # all 2,495; keep the store in DIR for eval_dev.py
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import dev_articles_path, sample_lines

from assistant.config import Settings
from assistant.embeddings import build_embeddings
from assistant.store import build_store
from ingest.chunking import chunk_article
from ingest.loaders import load_file
from ingest.pipeline import Ingestor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=200, help="articles to ingest (0 = all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="data directory to build and keep (default: temporary)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        data_dir = args.keep or Path(scratch)
        source = Path(scratch) / "articles.jsonl"
        source.write_text("\n".join(sample_lines(dev_articles_path(), args.limit, args.seed)) + "\n", encoding="utf-8")
        articles = list(load_file(source, max_bytes=10**9))
        settings = Settings(data_dir=data_dir)
        encoder = build_embeddings(settings)
        encoder.encode(["warm-up"] * 8)
        store = build_store(settings, encoder)
        ingestor = Ingestor(store, encoder, settings.chunk_max_tokens)

        report = ingestor.ingest(articles)
        print(f"ingest:   {report.summary()}")
        print(f"          {report.new / report.seconds:.2f} articles/s, {report.chunks / report.seconds:.1f} chunks/s")

        texts = [chunk.embed_text for article in articles if not isinstance(article, str)
                 for chunk in chunk_article(article, encoder.token_counts, ingestor.max_tokens)]
        started = time.perf_counter()
        encoder.encode(texts)
        encode_seconds = time.perf_counter() - started
        raw = len(texts) / encode_seconds
        print(f"encode:   {len(texts)} passages in {encode_seconds:.1f} s, {raw:.1f} passages/s (raw model)")
        print(f"ratio:    ingest/encode = {report.chunks / report.seconds / raw:.3f} (target >= 0.85)")

        again = ingestor.ingest(articles)
        print(f"re-ingest: {again.summary()} ({again.seconds / report.seconds:.1%} of the first run)")


if __name__ == "__main__":
    main()
