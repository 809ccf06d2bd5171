"""chromadb clients with a deadline on every call; for the local server, over its socket with its secret.

`local_client(data_dir)` talks to the DATA_DIR's own server (assistant/store/server.py) over its Unix
socket, sending the DATA_DIR's secret and Host name, never through a proxy (proxy variables are
ignored). A call the server does not answer in time (READ_TIMEOUT for reads, WRITE_TIMEOUT for writes),
or a refused connection, makes the client check the server with a real request and, when it fails,
replace it (only ever a server that is provably this DATA_DIR's), then send the call again once: the
chat, the ingest command and `answer()` all recover from a dead, stopped or wedged server by themselves.
`remote_client(host, port)` (CHROMA_HOST) gets the same deadlines, without replacement.

chromadb's HttpClient makes its own httpx session and calls the server before returning; the session
is made ours while the client is built (`_sessions`), the one place that reaches into chromadb.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import chromadb
import httpx
from chromadb.config import Settings as ChromaSettings

from assistant.store.server import LOG_FILE, ServerInfo, StoreUnavailable, ensure_server, replace_failing, secret

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 3.0
"""A read (query, get, count) unanswered this long makes the client check the server; a healthy but busy
server then gets SLOW_TIMEOUT for the same call."""
WRITE_TIMEOUT = 60.0
SLOW_TIMEOUT = 60.0
TOKEN_HEADER = "x-newsdesk-token"
_FAILED = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def _is_write(request: httpx.Request) -> bool:
    return request.method != "GET" and not request.url.path.endswith(("/query", "/get"))


def _timeouts(seconds: float) -> dict[str, float]:
    return {"connect": CONNECT_TIMEOUT, "read": seconds, "write": seconds, "pool": seconds}


class LocalServer:
    """The server of one DATA_DIR as this process sees it; replaced once however many threads saw it fail."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.token = secret(self.data_dir)
        self.info = ensure_server(self.data_dir)
        self._lock = threading.Lock()

    def recover(self, failed: ServerInfo, error: Exception) -> ServerInfo:
        with self._lock:
            if self.info == failed:
                logger.info("the Chroma server of %s did not answer (%s): checking it", self.data_dir, error)
                self.info = replace_failing(self.data_dir, failed)
            return self.info


class _LocalTransport(httpx.BaseTransport):
    """Every call to the local server: its socket, a deadline, and one more try after a failing server is replaced."""

    def __init__(self, server: LocalServer, limits: httpx.Limits | None) -> None:
        self.server, self._limits = server, limits or httpx.Limits()
        self._lock = threading.Lock()
        self._socket, self._inner = "", httpx.HTTPTransport(verify=False)  # see _transport

    def _transport(self, info: ServerInfo, renew: bool = False) -> httpx.HTTPTransport:
        """The connections to `info`'s socket; `renew`: new ones (those to a server that failed would fail again).
        Plain HTTP over the socket: `verify=False` spares loading the CA bundle, which no request here
        uses (60-80 ms each under load; opening the store made ten such transports)."""
        with self._lock:
            if renew or info.socket != self._socket:
                self._inner.close()
                self._socket, self._inner = info.socket, httpx.HTTPTransport(uds=info.socket, limits=self._limits,
                                                                        verify=False)
            return self._inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        info = self.server.info
        request.extensions["timeout"] = _timeouts(WRITE_TIMEOUT if _is_write(request) else READ_TIMEOUT)
        try:
            return self._transport(info).handle_request(request)
        except _FAILED as error:
            replaced = self.server.recover(info, error)
        request.extensions["timeout"] = _timeouts(SLOW_TIMEOUT)
        try:
            return self._transport(replaced, renew=True).handle_request(request)
        except _FAILED as error:
            raise StoreUnavailable(f"the Chroma server of {self.server.data_dir} did not answer "
                                   f"({type(error).__name__}; see {self.server.data_dir / LOG_FILE})") from None

    def close(self) -> None:
        self._inner.close()


class _DeadlineTransport(httpx.HTTPTransport):
    """CHROMA_HOST: every call with a deadline (the operator's server is never replaced from here)."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.extensions["timeout"] = _timeouts(WRITE_TIMEOUT if _is_write(request) else SLOW_TIMEOUT)
        try:
            return super().handle_request(request)
        except _FAILED as error:
            raise StoreUnavailable(f"the Chroma server at {request.url.host}:{request.url.port} did not answer "
                                   f"({type(error).__name__})") from None


class _HttpxWith:
    """The httpx module, but with `Client` made by us (see `_sessions`)."""

    def __init__(self, real: Any, client: Callable[..., httpx.Client]) -> None:
        self._real, self.Client = real, client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


_BUILDING = threading.Lock()


@contextmanager
def _sessions(make: Callable[[httpx.Limits | None], httpx.Client]) -> Iterator[None]:
    """While a chromadb HttpClient is built, the httpx session it makes for itself is `make(limits)`."""
    import chromadb.api.fastapi as fastapi_client

    with _BUILDING:
        real = fastapi_client.httpx
        fastapi_client.httpx = _HttpxWith(real, lambda **kwargs: make(kwargs.get("limits")))  # type: ignore[assignment]
        try:
            yield
        finally:
            fastapi_client.httpx = real


def local_client(data_dir: Path, settings: ChromaSettings | None = None) -> chromadb.ClientAPI:
    """A client of DATA_DIR's own server (started if none runs)."""
    server = LocalServer(data_dir)

    def session(limits: httpx.Limits | None) -> httpx.Client:
        return httpx.Client(transport=_LocalTransport(server, limits), trust_env=False, timeout=None)

    with _sessions(session):
        return chromadb.HttpClient(host=server.info.host, port=80, headers={TOKEN_HEADER: server.token},
                                   settings=settings or ChromaSettings(anonymized_telemetry=False))


def remote_client(host: str, port: int, settings: ChromaSettings | None = None) -> chromadb.ClientAPI:
    """A client of the Chroma server at CHROMA_HOST:CHROMA_PORT, with a deadline on every call."""

    def session(limits: httpx.Limits | None) -> httpx.Client:
        return httpx.Client(transport=_DeadlineTransport(limits=limits or httpx.Limits()), timeout=None)

    with _sessions(session):
        return chromadb.HttpClient(host=host, port=port, settings=settings or ChromaSettings(anonymized_telemetry=False))
