"""HTML files, web pages and RSS/Atom feeds, served by a local HTTP server on 127.0.0.1 (no network)."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from conftest import FIXTURES, make_assistant

from assistant.config import Settings, get_settings
from assistant.encoders.embeddings import MiniLMEmbeddings
from ingest.__main__ import main as ingest_main
from ingest.fetch import Fetcher, FetchError
from ingest.loaders import SUPPORTED_SUFFIXES, LoadError, article_id, load_file, load_paths
from ingest.pipeline import Ingestor

HTML_FIXTURE = FIXTURES / "html" / "harbour-bridge.html"
Reply = tuple[int, dict[str, str], bytes]
Route = Reply | Callable[[BaseHTTPRequestHandler], Reply]


class Site:
    """Routes served by a threaded HTTP server on 127.0.0.1; remembers every request."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requests.append((self.path, dict(self.headers.items())))
                route = site.routes.get(self.path, (404, {}, b"no such page"))
                status, headers, body = route(self) if callable(route) else route
                self.send_response(status)
                headers = {"Content-Type": "text/html; charset=utf-8", **headers}
                if "Content-Length" not in headers:
                    headers["Content-Length"] = str(len(body))
                for name, value in headers.items():
                    if value:  # an empty value leaves the header out
                        self.send_header(name, value)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def hits(self, prefix: str) -> int:
        return sum(1 for path, _ in self.requests if path.startswith(prefix))


@pytest.fixture
def site() -> Iterator[Site]:
    server = Site()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def article_html(title: str, paragraphs: list[str], author: str = "", published: str = "") -> bytes:
    """A news page with navigation, a script, related links and a footer around the article."""
    meta = (f'<meta name="author" content="{author}">' if author else "") + (
        f'<meta property="article:published_time" content="{published}">' if published else "")
    body = "".join(f"<p>{paragraph}</p>" for paragraph in paragraphs)
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title} | Valley Post</title>
<meta property="og:title" content="{title}"><meta property="og:site_name" content="Valley Post">{meta}
<script>window.tracking = "SCRIPT-TEXT";</script></head><body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li><li><a href="/sport">Sport</a></li></ul></nav>
<article><h1>{title}</h1>{body}<script>document.write("SCRIPT-TEXT")</script></article>
<aside><h3>Most read</h3><ul><li><a href="/x">Something else entirely</a></li></ul></aside>
<footer><p>Copyright 2024 Valley Post. All rights reserved. Privacy policy.</p></footer></body></html>""".encode()


_VOCABULARY = ["council", "residents", "budget", "river", "school", "bridge", "harbour", "station", "market",
               "teachers", "engineers", "mayor", "museum", "library", "tram", "hospital", "festival", "ferry",
               "factory", "union", "voters", "park", "village", "court"]


def paragraphs(topic: str) -> list[str]:
    """Three paragraphs about `topic`, worded differently for each topic (so no page is a near-duplicate)."""
    rng = random.Random(topic)
    return [f"The {topic} was discussed again on {day}, with " + " ".join(rng.choices(_VOCABULARY, k=18)) + "."
            for day in ("Monday", "Wednesday", "Friday")]


def counts(out: str) -> dict[str, int]:
    """The numbers of the last ingest summary line in `out`: {"new": 3, "failed": 0, ...}."""
    line = [line for line in out.splitlines() if "new " in line and "failed " in line][-1]
    return {name: int(value) for name, value in re.findall(r"([a-z][a-z -]*?) (\d+)(?=,)", line)}


NAV_PAGE = ("<html><head><title>All sections | Valley Post</title></head><body><nav><ul>"
            + "".join(f'<li><a href="/s{i}">Section {i} news</a></li>' for i in range(40))
            + "</ul></nav><p>Welcome to the Valley Post.</p></body></html>").encode()


def rss(title: str, items: list[dict[str, str]]) -> bytes:
    parts = []
    for item in items:
        content = f"<content:encoded><![CDATA[{item['content']}]]></content:encoded>" if "content" in item else ""
        parts.append(f"<item><title>{escape(item['title'])}</title><link>{item['link']}</link>"
                     f"<guid>{item['link']}</guid><pubDate>{item['date']}</pubDate>"
                     f"<description>{escape(item['title'])}: a short teaser.</description>{content}</item>")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
            f'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>{escape(title)}</title>'
            f'<link>http://127.0.0.1/</link><description>Test feed</description>{"".join(parts)}</channel></rss>'
            ).encode()


def conditional(body: bytes, etag: str, modified: str, content_type: str = "application/rss+xml") -> Route:
    """A feed that answers 304 when the client already holds this ETag or Last-Modified."""
    def reply(handler: BaseHTTPRequestHandler) -> Reply:
        headers = {"Content-Type": content_type, "ETag": etag, "Last-Modified": modified}
        if handler.headers.get("If-None-Match") == etag or handler.headers.get("If-Modified-Since") == modified:
            return 304, {**headers, "Content-Length": ""}, b""
        return 200, headers, body
    return reply


def rfc822(day: int) -> str:
    return format_datetime(datetime(2024, 5, day, 8, 0, tzinfo=UTC), usegmt=True)


Cli = Callable[..., tuple[int, str, list[str]]]


@pytest.fixture
def cli(settings: Settings, encoder: MiniLMEmbeddings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Iterator[Cli]:
    """Runs `python -m ingest ARGS -q` in-process on the temporary store, reusing the loaded model;
    returns (exit status, stdout, non-empty stderr lines)."""
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("FETCH_TIMEOUT", "1")
    monkeypatch.setenv("MAX_FETCH_MB", "0.1")
    monkeypatch.setenv("FETCH_ALLOW_HOSTS", "127.0.0.1")  # the test site; loopback is refused by default
    monkeypatch.setattr("assistant.encoders.embeddings.build_embeddings", lambda _settings: encoder)
    get_settings.cache_clear()

    def run(*argv: str) -> tuple[int, str, list[str]]:
        capsys.readouterr()
        status = ingest_main([*argv, "-q"])
        out, err = capsys.readouterr()
        return status, out, [line for line in err.splitlines() if line.strip()]

    yield run
    get_settings.cache_clear()


def stored(settings: Settings, encoder: MiniLMEmbeddings) -> dict[str, Any]:
    return {record.id: record for record in make_assistant(settings, encoder).store.articles()}


# --- HTML files -------------------------------------------------------------------------------------------


def test_html_file_gives_title_author_date_and_main_text_without_boilerplate() -> None:
    [article] = list(load_file(HTML_FIXTURE, 10**7))
    assert article.title == "Harbour Bridge Reopens After Eight Months of Repairs"
    assert article.author == "Mara Lindqvist"
    assert article.published == date(2024, 5, 2)
    assert article.source == "Coastal Gazette"
    assert article.url == "https://coastal-gazette.example/2024/05/harbour-bridge-reopens"
    assert article.id == article_id(None, article.url, "", "")
    lines = article.text.splitlines()
    assert lines[0].startswith("The Harbour Bridge in Port Elling reopened")  # title line not repeated
    assert "Traffic returns" in lines and "41 million crowns" in article.text
    for boilerplate in ("Subscribe", "cookies", "Related stories", "Ferry fares", "Copyright", "Weather",
                        "SCRIPT-IN", "alert", "tracker", "By Mara"):
        assert boilerplate not in article.text, boilerplate


def test_html_is_a_supported_file_type_in_folders(tmp_path: Path) -> None:
    assert {".html", ".htm"} <= SUPPORTED_SUFFIXES
    (tmp_path / "a.htm").write_bytes(HTML_FIXTURE.read_bytes())
    (tmp_path / "b.txt").write_text("A title\nSome body text.\n")
    items = list(load_paths([tmp_path], 10**7))
    assert [type(item).__name__ for item in items] == ["Article", "Article"]
    assert items[0].title.startswith("Harbour Bridge")


def test_html_declared_charset_is_honoured(tmp_path: Path) -> None:
    page = article_html("Caf\u00e9 owners in S\u00e3o Paulo protest", paragraphs("caf\u00e9 licence"))
    path = tmp_path / "latin.html"
    path.write_bytes(page.decode().replace('charset="utf-8"', 'charset="iso-8859-1"').encode("latin-1"))
    [article] = list(load_file(path, 10**7))
    assert article.title == "Caf\u00e9 owners in S\u00e3o Paulo protest"
    assert "caf\u00e9 licence" in article.text


def test_bad_html_files_each_get_one_line_and_the_rest_loads(tmp_path: Path) -> None:
    (tmp_path / "binary.html").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50)
    (tmp_path / "data.html").write_text('{"title": "not html", "text": "just JSON in a .html file"}')
    (tmp_path / "empty.html").write_text("  \n")
    (tmp_path / "nav.html").write_bytes(NAV_PAGE)
    (tmp_path / "ok.html").write_bytes(HTML_FIXTURE.read_bytes())
    (tmp_path / "untitled.html").write_bytes(b"<html><body>" + b"".join(
        f"<p>{text}</p>".encode() for text in paragraphs("plan")) + b"</body></html>")
    items = list(load_paths([tmp_path], 10**7))
    assert [item.title for item in items if not isinstance(item, LoadError)] == [
        "Harbour Bridge Reopens After Eight Months of Repairs"]
    errors = [str(item) for item in items if isinstance(item, LoadError)]
    assert errors[:3] == [
        f"{tmp_path / 'binary.html'}: malformed HTML: binary data, not an HTML document",
        f"{tmp_path / 'data.html'}: malformed HTML: no HTML elements found",
        f"{tmp_path / 'empty.html'}: file is empty",
    ]
    assert errors[3].startswith(f"{tmp_path / 'nav.html'}: not an article: ")
    assert "words of running text after removing navigation and boilerplate" in errors[3]
    assert errors[4] == f"{tmp_path / 'untitled.html'}: the page has no title"
    assert all("\n" not in error for error in errors)


@pytest.mark.slow
def test_edited_html_file_replaces_its_article(settings: Settings, encoder: MiniLMEmbeddings, tmp_path: Path) -> None:
    news = make_assistant(settings, encoder)
    path = tmp_path / "notice.html"
    path.write_bytes(article_html("Elmsford Ferry Timetable Changes", paragraphs("ferry timetable")))
    first = Ingestor(news.store, encoder).ingest(load_paths([path], 10**7))
    path.write_bytes(article_html("Elmsford Ferry Timetable Changes", paragraphs("ferry timetable")
                                  + ["A correction was added on Saturday: the first ferry now leaves at six in the "
                                     + "morning, not at seven as reported earlier."]))
    second = Ingestor(news.store, encoder).ingest(load_paths([path], 10**7))
    assert (first.new, second.new, second.updated, second.failed) == (1, 0, 1, 0)
    [record] = news.store.articles()
    assert record.origin == str(path.resolve())
    assert any("first ferry now leaves at six" in passage.text for passage in news.retrieve("first ferry", k=3))


def test_html_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.html"
    path.write_bytes(HTML_FIXTURE.read_bytes())
    [error] = list(load_file(path, 1000))
    assert isinstance(error, LoadError) and "over the 0 MB limit" in str(error) and str(error).startswith(str(path))


# --- fetching ---------------------------------------------------------------------------------------------


def test_fetcher_sends_user_agent_and_refuses_oversized_and_slow_responses(site: Site) -> None:
    site.routes["/ok"] = (200, {"ETag": '"v1"'}, b"<html>fine</html>")
    site.routes["/big"] = (200, {}, b"x" * 5000)
    site.routes["/big-unannounced"] = (200, {"Content-Length": ""}, b"x" * 5000)  # no length: read until close

    def slow(handler: BaseHTTPRequestHandler) -> Reply:
        time.sleep(1.5)
        return 200, {}, b"too late"

    site.routes["/slow"] = slow
    site.routes["/to-ftp"] = (302, {"Location": "ftp://127.0.0.1/file"}, b"")
    fetcher = Fetcher(timeout=0.5, max_bytes=1000, user_agent="Newsdesk/0.1 (+news archive assistant)",
                      max_redirects=3, allow_hosts=["127.0.0.1"])
    response = fetcher.get(site.url("/ok"))
    assert (response.status, response.body, response.etag) == (200, b"<html>fine</html>", '"v1"')
    assert site.requests[-1][1]["User-Agent"] == "Newsdesk/0.1 (+news archive assistant)"
    expected = {
        "/big": "response is 0.005 MB, over the 0.001 MB limit (MAX_FETCH_MB)",
        "/big-unannounced": "response is larger, over the 0.001 MB limit (MAX_FETCH_MB)",
        "/slow": "no complete response within 0.5 s (FETCH_TIMEOUT)",
        "/to-ftp": "redirected to a non-HTTP address 'ftp://127.0.0.1/file'",
    }
    for path, problem in expected.items():
        with pytest.raises(FetchError) as caught:
            fetcher.get(site.url(path))
        assert str(caught.value) == f"{site.url(path)}: {problem}"
    with pytest.raises(FetchError, match="not an http"):
        fetcher.get("file:///etc/passwd")


# --- the ingest command: pages ----------------------------------------------------------------------------


@pytest.mark.slow
def test_urls_and_files_mixed_with_every_bad_input(site: Site, cli: Cli, settings: Settings,
                                                   encoder: MiniLMEmbeddings, tmp_path: Path) -> None:
    site.routes["/good"] = (200, {}, article_html("Elmsford Approves New Bridge", paragraphs("new bridge"),
                                                  author="Jon Hale", published="2024-05-03"))
    site.routes["/moved"] = (301, {"Location": "/good-too"}, b"")
    site.routes["/good-too"] = (200, {}, article_html("Elmsford Approves Solar Farm", paragraphs("solar farm")))
    site.routes["/broken"] = (500, {}, b"oops")
    site.routes["/loop-a"] = (302, {"Location": "/loop-b"}, b"")
    site.routes["/loop-b"] = (302, {"Location": "/loop-a"}, b"")
    site.routes["/nav"] = (200, {}, NAV_PAGE)
    site.routes["/huge"] = (200, {}, article_html("Huge", paragraphs("huge page") * 400))
    site.routes["/pdf"] = (200, {"Content-Type": "application/pdf"}, b"%PDF-1.7")
    site.routes["/malformed"] = (200, {}, b"\x00\x01\x02<html" * 20)

    def slow(handler: BaseHTTPRequestHandler) -> Reply:
        time.sleep(1.5)
        return 200, {}, b""

    site.routes["/slow"] = slow
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "bridge.html").write_bytes(HTML_FIXTURE.read_bytes())
    url = site.url
    status, out, errors = cli(str(folder), url("/good"), url("/missing"), url("/broken"), url("/slow"),
                              url("/loop-a"), url("/nav"), url("/huge"), url("/pdf"), url("/malformed"),
                              url("/moved"))
    assert status == 1
    assert errors[:5] == [
        f"{url('/missing')}: HTTP 404 Not Found",
        f"{url('/broken')}: HTTP 500 Internal Server Error",
        f"{url('/slow')}: no complete response within 1 s (FETCH_TIMEOUT)",
        f"{url('/loop-a')}: redirect loop: redirected back to {url('/loop-a')}",
        (f"{url('/nav')}: not an article: 0 words of running text after removing navigation and boilerplate "
         "(at least 50 needed)"),
    ]
    assert errors[5].startswith(f"{url('/huge')}: response is ") and errors[5].endswith(
        "MB, over the 0.1 MB limit (MAX_FETCH_MB)")
    assert errors[6:] == [f"{url('/pdf')}: not an HTML page (content type application/pdf)",
                          f"{url('/malformed')}: malformed HTML: binary data, not an HTML document"]
    assert counts(out) | {"chunks written": 0} == {"new": 3, "updated": 0, "unchanged": 0, "near-duplicates": 0,
                                                   "failed": 8, "chunks written": 0}
    assert all(headers["User-Agent"] == "Newsdesk/0.1 (+news archive assistant)" for _, headers in site.requests)

    articles = stored(settings, encoder)
    good = articles[article_id(None, url("/good"), "", "")]
    assert (good.title, good.source, good.url, good.published) == (
        "Elmsford Approves New Bridge", "Valley Post", url("/good"), "2024-05-03")
    assert article_id(None, url("/moved"), "", "") in articles  # known by the URL asked for
    answer = make_assistant(settings, encoder).answer("How much did the Harbour Bridge repairs cost?")
    assert answer.citations and answer.citations[0].title.startswith("Harbour Bridge")
    passages = make_assistant(settings, encoder).retrieve("new bridge discussed", k=10)
    assert passages and not any("SCRIPT-TEXT" in passage.text or "Most read" in passage.text for passage in passages)

    status, out, errors = cli(url("/good"))  # unchanged page: nothing rewritten
    assert (status, errors) == (0, [])
    assert (counts(out)["unchanged"], counts(out)["new"], counts(out)["updated"]) == (1, 0, 0)


# --- the ingest command: feeds ----------------------------------------------------------------------------


def feed_site(site: Site, count: int = 3) -> list[dict[str, str]]:
    items = []
    for n in range(count):
        topic = f"project number {n}"
        site.routes[f"/articles/{n}"] = (200, {}, article_html(f"Elmsford Project {n} Approved", paragraphs(topic)))
        items.append({"title": f"Elmsford Project {n} Approved", "link": site.url(f"/articles/{n}"),
                      "date": rfc822(n + 1)})
    return items


@pytest.mark.slow
def test_feed_entries_are_fetched_or_taken_from_full_content_with_the_feed_title_as_source(
        site: Site, cli: Cli, settings: Settings, encoder: MiniLMEmbeddings) -> None:
    items = feed_site(site)
    # Another outlet's copy of entry 0: recorded as its alternative source, and then known as stored too.
    site.routes["/articles/copy"] = (200, {}, article_html("Project 0 Gets the Go-Ahead", paragraphs("project number 0")))
    items.append({"title": "Project 0 Gets the Go-Ahead", "link": site.url("/articles/copy"), "date": rfc822(4)})
    items.append({"title": "Library Opens Late on Thursdays", "link": site.url("/articles/full"), "date": rfc822(9),
                  "content": "".join(f"<p>{text}</p>" for text in paragraphs("library opening hours"))
                  + "<script>alert('no')</script>"})
    site.routes["/feed.xml"] = conditional(rss("Valley Post: Local", items), '"feed-v1"', rfc822(10))
    status, out, errors = cli("--feed", site.url("/feed.xml"))
    assert (status, errors) == (0, [])
    lines = out.splitlines()
    assert lines[0] == (f"feed Valley Post: Local ({site.url('/feed.xml')}): 5 entries, 0 unchanged, "
                        "4 pages fetched, 1 from feed content")
    assert (counts(out)["new"], counts(out)["near-duplicates"], counts(out)["failed"]) == (4, 1, 0)
    assert site.hits("/articles/full") == 0 and site.hits("/articles/") == 4
    articles = stored(settings, encoder)
    assert {record.source for record in articles.values()} == {"Valley Post: Local"}
    full = articles[article_id(None, site.url("/articles/full"), "", "")]
    assert (full.title, full.published) == ("Library Opens Late on Thursdays", "2024-05-09")
    passages = make_assistant(settings, encoder).retrieve("library opening hours", k=5)
    assert passages[0].article_id == full.id and not any("alert" in passage.text for passage in passages)
    assert articles[article_id(None, site.url("/articles/1"), "", "")].published == "2024-05-02"
    state = json.loads((settings.data_dir / "newsdesk_feeds.json").read_text())
    assert state[site.url("/feed.xml")]["etag"] == '"feed-v1"' and len(state[site.url("/feed.xml")]["entries"]) == 5

    # Second poll: the server answers 304 to the conditional request; no article is fetched.
    before = len(site.requests)
    status, out, errors = cli("--feed", site.url("/feed.xml"))
    assert (status, errors) == (0, [])
    assert out.splitlines()[0] == f"feed Valley Post: Local ({site.url('/feed.xml')}): not modified"
    assert sum(counts(out).values()) == 0
    assert [path for path, _ in site.requests[before:]] == ["/feed.xml"]
    assert site.requests[-1][1]["If-None-Match"] == '"feed-v1"'

    # A server without conditional requests: the entries are unchanged, so still no article is fetched.
    site.routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml"}, rss("Valley Post: Local", items))
    before = len(site.requests)
    status, out, _ = cli("--feed", site.url("/feed.xml"))
    assert status == 0 and "5 entries, 5 unchanged, 0 pages fetched, 0 from feed content" in out
    assert [path for path, _ in site.requests[before:]] == ["/feed.xml"]

    # One entry changes (new date, new page): only that one is fetched again and updated.
    items[1] = {**items[1], "date": rfc822(20)}
    site.routes["/articles/1"] = (200, {}, article_html("Elmsford Project 1 Approved", paragraphs("revised plan")))
    site.routes["/feed.xml"] = conditional(rss("Valley Post: Local", items), '"feed-v2"', rfc822(21))
    before = len(site.requests)
    status, out, _ = cli("--feed", site.url("/feed.xml"))
    assert status == 0 and "5 entries, 4 unchanged, 1 pages fetched, 0 from feed content" in out
    assert counts(out) | {"chunks written": 0} == {"new": 0, "updated": 1, "unchanged": 0, "near-duplicates": 0,
                                                   "failed": 0, "chunks written": 0}
    assert sorted(path for path, _ in site.requests[before:]) == ["/articles/1", "/feed.xml"]
    updated = stored(settings, encoder)[article_id(None, site.url("/articles/1"), "", "")]
    assert updated.published == "2024-05-20"


@pytest.mark.slow
def test_atom_feed_with_full_content(site: Site, cli: Cli, settings: Settings,
                                     encoder: MiniLMEmbeddings) -> None:
    content = escape("".join(f"<p>{text}</p>" for text in paragraphs("wind turbine")))
    site.routes["/atom"] = (200, {"Content-Type": "application/atom+xml"}, f"""<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Hill Courier</title><id>urn:x</id><updated>2024-05-04T00:00:00Z</updated>
<entry><title>Wind Turbine Plan Approved</title><link href="{site.url('/atom/1')}"/><id>urn:1</id>
<updated>2024-05-04T09:00:00Z</updated><author><name>Ada Crane</name></author>
<content type="html">{content}</content></entry></feed>""".encode())
    status, _, errors = cli("--feed", site.url("/atom"))
    assert (status, errors) == (0, [])
    assert site.hits("/atom/1") == 0
    [record] = stored(settings, encoder).values()
    assert (record.title, record.source, record.published, record.url) == (
        "Wind Turbine Plan Approved", "Hill Courier", "2024-05-04", site.url("/atom/1"))


@pytest.mark.slow
def test_bad_feeds_and_entries_are_reported_and_the_rest_is_ingested(
        site: Site, cli: Cli, settings: Settings, encoder: MiniLMEmbeddings) -> None:
    items = feed_site(site)
    items.append({"title": "Gone", "link": site.url("/articles/gone"), "date": rfc822(5)})
    site.routes["/feed.xml"] = conditional(rss("Valley Post", items), '"v1"', rfc822(10))
    site.routes["/page-not-feed"] = (200, {}, article_html("A page", paragraphs("page")))
    site.routes["/text-not-feed"] = (200, {"Content-Type": "text/plain"}, b"just some words, not XML at all")
    site.routes["/feed-500"] = (500, {}, b"")
    status, out, errors = cli("--feed", site.url("/text-not-feed"), "--feed", site.url("/feed.xml"),
                              "--feed", site.url("/feed-500"), "--feed", site.url("/page-not-feed"))
    assert status == 1
    assert errors[0].startswith(f"{site.url('/text-not-feed')}: not an RSS or Atom feed (")
    assert errors[1:3] == [
        f"{site.url('/articles/gone')}: HTTP 404 Not Found (entry of feed {site.url('/feed.xml')})",
        f"{site.url('/feed-500')}: HTTP 500 Internal Server Error",
    ]
    assert errors[3].startswith(f"{site.url('/page-not-feed')}: not an RSS or Atom feed (")
    assert len(errors) == 4
    assert (counts(out)["new"], counts(out)["failed"]) == (3, 4)
    assert len(stored(settings, encoder)) == 3

    # The failed entry keeps the feed's ETag from being saved: the next poll reads the feed again and
    # retries only that entry; once it is there, the ETag is saved and the poll after is a 304.
    site.routes["/articles/gone"] = (200, {}, article_html("Gone No More", paragraphs("returning page")))
    before = len(site.requests)
    status, out, errors = cli("--feed", site.url("/feed.xml"))
    assert (status, errors) == (0, [])
    assert [path for path, _ in site.requests[before:]] == ["/feed.xml", "/articles/gone"]
    assert (counts(out)["new"], counts(out)["failed"], counts(out)["unchanged"]) == (1, 0, 0)
    status, out, _ = cli("--feed", site.url("/feed.xml"))
    assert status == 0 and "not modified" in out


@pytest.mark.slow
def test_watch_polls_until_stopped_and_prints_each_round(
        site: Site, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    items = feed_site(site, count=2)
    site.routes["/feed.xml"] = conditional(rss("Valley Post", items), '"v1"', rfc822(10))
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr("ingest.__main__._pause", sleep)
    status, out, errors = cli("--feed", site.url("/feed.xml"), "--watch", "0.5")
    assert (status, errors, sleeps) == (0, ["stopped"], [30.0, 30.0, 30.0])
    lines = out.splitlines()
    assert len(lines) == 6 and all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", line) for line in lines)
    assert lines[0].endswith("2 entries, 0 unchanged, 2 pages fetched, 0 from feed content")
    assert counts(lines[1])["new"] == 2
    assert lines[2].endswith("not modified") and lines[4].endswith("not modified")
    assert site.hits("/articles/") == 2 and site.hits("/feed.xml") == 3


def test_watch_needs_a_feed() -> None:
    with pytest.raises(SystemExit):
        ingest_main(["--watch", "5", "somefile.txt"])
