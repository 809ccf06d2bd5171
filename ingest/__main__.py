"""`python -m ingest PATH|URL...`: add articles from files, folders and web pages to the store;
`--feed URL [--watch MINUTES]` polls RSS/Atom feeds; `--list` and `--delete ID...` manage the store;
`--updates [--since DATE]` prints the followed questions whose answers changed."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import replace
from datetime import date, datetime
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.config import Settings, get_settings
from assistant.types import Article
from ingest.fetch import Fetcher, is_url
from ingest.loaders import LoadError, load_paths
from ingest.web import load_urls

if TYPE_CHECKING:
    from assistant.store.chunk_store import ChunkStore
    from ingest.feeds import FeedReader, FeedRound
    from ingest.pipeline import Ingestor


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ingest", description=__doc__)
    parser.add_argument("paths", nargs="*", metavar="PATH|URL",
                        help="files, folders (searched recursively) or http(s) URLs of article pages")
    parser.add_argument("--feed", action="append", default=[], metavar="URL",
                        help="an RSS or Atom feed whose entries to ingest (repeatable)")
    parser.add_argument("--watch", type=float, metavar="MINUTES",
                        help="with --feed: poll the feeds again every MINUTES until stopped (Ctrl-C)")
    parser.add_argument("--restore-deleted", action="store_true",
                        help="with --feed: fetch again the entries whose article an editor deleted, when the feed "
                             "shows them changed since (else a deleted entry is never fetched again)")
    parser.add_argument("--list", action="store_true", help="list stored articles")
    parser.add_argument("--since", metavar="DATE",
                        help="with --list: only the articles added (stored) on or after DATE (YYYY-MM-DD, UTC), "
                             "oldest first, with the time each was added; with --updates: the answers changed "
                             "on or after DATE")
    parser.add_argument("--updates", action="store_true",
                        help="check the followed questions against what was stored since the last check, then print "
                             "the answers that changed (not yet seen, or since --since DATE) with what changed")
    parser.add_argument("--delete", nargs="+", metavar="ID",
                        help="move these articles to the trash (restorable from the Library for TRASH_DAYS days)")
    parser.add_argument("--purge-trash", action="store_true", help="remove every article in the trash for good")
    parser.add_argument("--if-empty", action="store_true", help="ingest only when the store holds no article")
    parser.add_argument("--reembed", action="store_true",
                        help="encode every stored passage again with EMBEDDING_BACKEND's encoder (after changing it "
                             "to or from onnx-int8); an interrupted run goes on where it stopped when run again")
    parser.add_argument("--server", choices=["status", "start", "stop"],
                        help="the local Chroma server that owns DATA_DIR/chroma (started on first use otherwise)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return parser


def _since(value: str) -> date:
    """--since's date; ValueError with a one-line message when it is none."""
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"--since {value!r}: not a date (expected YYYY-MM-DD, e.g. 2026-03-01)") from None


def _list(settings: Settings, since: date | None = None) -> int:
    """The stored articles; `since`: only those added on or after that day (UTC), oldest first."""
    from assistant.store.chunk_store import build_store
    from ingest.fields import one_line

    def row(*fields: object) -> str:  # one line per row, even for a record stored before fields were cleaned
        return "\t".join(one_line("" if field is None else str(field)) or "-" for field in fields)

    records = build_store(settings, check_vectors=False).articles()
    if since is not None:  # added_at is UTC ISO 8601; records stored before provenance have none
        records = sorted((record for record in records if record.added_at[:10] >= since.isoformat()),
                         key=lambda record: record.added_at)
    for record in records:
        print(row(record.id, record.title, record.source, record.published, record.chunks,
                  *((record.added_at,) if since is not None else ())))
        for copy in record.alternatives:  # near-duplicates: other outlets' copies, not stored again
            print(f"  also {row(copy.id, copy.title, copy.source, copy.published, copy.url)}")
    copies = sum(len(record.alternatives) for record in records)
    print(f"{len(records)} articles" + (f" added since {since.isoformat()}" if since is not None else "")
          + (f" ({copies} more sources recorded as near-duplicates)" if copies else ""), file=sys.stderr)
    return 0


def _server(settings: Settings, action: str) -> int:
    from assistant.store.server import StoreUnavailable, ensure_server, running, stop_server

    if settings.chroma_host or settings.chroma_mode != "server":
        where = f"the server at {settings.chroma_host}" if settings.chroma_host else "embedded (CHROMA_MODE=embedded)"
        print(f"no local server: the store is {where}")
        return 0
    if action == "stop":
        print("stopped" if stop_server(settings.data_dir) else "no Chroma server was running")
        return 0
    try:
        info = ensure_server(settings.data_dir) if action == "start" else running(settings.data_dir.resolve())
    except StoreUnavailable as error:
        print(error, file=sys.stderr)
        return 1
    print(f"Chroma server for {info.path}: {info.socket} (pid {info.pid})" if info
          else f"no Chroma server is running for {settings.data_dir.resolve() / 'chroma'}")
    return 0


def _reembed(settings: Settings, quiet: bool) -> int:
    from tqdm import tqdm

    from assistant.encoders.embeddings import build_embeddings
    from assistant.store.vectors import NEW_STORE_BACKEND
    from assistant.store.chunk_store import build_store
    from assistant.store.trash import Trash
    from ingest.reembed import reembed

    if settings.embedding_backend == "auto":  # to the vectors a new store gets, which auto then keeps using
        settings = settings.model_copy(update={"embedding_backend": NEW_STORE_BACKEND})
    store = build_store(settings, check_vectors=False)
    encoder = build_embeddings(settings)
    bar = tqdm(unit=" passages", disable=quiet or None, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    report = reembed(store, encoder, encoder.vectors, Trash(store, settings.trash_days).passages,
                     max_tokens=min(settings.chunk_max_tokens, encoder.max_tokens), progress=progress)
    bar.close()
    print(report.summary())
    return 0


def _pause(seconds: float) -> None:
    """The wait between two --watch rounds."""
    time.sleep(seconds)


def _sources(paths: Sequence[str], fetcher: Fetcher, max_bytes: int) -> Iterator[Article | LoadError]:
    """The articles of the command line's files, folders and URLs, in the order given."""
    for path in paths:
        yield from load_urls(fetcher, [path]) if is_url(path) else load_paths([Path(path)], max_bytes)


class _Run:
    """One ingest command: each round ingests its inputs, commits the feeds' state and prints a summary."""

    def __init__(self, settings: Settings, store: ChunkStore, quiet: bool, stamped: bool,
                 restore_deleted: bool = False) -> None:
        from assistant.encoders.embeddings import build_embeddings
        from ingest.feeds import FeedReader
        from ingest.pipeline import Ingestor

        self.store = store
        self.trash_days = settings.trash_days
        self.ingestor: Ingestor = Ingestor.from_settings(settings, store, build_embeddings(settings))
        self.reader: FeedReader = FeedReader.from_settings(settings, restore_deleted)
        self.quiet = quiet
        self.stamped = stamped

    def round(self, sources: Iterable[Article | LoadError], feeds: Sequence[str]) -> int:
        """Ingest the sources and each feed's new entries; 1 when anything failed."""
        from tqdm import tqdm

        rounds: list[FeedRound] = []
        items = tqdm(chain(sources, self._feed_items(feeds, rounds)), unit=" articles",
                     disable=self.quiet or None, file=sys.stderr)
        report = self.ingestor.ingest(items, on_error=lambda line: tqdm.write(line, file=sys.stderr))
        if any(not (result.error or result.not_modified) for result in rounds):
            stored = self._stored_ids()
            for result in rounds:
                self.reader.commit(result, stored)
        for line in [result.summary() for result in rounds] + [report.summary()]:
            print(f"{datetime.now():%Y-%m-%d %H:%M:%S} {line}" if self.stamped else line, flush=True)
        return 1 if report.failed else 0

    def _feed_items(self, feeds: Sequence[str], rounds: list[FeedRound]) -> Iterator[Article | LoadError]:
        for url in feeds:
            result, items = self.reader.poll(url, self._stored_ids, self._deleted_ids)
            rounds.append(result)
            for item in items:  # provenance: the feed, not whoever runs the command
                yield replace(item, added_by=f"feed:{url}") if isinstance(item, Article) else item

    def _deleted_ids(self, article_ids: AbstractSet[str]) -> set[str]:
        """Of these article ids, those an editor deleted: a version of it is in the trash, or the audit log
        records its delete (also after the trash was purged)."""
        from assistant.store.trash import Trash

        found = Trash(self.store, self.trash_days).holds(article_ids)
        if self.store.audit is not None and article_ids - found:
            found |= self.store.audit.deleted(article_ids - found)
        return found

    def _stored_ids(self) -> set[str]:
        """Ids of the stored articles and of the copies recorded as their alternative sources."""
        return {article_id for record in self.store.articles()
                for article_id in (record.id, *(alternative.id for alternative in record.alternatives))}


def main(argv: Sequence[str] | None = None) -> int:
    from assistant.store.errors import DiskFull, StoreUnavailable, is_disk_full

    try:
        return _main(argv)
    except StoreUnavailable as error:  # e.g. the directory is held by a CHROMA_MODE=embedded process
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Exception as error:
        if not is_disk_full(error):
            raise
        print(f"error: {DiskFull(get_settings().data_dir.resolve())}", file=sys.stderr)
        return 1


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.watch is not None and (not args.feed or args.watch <= 0):
        parser.error("--watch MINUTES needs --feed URL and a number of minutes above 0")
    if args.restore_deleted and not args.feed:
        parser.error("--restore-deleted goes with --feed URL")
    if args.since is not None:
        if not args.list and not args.updates:
            print("error: --since DATE goes with --list or --updates", file=sys.stderr)
            return 2
        try:
            since = _since(args.since)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    settings = get_settings()
    if args.server:
        return _server(settings, args.server)
    if args.list:
        return _list(settings, since if args.since is not None else None)
    if args.updates:
        from ingest.follow_updates import print_updates

        return print_updates(since if args.since is not None else None)
    if args.reembed:
        return _reembed(settings, args.quiet)
    if not args.paths and not args.feed and not args.delete and not args.purge_trash:
        parser.error("give files, folders or URLs to ingest, --feed URL, --list, --delete ID..., --purge-trash or "
                     "--reembed")

    from assistant.store.chunk_store import build_store
    from assistant.store.trash import Trash
    from ingest.pipeline import delete_articles

    store = build_store(settings, check_vectors=bool(args.paths or args.feed))  # deleting needs no encoder
    status = 0
    if args.delete:
        deleted, missing = delete_articles(store, args.delete, by="cli", trash=Trash(store, settings.trash_days))
        for article_id in missing:
            print(f"{article_id}: no such article", file=sys.stderr)
        print(f"deleted {len(deleted)} (moved to the trash), not found {len(missing)}")
        status = 1 if missing else 0
    if args.purge_trash:
        print(f"purged {Trash(store, settings.trash_days).purge()} trashed article versions for good")
    if args.paths or args.feed:
        if args.if_empty and store.count_articles():
            print(f"store already holds {store.count_articles()} articles; nothing ingested")
            return status
        run = _Run(settings, store, args.quiet, stamped=args.watch is not None, restore_deleted=args.restore_deleted)
        sources = _sources(args.paths, Fetcher.from_settings(settings), int(settings.max_file_mb * 1e6))
        try:
            status = max(status, run.round(sources, args.feed))
            while args.watch is not None:
                _pause(args.watch * 60)
                status = max(status, run.round([], args.feed))
        except KeyboardInterrupt:
            if args.watch is None:
                raise
            print("stopped", file=sys.stderr)
    return status


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main())
