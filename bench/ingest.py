"""Ingest throughput vs. the raw encode throughput of the embedding model on the same passages.

    python bench/ingest.py --limit 200            # seeded sample of the dev articles
    python bench/ingest.py --limit 0 --keep DIR   # all 2,495; keep the store in DIR for eval_dev.py
    python bench/ingest.py --limit 0 --old-code OLD   # first the same run with earlier code (a `git archive`
                                                      # export in OLD, with ../shared/eval beside it)

The articles are ingested in slices; after each slice, a seeded share (--raw-share) of that slice's
passages is encoded again with the bare model. Alternating the two keeps them under the same machine
load, so the ratio stays fair when something else shares the CPU; the load average is printed too.
Each slice's ingest rate is printed, and the first tenth of the run is compared with the last (the
per-article writes of before grew slower with the store). Finally the unchanged set is ingested again,
which must embed nothing.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import dev_articles_path, sample_lines

from assistant.store.server import stop_server
from assistant.config import Settings
from assistant.encoders.embeddings import build_embeddings
from assistant.store.chunk_store import build_store
from assistant.types import Article
from ingest.chunking import chunk_article
from ingest.loaders import load_file
from ingest.pipeline import Ingestor, IngestReport


class CountingEncoder:
    """Wraps the encoder to count the passages it embeds and the time it takes."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.max_tokens = inner.max_tokens
        self.encoded = 0
        self.seconds = 0.0

    def encode(self, texts):
        started = time.perf_counter()
        vectors = self.inner.encode(texts)
        self.seconds += time.perf_counter() - started
        self.encoded += len(texts)
        return vectors

    def token_counts(self, texts):
        return self.inner.token_counts(texts)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=200, help="articles to ingest (0 = all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--slices", type=int, default=10, help="ingest/raw-encode alternations")
    parser.add_argument("--raw-share", type=float, default=0.25, help="share of each slice's passages re-encoded raw")
    parser.add_argument("--keep", type=Path, help="data directory to build and keep (default: temporary)")
    parser.add_argument("--backend", choices=["torch", "onnx", "onnx-int8"],
                        help="EMBEDDING_BACKEND (default: its default)")
    parser.add_argument("--old-code", type=Path, metavar="DIR",
                        help="first run DIR/bench/ingest.py (earlier code) with the same articles, in this run")
    args = parser.parse_args()

    if args.old_code:
        print(f"--- earlier code ({args.old_code}), same articles:", flush=True)
        subprocess.run([sys.executable, str(args.old_code / "bench" / "ingest.py"), "--limit", str(args.limit),
                        "--seed", str(args.seed), "--slices", str(args.slices), "--raw-share", str(args.raw_share)],
                       cwd=args.old_code, check=True, env={**os.environ, "PYTHONPATH": str(args.old_code)})
        print("--- this code:", flush=True)

    with tempfile.TemporaryDirectory() as scratch:
        data_dir = args.keep or Path(scratch)
        source = Path(scratch) / "articles.jsonl"
        source.write_text("\n".join(sample_lines(dev_articles_path(), args.limit, args.seed)) + "\n", encoding="utf-8")
        articles = [item for item in load_file(source, max_bytes=10**10) if isinstance(item, Article)]
        overrides = {"embedding_backend": args.backend} if args.backend else {}
        settings = Settings(data_dir=data_dir, _env_file=None, **overrides)  # type: ignore[call-arg]
        model = build_embeddings(settings)
        model.encode(["warm-up"] * 8)
        encoder = CountingEncoder(model)
        ingestor = Ingestor.from_settings(settings, build_store(settings, encoder), encoder)
        rng = random.Random(args.seed)
        print(f"{len(articles)} articles, encoder {settings.embedding_backend}, "
              f"keyword index {'on' if settings.keyword_search else 'off'}, "
              f"{os.cpu_count()} CPUs, load average at start {os.getloadavg()[0]:.2f}")

        total = IngestReport()
        raw_passages, raw_seconds = 0, 0.0
        slice_rates: list[float] = []
        size = -(-len(articles) // args.slices)
        for start in range(0, len(articles), size):
            part = articles[start:start + size]
            report = ingestor.ingest(part)
            for name in ("new", "updated", "unchanged", "near_duplicates", "failed", "chunks", "seconds"):
                setattr(total, name, getattr(total, name) + getattr(report, name))
            texts = [chunk.embed_text for article in part
                     for chunk in chunk_article(article, model.token_counts, ingestor.max_tokens)]
            sample = rng.sample(texts, max(1, int(len(texts) * args.raw_share)))
            started = time.perf_counter()
            model.encode(sample)
            seconds = time.perf_counter() - started
            raw_seconds += seconds
            raw_passages += len(sample)
            slice_rates.append(report.chunks / report.seconds)
            print(f"  slice {start // size + 1}: {report.chunks} chunks at {report.chunks / report.seconds:.1f}/s; "
                  f"raw {len(sample)} at {len(sample) / seconds:.1f}/s; load {os.getloadavg()[0]:.2f}", flush=True)

        embedded = encoder.encoded
        raw = raw_passages / raw_seconds
        ingest_rate = total.chunks / total.seconds
        print(f"ingest:    {total.summary()}")
        print(f"           {total.new / total.seconds:.2f} articles/s, {ingest_rate:.1f} chunks/s, "
              f"{embedded} passages embedded for {total.chunks} stored; embedding took "
              f"{encoder.seconds:.1f} s ({encoder.seconds / total.seconds:.1%}), the rest (loading, chunking, "
              f"near-duplicate check, writes) {total.seconds - encoder.seconds:.1f} s")
        print(f"encode:    {raw_passages} sampled passages in {raw_seconds:.1f} s, {raw:.1f} passages/s (raw model)")
        print(f"ratio:     ingest/encode = {ingest_rate / raw:.3f} (target >= 0.95)")
        print(f"flat:      first tenth {slice_rates[0]:.1f} passages/s, last tenth {slice_rates[-1]:.1f} passages/s "
              f"(last/first {slice_rates[-1] / slice_rates[0]:.2f})")

        encoder.encoded = 0
        again = ingestor.ingest(articles)
        print(f"re-ingest: {again.summary()}; {encoder.encoded} passages embedded; "
              f"{again.seconds / total.seconds:.2%} of the first run (target < 5%)")
        print(f"load average at end {os.getloadavg()[0]:.2f}")
        if not args.keep:
            stop_server(data_dir)  # the temporary store's local Chroma server


if __name__ == "__main__":
    main()
