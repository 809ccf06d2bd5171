"""The keyword engines side by side (KEYWORD_ENGINE: fts5, tantivy, bm25s) at several index sizes, in one run.

    python bench/keywords.py --data-dir /tmp/devstore --sizes 30000,300000,1000000
    python bench/keywords.py --data-dir /tmp/devstore --sizes 3000,10000 --queries 50     # a quick look

The passages are the dev store's (read once from its Chroma collection, read-only, into --work-dir) and,
past its size, synthetic copies of them as bench/query.py makes them: each copy's text loses a random tenth
of its words, its article and chunk ids get a `~n` suffix. For each size and engine, two fresh processes:
- build: every article written with `replace_article` (1,000 per `batch()`), then one query (bm25s builds
  its matrices then): the build time; the disk the index takes;
- serve: the index opened as a store opens it, the dev questions asked (text only, k=50, no filters):
  p50/p95; then 20 stored articles replaced one by one, each committed (ms per article), and the first
  query after them (bm25s rebuilds everything then); the process's RSS after the questions and its peak.
KEYWORD_TITLE_WEIGHT and KEYWORD_MAX_DF are the settings' defaults unless given.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from common import load_questions

from assistant.config import Settings
from assistant.filters import UNKNOWN_DAY
from assistant.store.keyword_common import KeywordEngine
from assistant.store.keyword_engines import ENGINES as KEPT, keyword_index_path, open_engine

ENGINES = [*KEPT, "bm25s"]
"""The engines KEYWORD_ENGINE offers, and bm25s, measured here only (bench/keyword_bm25s.py: not kept, since any
write makes its next query rebuild the whole index)."""
BATCH = 4000
ARTICLES_PER_BATCH = 1000
UPDATES = 20
Row = tuple[str, str, str, str, int]


def export_passages(data_dir: Path, target: Path) -> None:
    """The dev store's passages, read in batches through its (running or started) server, as JSON lines."""
    from assistant.store.chunk_store import build_store

    settings = Settings(data_dir=data_dir, keyword_search=False, near_duplicate_threshold=0,  # type: ignore[call-arg]
                        _env_file=None)
    store = build_store(settings, check_vectors=False)  # no local index of it is opened or written
    total = store.count_chunks()
    partial = target.with_suffix(".partial")
    with partial.open("w", encoding="utf-8") as out:
        for offset in range(0, total, BATCH):
            batch = store.chunks.get(limit=BATCH, offset=offset, include=["documents", "metadatas"])
            for chunk_id, document, meta in zip(batch["ids"], batch["documents"] or [], batch["metadatas"] or [],
                                                strict=True):
                meta = meta or {}
                out.write(json.dumps([str(meta.get("article_id", "")), chunk_id, str(meta.get("title", "")),
                                      document or "", str(meta.get("source", "")),
                                      int(meta.get("day", UNKNOWN_DAY))]) + "\n")
    partial.rename(target)
    print(f"read {total} passages of {data_dir}", flush=True)


def base_articles(passages: Path) -> list[tuple[str, list[Row]]]:
    """The dev store's articles with their rows, in a fixed order."""
    articles: dict[str, list[Row]] = {}
    for line in passages.read_text(encoding="utf-8").splitlines():
        article_id, chunk_id, title, body, source, day = json.loads(line)
        articles.setdefault(article_id, []).append((chunk_id, title, body, source, day))
    return sorted(articles.items())


def copy_of(article_id: str, rows: list[Row], copy: int) -> tuple[str, list[Row]]:
    """Copy `copy` of an article (0: itself): ids suffixed, every passage's text perturbed."""
    from query import _perturb  # a random tenth of each line's words dropped (imported here: the serving
    # process, whose RSS is measured, never loads bench/query.py's imports)

    if copy == 0:
        return article_id, rows
    rng = random.Random(f"{copy}:{article_id}")
    return f"{article_id}~{copy}", [(f"{chunk_id}~{copy}", title, _perturb(body, rng), source, day)
                                    for chunk_id, title, body, source, day in rows]


def articles_of_size(base: list[tuple[str, list[Row]]], size: int) -> Iterator[tuple[str, list[Row]]]:
    """Whole articles, copies after the originals, until `size` passages."""
    written, copy = 0, 0
    while written < size:
        for article_id, rows in base:
            if written >= size:
                return
            article = copy_of(article_id, rows, copy)
            written += len(article[1])
            yield article
        copy += 1


def disk_mb(path: Path) -> float:
    files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else list(path.parent.glob(path.name + "*"))
    return sum(p.stat().st_size for p in files) / 1e6


def status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(int(share * len(ordered)) - 1, 0)]


def index_path(args: argparse.Namespace) -> Path:
    folder = args.work_dir / f"{args.engine}-{args.size}"
    return folder / "bench_keywords.bm25s" if args.engine == "bm25s" else keyword_index_path(folder, "bench", args.engine)


def open_index(args: argparse.Namespace, path: Path) -> KeywordEngine:
    if args.engine == "bm25s":
        from keyword_bm25s import Bm25sKeywordIndex

        return Bm25sKeywordIndex(path, args.title_weight, args.max_df)
    return open_engine(args.engine, path, args.title_weight, args.max_df)


def build(args: argparse.Namespace) -> dict[str, float]:
    from query import _perturb  # imported before the clock starts

    base = base_articles(args.work_dir / "passages.jsonl")
    path = index_path(args)
    shutil.rmtree(path.parent, ignore_errors=True)
    path.parent.mkdir(parents=True)
    started = time.perf_counter()
    index = open_index(args, path)
    articles, passages = 0, 0
    pending: list[tuple[str, list[Row]]] = []
    for article in articles_of_size(base, args.size):
        pending.append(article)
        if len(pending) == ARTICLES_PER_BATCH:
            with index.batch():
                for article_id, rows in pending:
                    index.replace_article(article_id, "v1", rows)
            articles, passages = articles + len(pending), passages + sum(len(rows) for _, rows in pending)
            pending = []
    with index.batch():
        for article_id, rows in pending:
            index.replace_article(article_id, "v1", rows)
    articles, passages = articles + len(pending), passages + sum(len(rows) for _, rows in pending)
    index.hits("warm up the index", 50)  # bm25s builds its matrices on the first query
    seconds = time.perf_counter() - started
    rng = random.Random(0)  # the articles the serving process replaces: the dev store's, new text
    chosen = rng.sample(base, UPDATES)
    updates = [(article_id, [(chunk_id, title, _perturb(body, rng), source, day)
                             for chunk_id, title, body, source, day in rows]) for article_id, rows in chosen]
    (path.parent / "updates.json").write_text(json.dumps(updates), encoding="utf-8")
    return {"articles": articles, "passages": passages, "build_s": seconds, "disk_mb": disk_mb(path),
            "build_peak_mb": status_mb("VmHWM")}


def serve(args: argparse.Namespace) -> dict[str, float]:
    path = index_path(args)
    updates = json.loads((path.parent / "updates.json").read_text(encoding="utf-8"))
    questions = [question["question"] for question in load_questions()][: args.queries]
    baseline = status_mb("VmRSS")
    started = time.perf_counter()
    index = open_index(args, path)
    index.hits("warm up the index", 50)
    opened = time.perf_counter() - started
    timings = []
    for question in questions:
        started = time.perf_counter()
        index.hits(question, 50)
        timings.append((time.perf_counter() - started) * 1000)
    rss = status_mb("VmRSS")
    update_ms = []
    for article_id, rows in updates:
        started = time.perf_counter()
        index.replace_article(article_id, "v2", [tuple(row) for row in rows])  # type: ignore[misc]
        update_ms.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    index.hits(questions[0], 50)
    after_update_ms = (time.perf_counter() - started) * 1000
    assert index.hashes([article_id for article_id, _ in updates]) == {article_id: "v2" for article_id, _ in updates}
    return {"open_s": opened, "p50_ms": statistics.median(timings), "p95_ms": percentile(timings, 0.95),
            "update_ms": statistics.mean(update_ms), "update_max_ms": max(update_ms),
            "after_update_ms": after_update_ms, "rss_mb": rss, "baseline_mb": baseline, "peak_mb": status_mb("VmHWM"),
            "queries": len(timings)}


def child(args: argparse.Namespace, phase: str, engine: str, size: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--phase", phase, "--engine", engine, "--size", str(size),
               "--work-dir", str(args.work_dir), "--queries", str(args.queries),
               "--title-weight", str(args.title_weight), "--max-df", str(args.max_df)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{engine} at {size} ({phase}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, help="the dev store (read once into --work-dir)")
    parser.add_argument("--sizes", default="30000,300000,1000000", help="passages per index, comma-separated")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/newsdesk-keywords"))
    parser.add_argument("--queries", type=int, default=200, help="dev questions asked (at most)")
    parser.add_argument("--title-weight", type=float, default=defaults.keyword_title_weight)
    parser.add_argument("--max-df", type=float, default=defaults.keyword_max_df)
    parser.add_argument("--keep", action="store_true", help="keep the indexes (else each is removed once measured)")
    parser.add_argument("--phase", choices=["build", "serve"], help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        result = build(args) if args.phase == "build" else serve(args)
        print(json.dumps(result))
        return
    engines = [engine.strip() for engine in args.engines.split(",") if engine.strip()]
    if unknown := [engine for engine in engines if engine not in ENGINES]:
        raise SystemExit(f"--engines: unknown {', '.join(unknown)} (expected {', '.join(ENGINES)})")
    try:
        sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    except ValueError:
        raise SystemExit(f"--sizes {args.sizes!r}: expected numbers of passages, e.g. 30000,300000") from None
    passages = args.work_dir / "passages.jsonl"
    if not passages.exists():
        if args.data_dir is None:
            raise SystemExit(f"{passages} not found: give --data-dir (the dev store) once")
        args.work_dir.mkdir(parents=True, exist_ok=True)
        export_passages(args.data_dir, passages)
    print(f"title weight {args.title_weight}, max_df {args.max_df}, k=50, up to {args.queries} dev questions; "
          f"{UPDATES} articles replaced one by one", flush=True)
    header = (f"{'engine':8} {'passages':>9} {'build s':>8} {'p50 ms':>7} {'p95 ms':>7} {'upd ms/art':>10} "
              f"{'upd max':>8} {'1st q after':>11} {'disk MB':>8} {'RSS MB':>7} {'peak MB':>8} {'build peak':>10}")
    rows = []
    for size in sizes:
        for engine in engines:
            built = child(args, "build", engine, size)
            served = child(args, "serve", engine, size)
            rows.append(f"{engine:8} {int(built['passages']):>9} {built['build_s']:>8.1f} {served['p50_ms']:>7.2f} "
                        f"{served['p95_ms']:>7.2f} {served['update_ms']:>10.1f} {served['update_max_ms']:>8.1f} "
                        f"{served['after_update_ms']:>11.1f} {built['disk_mb']:>8.1f} {served['rss_mb']:>7.0f} "
                        f"{served['peak_mb']:>8.0f} {built['build_peak_mb']:>10.0f}")
            print(rows[-1], flush=True)
            if not args.keep:
                shutil.rmtree(args.work_dir / f"{engine}-{size}", ignore_errors=True)
    print("\n" + header + "\n" + "\n".join(rows))


if __name__ == "__main__":
    main()
