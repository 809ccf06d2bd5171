"""Polling an unchanged feed must fetch no article and take under a second.

    python bench/feed.py [--entries 100]

Serves an RSS feed of N entries and their article pages on 127.0.0.1 (offline), then runs
`python -m ingest --feed URL` in this process three times on a temporary store:
  1. empty store: every page fetched, extracted, embedded (includes loading the model);
  2. unchanged feed, server honours ETag/Last-Modified: the feed answers 304;
  3. unchanged feed, server ignores them: the feed is read again, every entry is known.
For each poll it prints the time, the feed's status and the article pages fetched; exit 1 when
poll 2 or 3 fetched an article or took a second or more.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import common  # noqa: F401 (puts the checkout on sys.path)

from assistant.store.server import stop_server
from assistant.config import get_settings
from ingest.__main__ import main as ingest_main

WORDS = ["council", "budget", "river", "school", "bridge", "harbour", "station", "market", "teachers", "engineers",
         "mayor", "museum", "library", "tram", "hospital", "festival", "ferry", "factory", "union", "voters", "park",
         "village", "court", "police"]
ETAG = '"bench-v1"'


class Site:
    """The feed and its pages; counts the requests for each."""

    def __init__(self, entries: int) -> None:
        self.honour_validators = True
        self.requests: list[tuple[str, int]] = []
        start = datetime(2024, 5, 1, tzinfo=UTC)
        self.modified = format_datetime(start + timedelta(days=entries), usegmt=True)
        self.pages = {f"/articles/{n}": _page(n) for n in range(entries)}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/feed.xml":
                    status, body, kind = site._feed(self.headers.get("If-None-Match"), start, entries)
                elif self.path in site.pages:
                    status, body, kind = 200, site.pages[self.path], "text/html; charset=utf-8"
                else:
                    status, body, kind = 404, b"", "text/plain"
                site.requests.append((self.path, status))
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                if self.path == "/feed.xml" and site.honour_validators:
                    self.send_header("ETag", ETAG)
                    self.send_header("Last-Modified", site.modified)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def _feed(self, etag: str | None, start: datetime, entries: int) -> tuple[int, bytes, str]:
        if self.honour_validators and etag == ETAG:
            return 304, b"", "application/rss+xml"
        items = "".join(
            f"<item><title>Bench story {n}</title><link>{self.url(f'/articles/{n}')}</link>"
            f"<guid>{self.url(f'/articles/{n}')}</guid>"
            f"<pubDate>{format_datetime(start + timedelta(hours=n), usegmt=True)}</pubDate>"
            f"<description>Teaser of bench story {n}.</description></item>"
            for n in range(entries))
        body = (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Bench Gazette</title>'
                f"<link>{self.url('/')}</link><description>bench</description>{items}</channel></rss>")
        return 200, body.encode(), "application/rss+xml"

    def pages_fetched(self, since: int) -> int:
        return sum(1 for path, _ in self.requests[since:] if path.startswith("/articles/"))

    def feed_status(self, since: int) -> int:
        return [status for path, status in self.requests[since:] if path == "/feed.xml"][-1]


def _page(n: int) -> bytes:
    """A news page (navigation, footer, script) whose article is worded unlike any other."""
    rng = random.Random(n)
    paragraphs = "".join(f"<p>Bench story {n} continues: " + " ".join(rng.choices(WORDS, k=40)) + ".</p>"
                         for _ in range(4))
    return (f"<!DOCTYPE html><html><head><title>Bench story {n} | Bench Gazette</title>"
            f"<script>var tracking = {n};</script></head><body><nav><a href='/'>Home</a> <a href='/news'>News</a>"
            f"</nav><article><h1>Bench story {n}</h1>{paragraphs}</article>"
            f"<footer>Copyright 2024 Bench Gazette</footer></body></html>").encode()


def _poll(site: Site, feed: str) -> tuple[float, int, int, list[str]]:
    """Seconds, feed status, article pages fetched and the command's output lines of one poll."""
    before = len(site.requests)
    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out):
        status = ingest_main(["--feed", feed, "-q"])
    seconds = time.perf_counter() - started
    if status:
        raise SystemExit(f"ingest failed:\n{out.getvalue()}")
    return seconds, site.feed_status(before), site.pages_fetched(before), out.getvalue().splitlines()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100)
    args = parser.parse_args()
    site = Site(args.entries)
    feed = site.url("/feed.xml")
    failed = False
    with tempfile.TemporaryDirectory() as data_dir:
        os.environ.update(DATA_DIR=data_dir, CHROMA_HOST="", FETCH_ALLOW_HOSTS="127.0.0.1")  # the local test site
        get_settings.cache_clear()
        print(f"feed of {args.entries} entries at {feed}; store in {data_dir}")
        polls = [("1 empty store", True), ("2 unchanged, server honours ETag", True),
                 ("3 unchanged, server ignores ETag", False)]
        for number, (label, honour) in enumerate(polls, start=1):
            site.honour_validators = honour
            seconds, status, fetched, lines = _poll(site, feed)
            print(f"poll {label:<34} {seconds:6.2f} s   feed HTTP {status}   article pages fetched {fetched}")
            for line in lines:
                print(f"    {line}")
            if number > 1 and (fetched or seconds >= 1.0):
                failed = True
        site.server.shutdown()
        stop_server(Path(data_dir))  # the local Chroma server the polls started
    print("FAIL: an unchanged feed fetched articles or took 1 s or more" if failed
          else "OK: unchanged feed polled without fetching any article, each poll under 1 s")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
