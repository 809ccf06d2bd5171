"""`python -m ingest PATH...`: add articles to the store; `--list` and `--delete ID...` manage it."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from assistant.config import Settings, get_settings
from ingest.loaders import load_paths


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ingest", description=__doc__)
    parser.add_argument("paths", nargs="*", type=Path, help="files or folders (searched recursively)")
    parser.add_argument("--list", action="store_true", help="list stored articles")
    parser.add_argument("--delete", nargs="+", metavar="ID", help="delete these articles completely")
    parser.add_argument("--if-empty", action="store_true", help="ingest only when the store holds no article")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return parser


def _list(settings: Settings) -> int:
    from assistant.store import build_store

    records = build_store(settings).articles()
    for record in records:
        print(f"{record.id}\t{record.title}\t{record.source or '-'}\t{record.published or '-'}\t{record.chunks}")
    print(f"{len(records)} articles", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = get_settings()
    if args.list:
        return _list(settings)
    if not args.paths and not args.delete:
        _parser().error("give files or folders to ingest, --list, or --delete ID...")

    from assistant.embeddings import build_embeddings
    from assistant.store import build_store
    from ingest.pipeline import Ingestor, delete_articles

    store = build_store(settings)
    status = 0
    if args.delete:
        deleted, missing = delete_articles(store, args.delete)
        for article_id in missing:
            print(f"{article_id}: no such article", file=sys.stderr)
        print(f"deleted {len(deleted)}, not found {len(missing)}")
        status = 1 if missing else 0
    if args.paths:
        if args.if_empty and store.count_articles():
            print(f"store already holds {store.count_articles()} articles; nothing ingested")
            return status
        from tqdm import tqdm

        ingestor = Ingestor(store, build_embeddings(settings), settings.chunk_max_tokens)
        items = tqdm(load_paths(args.paths, int(settings.max_file_mb * 1e6)), unit=" articles",
                     disable=args.quiet or None, file=sys.stderr)
        report = ingestor.ingest(items, on_error=lambda line: tqdm.write(line, file=sys.stderr))
        print(report.summary())
        status = max(status, 1 if report.failed else 0)
    return status


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main())
