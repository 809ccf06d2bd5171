"""HTTP GET for web pages and feeds: a timeout for the whole request, a size cap, a named
User-Agent, a redirect limit, conditional requests; every failure is a one-line `FetchError`."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from http.client import HTTPException, HTTPResponse
from urllib.parse import urlsplit

from assistant.config import Settings

_CHUNK = 64 * 1024
_SCHEMES = ("http", "https")


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


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows at most `limit` redirects, never to the same URL twice, and only to http(s)."""

    max_repeats = 1

    def __init__(self, limit: int) -> None:
        self.max_redirections = limit  # type: ignore[misc]  # a class attribute in urllib, set per instance

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if self.max_redirections == 0:
            raise urllib.error.HTTPError(req.full_url, code, self.inf_msg + msg, headers, fp)
        if not is_url(newurl):
            fp.close()
            raise FetchError(req.full_url, f"redirected to a non-HTTP address {newurl!r}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class Fetcher:
    def __init__(self, timeout: float, max_bytes: int, user_agent: str, max_redirects: int) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.user_agent = user_agent
        self.max_redirects = max_redirects
        self._opener = urllib.request.build_opener(_Redirects(max_redirects))

    @classmethod
    def from_settings(cls, settings: Settings) -> Fetcher:
        return cls(settings.fetch_timeout, int(settings.max_fetch_mb * 1e6), settings.user_agent,
                   settings.fetch_max_redirects)

    def get(self, url: str, etag: str | None = None, last_modified: str | None = None) -> Response:
        """The response to GET `url`; with `etag`/`last_modified` the server may answer 304 (unchanged)."""
        if not is_url(url):
            raise FetchError(url, "not an http(s) URL")
        headers = {"User-Agent": self.user_agent, "Accept-Encoding": "identity"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        deadline = time.monotonic() + self.timeout
        try:
            with self._opener.open(urllib.request.Request(url, headers=headers), timeout=self.timeout) as reply:
                body = self._read(url, reply, deadline)
                return _response(reply.geturl(), reply.status, body, reply.headers)
        except urllib.error.HTTPError as error:
            error.close()
            if error.code == 304:
                return _response(error.url or url, 304, b"", error.headers)
            if 300 <= error.code < 400:
                raise FetchError(url, f"redirect loop or more than {self.max_redirects} redirects") from None
            raise FetchError(url, f"HTTP {error.code} {error.reason}".rstrip()) from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise self._timeout(url) from None
            raise FetchError(url, f"cannot connect ({getattr(error.reason, 'strerror', None) or error.reason})") \
                from None
        except TimeoutError:
            raise self._timeout(url) from None
        except (HTTPException, OSError) as error:
            raise FetchError(url, f"connection failed ({type(error).__name__}: {error})") from None

    def _read(self, url: str, reply: HTTPResponse, deadline: float) -> bytes:
        """The body, refused as soon as it is known to exceed the size cap or the deadline passes."""
        declared = reply.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise self._too_large(url, _megabytes(int(declared)))
        parts: list[bytes] = []
        size = 0
        while part := reply.read(_CHUNK):
            size += len(part)
            if size > self.max_bytes:
                raise self._too_large(url, "larger")
            if time.monotonic() > deadline:
                raise self._timeout(url)
            parts.append(part)
        return b"".join(parts)

    def _too_large(self, url: str, size: str) -> FetchError:
        return FetchError(url, f"response is {size}, over the {_megabytes(self.max_bytes)} limit (MAX_FETCH_MB)")

    def _timeout(self, url: str) -> FetchError:
        return FetchError(url, f"no complete response within {self.timeout:g} s (FETCH_TIMEOUT)")


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
