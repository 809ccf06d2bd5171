"""Time of single store calls through the guarded local server and through `chroma run` with no check.

    python bench/store_calls.py --data-dir /tmp/devstore

Each call 59 times (after one warm-up), medians: heartbeat, count, a 50-result query with and without
vectors, a get of 40 passages with and without vectors. Random query vectors, the store's own ids.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import chromadb
import numpy as np
from query import open_server

from assistant.store.client import local_client, remote_client
from assistant.store.server import stop_server

CALLS = 60


def timings(client: chromadb.ClientAPI, collection: str) -> dict[str, float]:
    passages = client.get_collection(collection)
    ids = passages.get(limit=CALLS * 20 + 40, include=[])["ids"]
    vectors = np.random.default_rng(0).normal(size=(CALLS, 384)).astype(np.float32)
    calls: dict[str, Callable[[int], object]] = {
        "heartbeat": lambda i: client.heartbeat(),
        "count": lambda i: passages.count(),
        "query 50": lambda i: passages.query(query_embeddings=[vectors[i]], n_results=50,
                                             include=["documents", "metadatas", "distances"]),
        "query 50 + vectors": lambda i: passages.query(query_embeddings=[vectors[i]], n_results=50,
                                                       include=["documents", "metadatas", "distances", "embeddings"]),
        "get 40 + vectors": lambda i: passages.get(ids=ids[i * 20:i * 20 + 40],
                                                   include=["documents", "metadatas", "embeddings"]),
        "get 40": lambda i: passages.get(ids=ids[i * 20:i * 20 + 40], include=["documents", "metadatas"]),
    }
    medians = {}
    for name, call in calls.items():
        call(0)
        spent = []
        for i in range(1, CALLS):
            started = time.perf_counter()
            call(i)
            spent.append((time.perf_counter() - started) * 1000)
        medians[name] = statistics.median(spent)
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--collection", default="newsdesk")
    args = parser.parse_args()
    stop_server(args.data_dir)
    rows = {"guarded server": timings(local_client(args.data_dir), args.collection)}
    stop_server(args.data_dir)  # `chroma run` needs the Chroma folder to itself
    with open_server(args.data_dir / "chroma") as (port, _):
        rows["chroma run, no check"] = timings(remote_client("127.0.0.1", port), args.collection)
    for label, medians in rows.items():
        print(f"{label}: " + ", ".join(f"{name} {ms:.1f} ms" for name, ms in medians.items()))


if __name__ == "__main__":
    main()
