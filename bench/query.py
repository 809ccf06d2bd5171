"""Query latency (embedding included) of hybrid and dense-only retrieval, at the dev corpus and scaled up.

    python bench/query.py --data-dir /tmp/devstore                # the full dev corpus (~30k chunks)
    python bench/query.py --data-dir /tmp/devstore --scale 10     # also a 10x store built from it
    python bench/query.py --data-dir /tmp/devstore --compare-layouts 2   # local server vs embedded, ABAB

`--compare-layouts N` measures the same store N times each way, alternating, each in a fresh process:
- `server`: through its local server (CHROMA_MODE=server, the default: every process a client): chromadb's
  Python server on a Unix socket, every request checked for the DATA_DIR's secret and Host;
- `open-server`: through `chroma run` (chromadb's Rust server) on 127.0.0.1 with no access check, as the
  local server was before the check (a client via CHROMA_HOST; the baseline of the check's cost);
- `embedded`: opened in the measuring process (CHROMA_MODE=embedded, the single-process layout).

The scaled store holds the dev passages plus perturbed copies: each copy's embedding gets
Gaussian noise (then is renormalised) and its text loses a random tenth of its words, so
neither index sees exact duplicates. Nothing is re-embedded, so building it takes minutes.
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
from common import load_questions

from assistant.chain import NewsAssistant
from assistant.store.server import running, stop_server
from assistant.config import Settings
from assistant.store.chunk_store import ChunkStore

BATCH = 4000


def current_rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(news: NewsAssistant, questions: list[str], dense_only: bool) -> tuple[float, float]:
    timings = []
    for question in questions:
        started = time.perf_counter()
        news.retriever.retrieve(question, k=10, dense_only=dense_only)
        timings.append(time.perf_counter() - started)
    timings.sort()
    return statistics.median(timings) * 1000, timings[int(0.95 * len(timings)) - 1] * 1000


def report(label: str, news: NewsAssistant, questions: list[str], server_pid: int = 0) -> None:
    news.retriever.retrieve("warm up the caches", k=10)
    hybrid = measure(news, questions, dense_only=False)
    dense = measure(news, questions, dense_only=True)
    rss_mb = current_rss_mb()
    server = running(news.settings.data_dir.resolve()) if news.settings.chroma_mode == "server" else None
    server_pid = server_pid or (server.pid if server else 0)
    server_rss = f" + server {current_rss_mb(server_pid):.0f} MB" if server_pid else ""
    print(f"{label}: {news.store.count_chunks()} chunks, {len(questions)} queries | hybrid p50 {hybrid[0]:.1f} ms, "
          f"p95 {hybrid[1]:.1f} ms | dense-only p50 {dense[0]:.1f} ms, p95 {dense[1]:.1f} ms | "
          f"RSS {rss_mb:.0f} MB{server_rss}", flush=True)


def fill_local_indexes(news: NewsAssistant) -> None:
    """The first sync of the store's local indexes (keyword index, passage cache), timed: it fills whatever
    is missing from Chroma (an engine used for the first time, a store from before the passage cache)."""
    started = time.perf_counter()
    news.store.sync(force=True)
    passages = news.store.passages.count() if news.store.passages is not None else 0
    print(f"  local indexes in step in {time.perf_counter() - started:.1f} s ({passages} passages cached)",
          flush=True)


def _perturb(text: str, rng: random.Random) -> str:
    lines = []
    for line in text.split("\n"):
        words = line.split(" ")
        lines.append(" ".join(word for word in words if rng.random() > 0.1) or line)
    return "\n".join(lines)


def build_scaled(source: ChunkStore, target: ChunkStore, scale: int, seed: int = 0) -> None:
    """Copy every passage of `source` into `target` `scale` times (the first copy exact); a build that was
    stopped goes on: the passages are copied again only when some are missing, then the keyword rows
    are written from what the target holds, then the records."""
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    total = source.count_chunks()
    if target.count_chunks() < total * scale:
        for offset in range(0, total, BATCH):
            batch = source.chunks.get(limit=BATCH, offset=offset, include=["documents", "metadatas", "embeddings"])
            vectors = np.asarray(batch["embeddings"], dtype=np.float32)
            for copy in range(scale):
                suffix = f"~{copy}" if copy else ""
                moved = vectors if not copy else vectors + noise.normal(0, 0.02, vectors.shape).astype(np.float32)
                moved /= np.linalg.norm(moved, axis=1, keepdims=True)
                documents = [doc if not copy else _perturb(doc, rng) for doc in batch["documents"]]
                metadatas = [{**meta, "article_id": f"{meta['article_id']}{suffix}"} for meta in batch["metadatas"]]
                ids = [f"{chunk_id}{suffix}" for chunk_id in batch["ids"]]
                target.chunks.upsert(ids=ids, embeddings=moved, documents=documents, metadatas=metadatas)
            print(f"  copied {min(offset + BATCH, total)}/{total} passages x{scale}", flush=True)
    assert target.keywords is not None
    if target.keywords.count() < total * scale:
        keyword_rows: dict[str, list[tuple[str, str, str, str, int]]] = {}
        for offset in range(0, target.count_chunks(), BATCH):
            batch = target.chunks.get(limit=BATCH, offset=offset, include=["documents", "metadatas"])
            for chunk_id, document, meta in zip(batch["ids"], batch["documents"], batch["metadatas"], strict=True):
                keyword_rows.setdefault(str(meta["article_id"]), []).append(
                    (chunk_id, str(meta["title"]), document, str(meta["source"]), int(meta["day"])))
        articles = list(keyword_rows.items())
        hashes = {record.id: record.content_hash for record in source.articles()}  # as the records will name
        for start in range(0, len(articles), 1000):
            with target.keywords.batch():
                for article_id, rows in articles[start:start + 1000]:
                    target.keywords.replace_article(article_id, hashes.get(article_id.split("~")[0], ""), rows)
        print(f"  keyword rows of {len(articles)} articles written", flush=True)
    records = source.articles()  # written last: searches return passages of recorded articles only
    for copy in range(scale):
        suffix = f"~{copy}" if copy else ""
        target.write_records([replace(record, id=f"{record.id}{suffix}") for record in records])


@contextmanager
def open_server(path: Path) -> Iterator[tuple[int, int]]:
    """`chroma run` on the Chroma folder `path`, on a free port of 127.0.0.1, with no access check."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    process = subprocess.Popen([str(Path(sys.executable).parent / "chroma"), "run", "--host", "127.0.0.1", "--port",
                                str(port), "--path", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("chroma run did not start") from None
                time.sleep(0.2)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="store holding the ingested dev articles")
    parser.add_argument("--scale", type=int, default=0, help="also measure a store this many times larger")
    parser.add_argument("--scaled-dir", type=Path, default=Path("/tmp/newsdesk-scaled"))
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--keyword-engine", choices=["tantivy", "fts5"], default="tantivy",
                        help="KEYWORD_ENGINE of both stores (a first use fills its index from Chroma, timed)")
    parser.add_argument("--layout", choices=["server", "open-server", "embedded"], default="server",
                        help="open the store through its local Chroma server (default), through `chroma run` with no "
                             "access check (needs --port, started by --compare-layouts) or embedded in this process")
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--compare-layouts", type=int, default=0, metavar="N",
                        help="measure both layouts N times each, alternating, each in a fresh process")
    args = parser.parse_args()

    if args.compare_layouts:
        for _ in range(args.compare_layouts):
            for layout in ("server", "open-server", "embedded"):
                stop_server(args.data_dir)  # the other layouts need the directory to themselves
                command = [sys.executable, __file__, "--data-dir", str(args.data_dir), "--layout", layout,
                           "--queries", str(args.queries)]
                if layout != "open-server":
                    subprocess.run(command, check=True)
                    continue
                with open_server(args.data_dir / "chroma") as (port, pid):
                    subprocess.run([*command, "--port", str(port), "--server-pid", str(pid)], check=True)
        stop_server(args.data_dir)
        return
    questions = [q["question"] for q in load_questions()][: args.queries]
    open_layout = args.layout == "open-server"
    news = NewsAssistant.from_settings(Settings(  # type: ignore[call-arg]
        data_dir=args.data_dir, chroma_mode="server" if open_layout else args.layout, _env_file=None,
        keyword_engine=args.keyword_engine,
        **({"chroma_host": "127.0.0.1", "chroma_port": args.port} if open_layout else {})))
    fill_local_indexes(news)
    report(f"dev corpus ({args.layout}, {args.keyword_engine})", news, questions, args.server_pid)
    if args.scale > 1:
        scaled_settings = Settings(data_dir=args.scaled_dir, _env_file=None,  # type: ignore[call-arg]
                                   keyword_engine=args.keyword_engine)
        scaled = NewsAssistant.from_settings(scaled_settings)
        if scaled.store.count_articles() < news.store.count_articles() * args.scale:
            started = time.perf_counter()
            build_scaled(news.store, scaled.store, args.scale)
            print(f"  built the x{args.scale} store in {time.perf_counter() - started:.0f} s", flush=True)
        scaled = NewsAssistant.from_settings(scaled_settings)
        fill_local_indexes(scaled)
        report(f"x{args.scale} store ({args.keyword_engine})", scaled, questions)


if __name__ == "__main__":
    main()
