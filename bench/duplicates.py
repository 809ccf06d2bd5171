"""How many near-duplicate articles (syndicated copies) the dev corpus holds, at several thresholds.

    python bench/duplicates.py                       # thresholds 0.5 ... 0.9, timing
    python bench/duplicates.py --show 10 --at 0.8    # also print 10 matched pairs to check by eye

Articles are taken in file order, as an ingest would: each is looked up among the ones kept so
far and is either kept or recognised as a copy of a kept one (then stored as its alternative).
"""

from __future__ import annotations

import argparse
import random
import time
from difflib import SequenceMatcher

from common import dev_articles_path

from assistant.store.signature_index import SignatureIndex
from assistant.types import Article
from ingest.dedup import DuplicateFinder, article_signature
from ingest.loaders import load_file


def _pairs(articles: list[Article], signatures: list, threshold: float) -> tuple[list[tuple[int, int, float]], float]:
    """(copy, original, similarity) for every article recognised as a copy; seconds the lookups took."""
    finder = DuplicateFinder(SignatureIndex(":memory:", threshold))
    kept: set[str] = set()
    position = {article.id: index for index, article in enumerate(articles)}
    pairs = []
    started = time.perf_counter()
    for index, (article, sig) in enumerate(zip(articles, signatures, strict=True)):
        match = finder.find(sig, kept.__contains__) if sig is not None else None
        if match is not None:
            pairs.append((index, position[match.article_id], match.similarity))
            continue
        kept.add(article.id)
        finder.store(article.id, "", sig)
    return pairs, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8, 0.9])
    parser.add_argument("--show", type=int, default=0, help="matched pairs to print (random sample)")
    parser.add_argument("--at", type=float, default=0.8, help="threshold of the pairs shown")
    args = parser.parse_args()

    articles = [item for item in load_file(dev_articles_path(), max_bytes=10**9) if isinstance(item, Article)]
    started = time.perf_counter()
    signatures = [article_signature(article) for article in articles]
    seconds = time.perf_counter() - started
    print(f"{len(articles)} articles, {sum(s is None for s in signatures)} too short to compare; "
          f"signatures in {seconds:.1f} s ({seconds / len(articles) * 1000:.2f} ms/article)")
    print("threshold  copies  clusters  largest  lookups")
    shown: list[tuple[int, int, float]] = []
    for threshold in args.thresholds:
        pairs, lookup_seconds = _pairs(articles, signatures, threshold)
        sizes: dict[int, int] = {}
        for _, original, _ in pairs:
            sizes[original] = sizes.get(original, 1) + 1
        print(f"{threshold:9.2f}  {len(pairs):6d}  {len(sizes):8d}  {max(sizes.values(), default=0):7d}  "
              f"{lookup_seconds:.1f} s")
        if threshold == args.at:
            shown = pairs
    for copy, original, score in random.Random(0).sample(shown, min(args.show, len(shown))):
        first, second = articles[original], articles[copy]
        ratio = SequenceMatcher(None, first.text[:3000], second.text[:3000], autojunk=False).ratio()
        print(f"\n{score:.2f} (text match {ratio:.2f})")
        for article in (first, second):
            print(f"  {article.source} {article.published} {article.url}\n    {article.title}\n"
                  f"    {article.text[:160]!r} ... ({len(article.text)} chars)")


if __name__ == "__main__":
    main()
