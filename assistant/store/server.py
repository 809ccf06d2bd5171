"""The local Chroma server that owns DATA_DIR/chroma: found, or started by the first process that needs it.

Chroma's embedded client is single-process, so no two processes may open one Chroma directory.
Instead one `chroma run` server process on 127.0.0.1 owns the directory, and every process (the
chat, each `python -m ingest`, `answer()` in any Python process) connects to it as a client. Its
address and pid are recorded in DATA_DIR/chroma-server.json; the first process that finds no
live server starts one (under a lock, so two processes never start two) and it keeps running
after that process ends. `python -m ingest --server status|start|stop` manages it by hand.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from assistant.infra.locks import file_lock, holder

logger = logging.getLogger(__name__)

INFO_FILE = "chroma-server.json"
LOG_FILE = "chroma-server.log"
START_TIMEOUT = 60.0
OWNER_LOCK = "chroma.lock"
"""Held by whichever process has the Chroma directory open: the server, or an embedded client."""
_EXIT_LOCKED = 3
# The server process: take the owner lock (else exit 3), then run chroma's own CLI with the rest of argv.
_RUN = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print(sys.argv[1] + ' is held by ' + open(sys.argv[1]).read().strip(), flush=True)
    sys.exit(3)
os.ftruncate(fd, 0)
os.write(fd, f'pid {os.getpid()}'.encode())
from chromadb.cli.cli import app
sys.argv = ['chroma'] + sys.argv[2:]
app()
"""


class StoreUnavailable(RuntimeError):
    """The store cannot be opened: the local Chroma server did not start, or another process holds it."""


@dataclass(frozen=True)
class ServerInfo:
    host: str
    port: int
    pid: int
    path: str


def read_info(data_dir: Path) -> ServerInfo | None:
    try:
        return ServerInfo(**json.loads((data_dir / INFO_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by the process that started it) is not a server
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def _answers(host: str, port: int, timeout: float = 2.0) -> bool:
    """The Chroma heartbeat endpoint answers at host:port."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{host}:{port}/api/v2/heartbeat", timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def running(data_dir: Path) -> ServerInfo | None:
    """The live server recorded for this DATA_DIR, or None."""
    info = read_info(data_dir)
    if info is not None and _alive(info.pid) and _answers(info.host, info.port):
        return info
    return None


def _free_port(preferred: int | None) -> int:
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds it
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise StoreUnavailable("no free port on 127.0.0.1 for the Chroma server")


def ensure_server(data_dir: Path) -> ServerInfo:
    """The live local server of DATA_DIR, started now if there is none."""
    data_dir = data_dir.resolve()
    info = running(data_dir)
    if info is not None:
        return info
    with file_lock(data_dir / "chroma-server.lock").hold():
        info = running(data_dir)  # another process may have started it while this one waited
        if info is None:
            info = _start(data_dir, read_info(data_dir))
    return info


def _start(data_dir: Path, previous: ServerInfo | None) -> ServerInfo:
    if previous is not None and _alive(previous.pid):  # recorded but not answering: a hung server
        _terminate(previous.pid)
    if previous is not None:  # the same port keeps the clients of open processes working
        try:
            return _start_on(data_dir, _free_port(previous.port))
        except StoreUnavailable as error:
            if "is open in another process" in str(error):
                raise
            logger.info("could not restart the Chroma server on port %d; taking another", previous.port)
    return _start_on(data_dir, _free_port(None))


def _start_on(data_dir: Path, port: int) -> ServerInfo:
    path = data_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    with open(data_dir / LOG_FILE, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", _RUN, str(data_dir / OWNER_LOCK), "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(path)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "ANONYMIZED_TELEMETRY": "False", "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
        )
    deadline = time.monotonic() + START_TIMEOUT
    while not _answers("127.0.0.1", port, timeout=1.0):
        if process.poll() == _EXIT_LOCKED:
            raise StoreUnavailable(f"{path} is open in another process ({holder(data_dir / OWNER_LOCK)}, "
                              "CHROMA_MODE=embedded): stop it, or use the default CHROMA_MODE=server everywhere")
        if process.poll() is not None or time.monotonic() > deadline:
            _terminate(process.pid)
            raise StoreUnavailable(f"the Chroma server for {path} did not start (see {data_dir / LOG_FILE})")
        time.sleep(0.05)
    info = ServerInfo("127.0.0.1", port, process.pid, str(path))
    temporary = data_dir / f".{INFO_FILE}.{os.getpid()}"
    temporary.write_text(json.dumps(asdict(info)), encoding="utf-8")
    temporary.replace(data_dir / INFO_FILE)
    logger.info("started the Chroma server for %s on 127.0.0.1:%d (pid %d)", path, port, process.pid)
    return info


def _terminate(pid: int, timeout: float = 20.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        try:  # reap it when it is our own child
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


def stop_server(data_dir: Path) -> bool:
    """Stop the recorded server of DATA_DIR; False when none was running."""
    data_dir = data_dir.resolve()
    with file_lock(data_dir / "chroma-server.lock").hold():
        info = read_info(data_dir)
        if info is None or not _alive(info.pid):
            return False
        _terminate(info.pid)
        return True
