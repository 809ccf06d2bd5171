"""Fetching untrusted URLs: one deadline for the whole request, no loopback/private addresses unless allowed
(after the name lookup and on every redirect), a cap on feed entries per poll. Servers bind to 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from assistant.config import Settings
from assistant.infra.addresses import AddressPolicy
from ingest.feeds import FeedReader
from ingest.fetch import Fetcher, FetchError
from ingest.loaders import LoadError

AGENT = "Newsdesk/0.1 (+news archive assistant)"
PAGE = b"<html><head><title>T</title></head><body><p>fine</p></body></html>"


class Trickle:
    """A raw TCP server on 127.0.0.1 whose replies come slowly; `script(connection, path)` writes one reply."""

    def __init__(self, script: Callable[[socket.socket, str], None]) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.script = script
        self.paths: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._reply, args=(connection,), daemon=True).start()

    def _reply(self, connection: socket.socket) -> None:
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                data = connection.recv(4096)
                if not data:
                    return
                request += data
            path = request.split(b" ", 2)[1].decode()
            self.paths.append(path)
            try:
                self.script(connection, path)
            except OSError:  # the client gave up: expected
                pass

    def close(self) -> None:
        self.listener.close()


def one_byte_a_second(connection: socket.socket, data: bytes) -> None:
    for byte in data:
        connection.sendall(bytes([byte]))
        time.sleep(1)


@pytest.fixture
def trickle() -> Iterator[Callable[[Callable[[socket.socket, str], None]], Trickle]]:
    servers: list[Trickle] = []

    def start(script: Callable[[socket.socket, str], None]) -> Trickle:
        servers.append(Trickle(script))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def fetcher(timeout: float = 20, allow: tuple[str, ...] = ("127.0.0.1",), max_redirects: int = 5) -> Fetcher:
    return Fetcher(timeout=timeout, max_bytes=10**6, user_agent=AGENT, max_redirects=max_redirects, allow_hosts=allow)


def timed_failure(fetch: Fetcher, url: str) -> tuple[float, str]:
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        fetch.get(url)
    return time.monotonic() - started, str(caught.value)


TIMEOUT = 1.5


@pytest.mark.slow  # starts a server on 127.0.0.1
@pytest.mark.parametrize("case", ["body", "headers", "silence", "redirects"])
def test_the_whole_request_has_one_deadline(case: str, trickle: Callable[..., Trickle]) -> None:
    """A server sending a byte a second (or nothing, or slow redirects) holds a fetch at most FETCH_TIMEOUT + 0.5 s."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"

    def script(connection: socket.socket, path: str) -> None:
        if case == "body":
            connection.sendall(head)
            one_byte_a_second(connection, PAGE)
        elif case == "headers":
            one_byte_a_second(connection, head + PAGE)
        elif case == "silence":
            time.sleep(TIMEOUT + 5)
        else:  # each hop answers after 0.6 s with a redirect to the next: no single read is slow
            time.sleep(0.6)
            hop = int(path.strip("/") or 0)
            connection.sendall(f"HTTP/1.1 302 Found\r\nLocation: /{hop + 1}\r\nContent-Length: 0\r\n\r\n".encode())

    server = trickle(script)
    seconds, error = timed_failure(fetcher(TIMEOUT, max_redirects=20), server.url("/0"))
    assert error == f"{server.url('/0')}: no complete response within {TIMEOUT:g} s (FETCH_TIMEOUT)"
    assert TIMEOUT - 0.05 <= seconds <= TIMEOUT + 0.5, seconds
    if case == "redirects":
        assert 2 <= len(server.paths) <= 4  # the deadline is shared by the hops, not renewed for each


@pytest.mark.slow  # starts a server on 127.0.0.1
def test_a_slow_but_complete_response_within_the_deadline_is_read(trickle: Callable[..., Trickle]) -> None:
    def script(connection: socket.socket, path: str) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + PAGE[:-4])
        time.sleep(0.3)
        connection.sendall(PAGE[-4:])

    server = trickle(script)
    response = fetcher(TIMEOUT).get(server.url("/"))
    assert response.body == PAGE and response.status == 200


class Site:
    """Routes on a threaded HTTP server on 127.0.0.1; remembers the paths asked for."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.paths: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.paths.append(self.path)
                status, headers, body = site.routes.get(self.path, (404, {}, b"no such page"))
                self.send_response(status)
                for name, value in {"Content-Type": "text/html", **headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.server.server_port}{path}"


@pytest.fixture
def site() -> Iterator[Site]:
    server = Site()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.mark.slow  # starts a server on 127.0.0.1
def test_loopback_is_refused_by_default_and_allowed_when_listed(site: Site) -> None:
    site.routes["/secret"] = (200, {}, PAGE)
    url = site.url("/secret")
    with pytest.raises(FetchError) as caught:
        fetcher(allow=()).get(url)
    assert str(caught.value) == (f"{url}: refused: 127.0.0.1 is a loopback address (allow it with FETCH_ALLOW_HOSTS)")
    assert site.paths == []  # refused before connecting
    for allow in (("127.0.0.1",), ("127.0.0.0/8",), ("localhost", "127.0.0.1")):
        assert fetcher(allow=allow).get(url).body == PAGE


@pytest.mark.slow  # starts a server on 127.0.0.1
def test_a_host_name_is_checked_after_the_name_lookup(site: Site) -> None:
    site.routes["/secret"] = (200, {}, PAGE)
    url = site.url("/secret", host="localhost")
    with pytest.raises(FetchError) as caught:
        fetcher(allow=()).get(url)
    assert str(caught.value).startswith(f"{url}: refused: localhost resolves to ")
    assert str(caught.value).endswith(", which is a loopback address (allow it with FETCH_ALLOW_HOSTS)")
    assert fetcher(allow=("localhost",)).get(url).body == PAGE and site.paths == ["/secret"]


@pytest.mark.slow  # starts a server on 127.0.0.1
def test_every_redirect_is_checked(site: Site) -> None:
    """An allowed host (here `localhost`, by name) redirecting to an address that is not allowed."""
    site.routes["/start"] = (302, {"Location": site.url("/secret")}, b"")
    site.routes["/secret"] = (200, {}, PAGE)
    site.routes["/to-file"] = (302, {"Location": "file:///etc/passwd"}, b"")
    allowed = fetcher(allow=("localhost",))
    start = site.url("/start", host="localhost")
    with pytest.raises(FetchError) as caught:
        allowed.get(start)
    assert str(caught.value) == (f"{start}: redirected to {site.url('/secret')}: refused: 127.0.0.1 is a loopback "
                                 "address (allow it with FETCH_ALLOW_HOSTS)")
    assert "/secret" not in site.paths
    with pytest.raises(FetchError) as caught:
        allowed.get(site.url("/to-file", host="localhost"))
    assert str(caught.value).endswith(": redirected to a non-HTTP address 'file:///etc/passwd'")


@pytest.mark.slow  # starts a server on 127.0.0.1
def test_redirect_loops_and_too_many_redirects_name_their_reason(site: Site) -> None:
    site.routes["/a"] = (302, {"Location": "/b"}, b"")
    site.routes["/b"] = (301, {"Location": "/a"}, b"")
    for n in range(4):
        site.routes[f"/chain{n}"] = (302, {"Location": f"/chain{n + 1}"}, b"")
    site.routes["/chain4"] = (200, {}, PAGE)
    with pytest.raises(FetchError, match=r": redirect loop: redirected back to http://127\.0\.0\.1:\d+/a$"):
        fetcher().get(site.url("/a"))
    with pytest.raises(FetchError, match=r": more than 3 redirects \(FETCH_MAX_REDIRECTS\)$"):
        fetcher(max_redirects=3).get(site.url("/chain0"))
    response = fetcher(max_redirects=4).get(site.url("/chain0"))
    assert (response.url, response.body) == (site.url("/chain4"), PAGE)


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "a loopback address"), ("::1", "a loopback address"), ("10.1.2.3", "a private address"),
    ("192.168.1.1", "a private address"), ("172.16.0.1", "a private address"), ("fd00::1", "a private address"),
    ("169.254.169.254", "a link-local address"), ("fe80::1", "a link-local address"),
    ("224.0.0.251", "a multicast address"), ("ff02::1", "a multicast address"), ("0.0.0.0", "an unspecified address"),
    ("::ffff:127.0.0.1", "a loopback address"), ("100.64.0.1", "not a public address"),
])
def test_non_public_addresses_are_refused_with_their_kind(address: str, kind: str) -> None:
    expected = f"refused: {address} is {kind} (allow it with FETCH_ALLOW_HOSTS)"
    assert AddressPolicy().refusal(address, address) == expected
    assert AddressPolicy.parse([address]).refusal(address, address) is None


def test_public_addresses_pass_and_the_allow_list_is_exact() -> None:
    policy = AddressPolicy.parse(["intranet.example", "10.20.0.0/16"])
    assert policy.refusal("example.org", "93.184.216.34") is None
    assert policy.refusal("example.org", "2606:2800:220:1:248:1893:25c8:1946") is None
    assert policy.refusal("intranet.example", "10.99.0.1") is None  # the listed name, whatever it resolves to
    assert policy.refusal("feeds.example", "10.20.3.4") is None  # inside the listed network
    assert policy.refusal("feeds.example", "10.21.3.4") == (
        "refused: feeds.example resolves to 10.21.3.4, which is a private address (allow it with FETCH_ALLOW_HOSTS)")


def test_fetch_allow_hosts_setting_is_a_comma_separated_list_checked_when_read() -> None:
    settings = Settings(_env_file=None,  # type: ignore[call-arg]
                        fetch_allow_hosts="intranet.example, 10.0.0.0/8 ,127.0.0.1")
    assert settings.fetch_allow_hosts == ["intranet.example", "10.0.0.0/8", "127.0.0.1"]
    assert Settings(_env_file=None).fetch_allow_hosts == []  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="'http://x/y' is neither a host name"):
        Settings(_env_file=None, fetch_allow_hosts="http://x/y")  # type: ignore[call-arg]
    assert Settings(_env_file=None).max_feed_entries == 200  # type: ignore[call-arg]


def rss(site: Site, links: list[str]) -> bytes:
    items = "".join(f"<item><title>Story {n}</title><link>{link}</link><guid>{link}</guid>"
                    f"<pubDate>Mon, 06 May 2024 08:00:00 GMT</pubDate></item>" for n, link in enumerate(links))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Test Feed</title><link>{site.url("/")}</link>'
            f"<description>d</description>{items}</channel></rss>").encode()


@pytest.mark.slow  # starts a server on 127.0.0.1
def test_a_feed_entry_pointing_at_a_private_address_is_refused(site: Site, tmp_path: Path) -> None:
    site.routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml"},
                                rss(site, [site.url("/secret"), site.url("/secret-too")]))
    site.routes["/secret"] = (200, {}, PAGE)
    reader = FeedReader(fetcher(allow=("localhost",)), tmp_path / "feeds.json")
    feed = site.url("/feed.xml", host="localhost")
    result, items = reader.poll(feed, set)
    errors = [str(item) for item in items]
    assert errors == [f"{site.url(path)}: refused: 127.0.0.1 is a loopback address (allow it with "
                      f"FETCH_ALLOW_HOSTS) (entry of feed {feed})" for path in ("/secret", "/secret-too")]
    assert site.paths == ["/feed.xml"] and result.entries == 2


@pytest.mark.slow  # starts a server on 127.0.0.1
def test_a_poll_reads_at_most_max_feed_entries(site: Site, tmp_path: Path) -> None:
    site.routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml"},
                                rss(site, [site.url(f"/story/{n}") for n in range(12)]))
    reader = FeedReader(fetcher(), tmp_path / "feeds.json", max_entries=5)
    result, items = reader.poll(site.url("/feed.xml"), set)
    loaded = list(items)
    assert (result.entries, result.skipped, len(loaded)) == (5, 7, 5)
    assert all(isinstance(item, LoadError) and "HTTP 404" in str(item) for item in loaded)
    assert [path for path in site.paths if path.startswith("/story/")] == [f"/story/{n}" for n in range(5)]
    assert result.summary().endswith(", 7 more not read (MAX_FEED_ENTRIES is 5)")
    default = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    assert FeedReader.from_settings(default).max_entries == 200
