"""HTTP GET for web pages and feeds; every failure is a one-line `FetchError`.

- One deadline (`FETCH_TIMEOUT`) for the whole request: name lookup, connect, headers, body and every
  redirect. A watchdog closes the connection when it passes, so a server that sends one byte a second
  cannot hold a fetch (or `--watch`) longer than the timeout.
- Only public addresses: every address a host name resolves to is checked before connecting, on every
  redirect, and the connection goes to the checked address (assistant/infra/addresses.py; `FETCH_ALLOW_HOSTS`
  lists the intranet hosts and networks allowed too). Proxy settings of the environment are not used.
- A size cap (`MAX_FETCH_MB`), a named `User-Agent`, a redirect limit (`FETCH_MAX_REDIRECTS`, only to
  http(s), never to the same URL twice) and conditional requests (`ETag`/`Last-Modified`, 304).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message
from functools import partial
from urllib.parse import quote, urldefrag, urljoin, urlsplit

from assistant.config import Settings
from assistant.infra.addresses import AddressPolicy

_CHUNK = 64 * 1024
_SCHEMES = ("http", "https")
_REDIRECTS = {301, 302, 303, 307, 308}
_PATH_SAFE = "/%:@!$&'()*+,;=-._~?"
"""Characters kept as they are in a request path: a URL from a feed may hold spaces or non-ASCII text."""


class FetchError(Exception):
    """Why a URL could not be fetched; `str()` is the one line shown to the user."""

    def __init__(self, url: str, problem: str) -> None:
        super().__init__(f"{url}: {problem}")
        self.url = url
        self.problem = problem


@dataclass(frozen=True)
class Response:
    url: str
    """The final URL, after redirects."""
    status: int
    """200, or 304 when a conditional request found the resource unchanged (then `body` is empty)."""
    body: bytes
    content_type: str
    charset: str | None
    etag: str | None
    last_modified: str | None


def is_url(text: str) -> bool:
    return urlsplit(text).scheme.lower() in _SCHEMES


class _Problem(Exception):
    """A hop failed; the fetcher reports it for the URL asked for, naming the hop when it was a redirect."""


class _Expired(Exception):
    """The request's deadline passed."""


class _Deadline:
    """The end of the whole request, and a watchdog that closes the current connection when it comes."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds
        self.fired = False

    def remaining(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise _Expired
        return left

    def expired(self) -> bool:
        return self.fired or time.monotonic() >= self.end

    def watch(self, connection: _Connection | _TLSConnection) -> threading.Timer:
        def close() -> None:
            self.fired = True
            sock = connection.kept
            if sock is not None:
                try:  # wakes a blocked read at once; the socket's own class method, also for TLS sockets
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
                except OSError:
                    pass

        timer = threading.Timer(self.remaining(), close)
        timer.daemon = True
        timer.start()
        return timer


class _Connection(http.client.HTTPConnection):
    """Keeps its socket after handing it to a response that reads until the server closes, for the watchdog."""

    kept: socket.socket | None = None

    def connect(self) -> None:
        super().connect()
        self.kept = self.sock


class _TLSConnection(http.client.HTTPSConnection):
    kept: socket.socket | None = None

    def connect(self) -> None:
        super().connect()
        self.kept = self.sock


@dataclass(frozen=True)
class _Reply:
    status: int
    reason: str
    headers: http.client.HTTPMessage
    body: bytes


class Fetcher:
    def __init__(self, timeout: float, max_bytes: int, user_agent: str, max_redirects: int,
                 allow_hosts: Iterable[str] = ()) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.user_agent = user_agent
        self.max_redirects = max_redirects
        self.policy = AddressPolicy.parse(allow_hosts)

    @classmethod
    def from_settings(cls, settings: Settings) -> Fetcher:
        return cls(settings.fetch_timeout, int(settings.max_fetch_mb * 1e6), settings.user_agent,
                   settings.fetch_max_redirects, settings.fetch_allow_hosts)

    def get(self, url: str, etag: str | None = None, last_modified: str | None = None) -> Response:
        """The response to GET `url`; with `etag`/`last_modified` the server may answer 304 (unchanged)."""
        if not is_url(url):
            raise FetchError(url, "not an http(s) URL")
        headers = {"User-Agent": self.user_agent, "Accept-Encoding": "identity", "Connection": "close"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        deadline = _Deadline(self.timeout)
        current, visited = url, {urldefrag(url).url}
        try:
            while True:
                try:
                    reply = self._hop(current, headers, deadline)
                except _Problem as problem:
                    raise FetchError(url, str(problem) if current == url else f"redirected to {current}: {problem}") \
                        from None
                location = reply.headers.get("Location", "").strip()
                if reply.status not in _REDIRECTS or not location:
                    break
                target = urljoin(current, location)
                if not is_url(target):
                    raise FetchError(url, f"redirected to a non-HTTP address {target!r}")
                if urldefrag(target).url in visited:
                    raise FetchError(url, f"redirect loop: redirected back to {target}")
                if len(visited) > self.max_redirects:
                    raise FetchError(url, f"more than {self.max_redirects} redirects (FETCH_MAX_REDIRECTS)")
                visited.add(urldefrag(target).url)
                current = target
        except _Expired:
            raise self._timeout(url) from None
        if reply.status == 304:
            return _response(current, 304, b"", reply.headers)
        if not 200 <= reply.status < 300:
            raise FetchError(url, f"HTTP {reply.status} {reply.reason}".rstrip())
        return _response(current, reply.status, reply.body, reply.headers)

    def _hop(self, url: str, headers: dict[str, str], deadline: _Deadline) -> _Reply:
        """One request: resolve, check the addresses, connect to a checked one, read the reply (the body of a 2xx)."""
        parts = urlsplit(url)
        host = parts.hostname
        try:
            port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        except ValueError:
            raise _Problem(f"invalid port in {parts.netloc!r}") from None
        if not host:
            raise _Problem("no host name in the URL")
        addresses = self._allowed_addresses(host, port, deadline)
        if parts.scheme.lower() == "https":
            connection: _Connection | _TLSConnection = _TLSConnection(
                host, port, timeout=deadline.remaining(), context=ssl.create_default_context())
        else:
            connection = _Connection(host, port, timeout=deadline.remaining())
        connection._create_connection = partial(_connect, addresses, port, deadline)  # type: ignore[attr-defined]
        timer = deadline.watch(connection)
        reply: http.client.HTTPResponse | None = None
        try:
            path = quote(parts.path or "/", safe=_PATH_SAFE) + (f"?{quote(parts.query, safe=_PATH_SAFE)}"
                                                                 if parts.query else "")
            try:
                connection.request("GET", path, headers=headers)
            except (_Expired, _Problem):
                raise
            except OSError as error:
                if isinstance(error, TimeoutError) or deadline.expired():
                    raise _Expired from None
                raise _Problem(f"cannot connect ({error.strerror or error})") from None
            reply = connection.getresponse()
            body = self._read(reply, deadline) if 200 <= reply.status < 300 else b""
            if deadline.fired:  # the watchdog cut the body short
                raise _Expired
            return _Reply(reply.status, reply.reason, reply.headers, body)
        except (_Expired, _Problem):
            raise
        except (http.client.HTTPException, OSError) as error:
            if isinstance(error, TimeoutError) or deadline.expired():
                raise _Expired from None
            raise _Problem(f"connection failed ({type(error).__name__}: {error})") from None
        finally:
            timer.cancel()
            if reply is not None:
                reply.close()
            connection.close()

    def _allowed_addresses(self, host: str, port: int, deadline: _Deadline) -> list[str]:
        """The addresses of `host` that may be fetched; _Problem naming the reason when there is none."""
        addresses = _resolve(host, port, deadline)
        allowed = [address for address in addresses if self.policy.refusal(host, address) is None]
        if not allowed:
            raise _Problem(self.policy.refusal(host, addresses[0]) or "no address")
        return allowed

    def _read(self, reply: http.client.HTTPResponse, deadline: _Deadline) -> bytes:
        """The body, refused as soon as it is known to exceed the size cap or the deadline passes."""
        declared = reply.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise _Problem(self._too_large(_megabytes(int(declared))))
        parts: list[bytes] = []
        size = 0
        while part := reply.read1(_CHUNK):
            size += len(part)
            if size > self.max_bytes:
                raise _Problem(self._too_large("larger"))
            deadline.remaining()
            parts.append(part)
        return b"".join(parts)

    def _too_large(self, size: str) -> str:
        return f"response is {size}, over the {_megabytes(self.max_bytes)} limit (MAX_FETCH_MB)"

    def _timeout(self, url: str) -> FetchError:
        return FetchError(url, f"no complete response within {self.timeout:g} s (FETCH_TIMEOUT)")


def _resolve(host: str, port: int, deadline: _Deadline) -> list[str]:
    """The addresses of `host` (an address itself, or a name looked up within the deadline)."""
    literal = host.strip("[]")
    try:
        ipaddress.ip_address(literal.split("%", 1)[0])
        return [literal]
    except ValueError:
        pass
    found: list[list[str]] = []
    failed: list[OSError] = []
    done = threading.Event()

    def lookup() -> None:  # in a thread: getaddrinfo itself cannot be interrupted
        try:
            found.append(list(dict.fromkeys(str(info[4][0]) for info in socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM))))
        except (OSError, UnicodeError) as error:
            failed.append(error if isinstance(error, OSError) else OSError(str(error)))
        finally:
            done.set()

    threading.Thread(target=lookup, name=f"resolve {host}", daemon=True).start()
    if not done.wait(deadline.remaining()):
        raise _Expired
    if failed or not found or not found[0]:
        error = failed[0] if failed else None
        raise _Problem(f"cannot resolve host {host!r} ({getattr(error, 'strerror', None) or error or 'no address'})")
    return found[0]


def _connect(addresses: list[str], port: int, deadline: _Deadline, _address: object, _timeout: object,
             source_address: object = None) -> socket.socket:
    """A connection to the first of the checked `addresses` that answers (replaces http.client's own lookup)."""
    error: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout=deadline.remaining())
        except OSError as failure:
            error = failure
    assert error is not None
    raise error


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.3g} MB"


def _response(url: str, status: int, body: bytes, headers: Message) -> Response:
    return Response(
        url=url,
        status=status,
        body=body,
        content_type=headers.get_content_type() if headers.get("Content-Type") else "",
        charset=headers.get_content_charset(),
        etag=headers.get("ETag"),
        last_modified=headers.get("Last-Modified"),
    )
