"""Encoder throughput and agreement: torch vs onnx vs onnx-int8 MiniLM on the same dev passages.

    python bench/encoder.py [--passages 1500] [--rounds 3] [--models DIR]

Passages are a seeded sample of the dev articles' passages, chunked as the ingest does (title and
heading included). Each round encodes all of them with each backend in turn (same batch size,
EMBEDDING_BATCH_SIZE), so every backend sees the same machine load; the median round is reported.
Agreement: the cosine of each backend's vector with torch's, per passage (min, mean).
The ONNX files are exported into `--models` on first use (kept there for later runs).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from pathlib import Path

import numpy as np
from common import dev_articles_path, sample_lines

from assistant.config import Settings
from assistant.encoders.embeddings import MiniLMEmbeddings
from assistant.types import Article
from ingest.chunking import chunk_article
from ingest.loaders import load_file

BACKENDS = ("torch", "onnx", "onnx-int8")


def dev_passages(count: int, seed: int, encoder: MiniLMEmbeddings, scratch: Path) -> list[str]:
    source = scratch / "articles.jsonl"
    source.write_text("\n".join(sample_lines(dev_articles_path(), 400, seed)) + "\n", encoding="utf-8")
    articles = [item for item in load_file(source, max_bytes=10**10) if isinstance(item, Article)]
    texts = [chunk.embed_text for article in articles for chunk in chunk_article(article, encoder.token_counts, 256)]
    return random.Random(seed).sample(texts, min(count, len(texts)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", type=Path, default=Path("/tmp/newsdesk-bench-models"),
                        help="where the ONNX files are exported (and found again)")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    args = parser.parse_args()

    batch = Settings(_env_file=None).embedding_batch_size  # type: ignore[call-arg]
    encoders = {backend: MiniLMEmbeddings(batch, backend, args.models) for backend in args.backends.split(",")}
    for encoder in encoders.values():
        encoder.encode(["warm up: load the model, export it on first use"] * 4)
    args.models.mkdir(parents=True, exist_ok=True)
    texts = dev_passages(args.passages, args.seed, next(iter(encoders.values())), args.models)
    tokens = sum(next(iter(encoders.values())).token_counts(texts))
    print(f"{len(texts)} dev passages ({tokens / len(texts):.0f} tokens on average), batch size {batch}, "
          f"{os.cpu_count()} CPUs, load average at start {os.getloadavg()[0]:.2f}", flush=True)
    rates: dict[str, list[float]] = {backend: [] for backend in encoders}
    vectors: dict[str, np.ndarray] = {}
    for round_number in range(args.rounds):
        for backend, encoder in encoders.items():
            started = time.perf_counter()
            vectors[backend] = encoder.encode(texts)
            rates[backend].append(len(texts) / (time.perf_counter() - started))
        print(f"  round {round_number + 1}: " + ", ".join(f"{backend} {rates[backend][-1]:.1f}/s" for backend in encoders)
              + f"; load {os.getloadavg()[0]:.2f}", flush=True)
    reference = vectors.get("torch")
    base = statistics.median(rates["torch"]) if "torch" in rates else None
    for backend in encoders:
        rate = statistics.median(rates[backend])
        line = f"{backend:>10}: {rate:.1f} passages/s (median of {args.rounds} rounds)"
        if base:
            line += f", {rate / base:.2f}x torch"
        if reference is not None:
            cosine = np.sum(vectors[backend] * reference, axis=1)
            line += f"; cosine with torch min {cosine.min():.4f}, mean {cosine.mean():.4f}"
        print(line)
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
