"""The local Chroma server process of one DATA_DIR (started by assistant/store/server.py, never by hand).

`python -m assistant.store.server_main --lock L --path P --socket S --host H` with the DATA_DIR's secret in
the environment (NEWSDESK_CHROMA_SECRET, never on the command line, which every local user can read):
1. takes the owner lock of the Chroma directory (exit 3 when another process holds it);
2. builds Chroma's own HTTP API (chromadb.server.fastapi, the Python server over the same Rust
   bindings as `chroma run`, which has no access check: chroma-core/chroma#4965);
3. wraps it in `Guard`: a request must carry the secret and the local Host name, else 401/403;
4. serves it on a Unix socket that only this user may open (mode 0600), never on a TCP port, so no
   other local user, no other machine and no web page (DNS rebinding included) can reach it.
"""

from __future__ import annotations

import argparse
import fcntl
import hmac
import json
import os
import socket
import stat
import sys
import warnings
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any

SECRET_ENV = "NEWSDESK_CHROMA_SECRET"
TOKEN_HEADER = b"x-newsdesk-token"
EXIT_LOCKED = 3

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class Guard:
    """ASGI middleware: only requests with this DATA_DIR's secret and the local Host name pass."""

    def __init__(self, app: App, secret: str, host: str) -> None:
        self.app, self._secret, self._host = app, secret.encode(), host.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if headers.get(b"host", b"").rsplit(b":", 1)[0] != self._host:
            await _refuse(scope, send, 403, "foreign Host: the store answers only its local clients")
        elif not hmac.compare_digest(headers.get(TOKEN_HEADER, b""), self._secret):
            await _refuse(scope, send, 401, "no or wrong secret: the store answers only its DATA_DIR's processes")
        else:
            await self.app(scope, receive, send)


async def _refuse(scope: Scope, send: Send, status: int, message: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps({"error": "Forbidden" if status == 403 else "Unauthorized", "message": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _hold(lock: Path) -> int:
    """Take the directory's owner lock for the life of this process, or exit 3 naming its holder."""
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"{lock} is held by {lock.read_text(encoding='utf-8').strip()}", flush=True)
        sys.exit(EXIT_LOCKED)
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()}".encode())
    return fd


def _bind(path: Path) -> socket.socket:
    """A Unix socket at `path` that only this user can connect to (a leftover socket file is replaced)."""
    try:
        if stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    umask = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(umask)
    os.chmod(path, 0o600)
    return sock


class _Vector(list):  # type: ignore[type-arg]
    """A vector as the Rust bindings return it (a list), with the `tolist()` chromadb's Python server calls on it."""

    def tolist(self) -> list[float]:
        return list(self)


def _vectors_as_server_expects(api: Any) -> None:
    """chromadb's Python server calls `.tolist()` on each vector its get and query endpoints return, but the
    Rust bindings of chromadb 1.5 return lists (an AttributeError): wrap each in a `_Vector`."""
    get, query = api._get, api._query

    def _get(*args: Any, **kwargs: Any) -> Any:
        result = get(*args, **kwargs)
        if result.get("embeddings") is not None:
            result["embeddings"] = [_Vector(vector) for vector in result["embeddings"]]
        return result

    def _query(*args: Any, **kwargs: Any) -> Any:
        result = query(*args, **kwargs)
        if result.get("embeddings") is not None:
            result["embeddings"] = [[_Vector(vector) for vector in row] for row in result["embeddings"]]
        return result

    api._get, api._query = _get, _query


def _orjson_without_jsonable_encoder() -> None:
    """chromadb's endpoints return plain dicts and lists with no response model, which FastAPI first copies
    value by value through `jsonable_encoder` before its ORJSONResponse dumps them: for a get or query with
    vectors that copy took most of the call. Here such a result (a dict of plain values) goes to orjson as it
    is (orjson reads dicts, lists, numbers, strings and enums natively); anything else, e.g. the collection
    models `list_collections` returns, goes the usual way."""
    import fastapi.routing

    serialize = fastapi.routing.serialize_response

    from pydantic import BaseModel

    async def serialize_response(*, field: Any = None, response_content: Any, **kwargs: Any) -> Any:
        if field is None and isinstance(response_content, dict) and not any(
                isinstance(value, BaseModel) for value in response_content.values()):
            return response_content  # a get's or query's result (a list may hold models: list_collections)
        return await serialize(field=field, response_content=response_content, **kwargs)

    fastapi.routing.serialize_response = serialize_response  # type: ignore[assignment]


def chroma_app(path: Path) -> App:
    """Chroma's HTTP API over the Chroma directory `path` (the same API `chroma run` serves)."""
    import chromadb.config
    from chromadb.server.fastapi import FastAPI

    settings = chromadb.config.Settings(is_persistent=True, persist_directory=str(path), anonymized_telemetry=False,
                                        allow_reset=False)
    _orjson_without_jsonable_encoder()
    server = FastAPI(settings)
    _vectors_as_server_expects(server._api)
    return server.app()  # type: ignore[no-any-return]


def main(argv: Sequence[str] | None = None) -> None:
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # FastAPI's notes on chromadb's use of it
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lock", type=Path, required=True)
    parser.add_argument("--path", type=Path, required=True)
    parser.add_argument("--socket", type=Path, required=True)
    parser.add_argument("--host", required=True, help="the Host name its clients send (one per DATA_DIR)")
    args = parser.parse_args(argv)
    secret = os.environ.pop(SECRET_ENV, "")
    if not secret:
        sys.exit(f"{SECRET_ENV} is not set: the server is started by assistant/store/server.py")
    _hold(args.lock)
    sock = _bind(args.socket)
    import uvicorn

    config = uvicorn.Config(Guard(chroma_app(args.path), secret, args.host), log_level="warning", access_log=False,
                            lifespan="on", timeout_keep_alive=60)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
