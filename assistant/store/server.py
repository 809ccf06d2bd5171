"""The local Chroma server that owns DATA_DIR/chroma: found, or started by the first process that needs it.

Chroma's embedded client is single-process, so no two processes may open one Chroma directory.
Instead one server process (assistant/store/server_main.py) owns the directory, and every process (the
chat, each `python -m ingest`, `answer()` in any Python process) connects to it as a client
(assistant/store/client.py). The first process that finds no live server starts one (under a lock, so
two processes never start two) and it keeps running after that process ends.
`python -m ingest --server status|start|stop` manages it by hand.

The server is this DATA_DIR's alone:
- it listens on a Unix socket only this user can open (DATA_DIR/chroma.sock, or a socket named after
  DATA_DIR in a private runtime folder when that path is too long), never on a TCP port;
- every request must carry DATA_DIR/chroma-secret (mode 0600) and the DATA_DIR's own Host name;
- a process is signalled only when it is provably this DATA_DIR's server: this user's process, running
  server_main with this DATA_DIR's Chroma folder on its command line. A recorded pid that is anything
  else (a reused pid, the server of the DATA_DIR this one was copied from) is never signalled: the
  record is stale and is replaced;
- a server that fails a real request within PROBE_TIMEOUT (not only its heartbeat) is replaced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from assistant.infra.locks import file_lock, holder
from assistant.store.errors import StoreUnavailable

__all__ = ["ServerInfo", "StoreUnavailable", "ensure_server", "replace_failing", "running", "stop_server"]

logger = logging.getLogger(__name__)

INFO_FILE = "chroma-server.json"
LOG_FILE = "chroma-server.log"
SECRET_FILE = "chroma-secret"
SOCKET_FILE = "chroma.sock"
OWNER_LOCK = "chroma.lock"
"""Held by whichever process has the Chroma directory open: the server, or an embedded client."""
SERVER_MODULE = "assistant.store.server_main"
START_TIMEOUT = 60.0
PROBE_TIMEOUT = 2.0
"""A live server answers a heartbeat and a read of its catalogue within this many seconds."""
TERM_GRACE = 1.0
"""Seconds a server of ours gets to stop on SIGTERM before SIGKILL (a stopped or wedged one never does)."""
_EXIT_LOCKED = 3
_MAX_SOCKET_PATH = 100  # sockaddr_un holds 108 bytes
_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ServerInfo:
    pid: int
    path: str
    """The Chroma folder it serves."""
    socket: str
    host: str
    """The Host name its clients send and it answers (one per DATA_DIR)."""


def chroma_path(data_dir: Path) -> Path:
    return data_dir.resolve() / "chroma"


def host_name(data_dir: Path) -> str:
    """The DATA_DIR's own Host name: a request meant for another DATA_DIR's server is refused."""
    return f"d{hashlib.sha256(str(chroma_path(data_dir)).encode()).hexdigest()[:16]}.newsdesk.localhost"


def socket_path(data_dir: Path) -> Path:
    """DATA_DIR/chroma.sock; for a long DATA_DIR path, a socket named after it in a private runtime folder."""
    path = data_dir.resolve() / SOCKET_FILE
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    runtime = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / f"newsdesk-{os.getuid()}"
    runtime.mkdir(mode=0o700, exist_ok=True)
    owner = runtime.lstat()
    if owner.st_uid != os.getuid() or stat.S_IMODE(owner.st_mode) & 0o077 or not stat.S_ISDIR(owner.st_mode):
        raise StoreUnavailable(f"{runtime} (the folder for the store's socket) is not this user's private folder")
    return runtime / f"{host_name(data_dir).split('.')[0]}.sock"


def secret(data_dir: Path) -> str:
    """DATA_DIR/chroma-secret, created (readable by this user only) on first use."""
    path = data_dir.resolve() / SECRET_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        found = path.lstat()
        if found.st_uid != os.getuid() or not stat.S_ISREG(found.st_mode):
            raise StoreUnavailable(f"{path} is not a file of this user: remove it") from None
        if stat.S_IMODE(found.st_mode) & 0o077:  # e.g. copied without its mode: readable by others no more
            os.chmod(path, 0o600)
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    value = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(value)
    return value


def read_info(data_dir: Path) -> ServerInfo | None:
    try:
        return ServerInfo(**json.loads((data_dir / INFO_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _process_args(pid: int) -> list[str] | None:
    """The command line of a live, non-zombie process of this user; None for any other."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    uid = fields.get("Uid", "").split()
    if fields.get("State", "").strip().startswith("Z") or not uid or int(uid[0]) != os.getuid():
        return None
    return [arg.decode(errors="replace") for arg in args if arg]


def is_own_server(pid: int, data_dir: Path) -> bool:
    """`pid` is provably the server of this DATA_DIR: this user's process, running server_main with this
    DATA_DIR's Chroma folder. Nothing else is ever signalled."""
    if pid <= 0 or pid == os.getpid():
        return False
    args = _process_args(pid)
    if not args or SERVER_MODULE not in args:
        return False
    try:
        return args[args.index("--path") + 1] == str(chroma_path(data_dir))
    except (ValueError, IndexError):
        return False


def probe(info: ServerInfo, token: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    """None when the server answers its heartbeat and a read of its catalogue within `timeout`; else why not.
    (Plain HTTP over the socket: no CA bundle to load, see client._LocalTransport._transport.)"""
    import httpx

    deadline = time.monotonic() + timeout
    try:
        with httpx.Client(transport=httpx.HTTPTransport(uds=info.socket, verify=False), trust_env=False,
                          headers={"x-newsdesk-token": token}, base_url=f"http://{info.host}") as client:
            for path in ("/api/v2/heartbeat", "/api/v2/tenants/default_tenant/databases/default_database/collections_count"):
                left = max(0.05, deadline - time.monotonic())
                response = client.get(path, timeout=left)
                if response.status_code != 200:
                    return f"{path} answered {response.status_code}"
    except httpx.HTTPError as error:
        return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return None


def running(data_dir: Path) -> ServerInfo | None:
    """The live, answering server recorded for this DATA_DIR, or None."""
    data_dir = data_dir.resolve()
    info = read_info(data_dir)
    if info is None or not is_own_server(info.pid, data_dir) or info.socket != str(socket_path(data_dir)):
        return None
    return info if probe(info, secret(data_dir)) is None else None


def ensure_server(data_dir: Path) -> ServerInfo:
    """The live local server of DATA_DIR, started now if there is none (a failing one is replaced)."""
    data_dir = data_dir.resolve()
    info = running(data_dir)
    if info is not None:
        return info
    with file_lock(data_dir / "chroma-server.lock").hold():
        info = running(data_dir)  # another process may have started it while this one waited
        if info is None:
            info = _start(data_dir, read_info(data_dir))
    return info


def replace_failing(data_dir: Path, failed: ServerInfo | None) -> ServerInfo:
    """Called by a client whose request to `failed` went unanswered: the server now serving DATA_DIR,
    a new one when `failed` is still recorded and fails its probe (it is stopped first, being ours)."""
    data_dir = data_dir.resolve()
    with file_lock(data_dir / "chroma-server.lock").hold():
        current = read_info(data_dir)
        if current is not None and is_own_server(current.pid, data_dir) and current.socket == str(socket_path(data_dir)):
            why = probe(current, secret(data_dir))
            if why is None:
                return current
            if failed is None or current.pid == failed.pid:
                logger.warning("the Chroma server of %s (pid %d) fails its requests (%s): replacing it",
                               current.path, current.pid, why)
        return _start(data_dir, current)


def _start(data_dir: Path, previous: ServerInfo | None) -> ServerInfo:
    if previous is not None and is_own_server(previous.pid, data_dir):  # recorded and ours, but not answering
        _terminate(previous.pid)
    elif previous is not None:
        logger.info("%s names pid %d, which is not this DATA_DIR's server: a stale record, replaced",
                    data_dir / INFO_FILE, previous.pid)
    return _start_server(data_dir)


def _start_server(data_dir: Path) -> ServerInfo:
    path = chroma_path(data_dir)
    path.mkdir(parents=True, exist_ok=True)
    token, sock, host = secret(data_dir), socket_path(data_dir), host_name(data_dir)
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "NEWSDESK_CHROMA_SECRET": token,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")]))}
    for proxy in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env.pop(proxy, None)
    with open(data_dir / LOG_FILE, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", SERVER_MODULE, "--lock", str(data_dir / OWNER_LOCK), "--path", str(path),
             "--socket", str(sock), "--host", host],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env,
            cwd=str(data_dir),
        )
    info = ServerInfo(process.pid, str(path), str(sock), host)
    deadline = time.monotonic() + START_TIMEOUT
    while probe(info, token, timeout=1.0) is not None:
        code = process.poll()
        if code == _EXIT_LOCKED:
            raise StoreUnavailable(f"{path} is open in another process ({holder(data_dir / OWNER_LOCK)}, "
                                   "CHROMA_MODE=embedded): stop it, or use the default CHROMA_MODE=server everywhere")
        if code is not None or time.monotonic() > deadline:
            _terminate(process.pid)
            raise StoreUnavailable(f"the Chroma server for {path} did not start (see {data_dir / LOG_FILE})")
        time.sleep(0.05)
    temporary = data_dir / f".{INFO_FILE}.{os.getpid()}"
    temporary.write_text(json.dumps(asdict(info)), encoding="utf-8")
    temporary.replace(data_dir / INFO_FILE)
    logger.info("started the Chroma server for %s on %s (pid %d)", path, sock, process.pid)
    return info


def _terminate(pid: int) -> None:
    """Stop a server of ours: SIGTERM, SIGKILL after TERM_GRACE (a stopped or wedged server never exits on
    SIGTERM), then wait until it is gone, so its owner lock is free for the next one."""
    for sig, wait in ((signal.SIGTERM, TERM_GRACE), (signal.SIGKILL, 10.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:  # reap it when it is our own child
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return
            except ChildProcessError:
                pass
            if _process_args(pid) is None:
                return
            time.sleep(0.02)


def stop_server(data_dir: Path) -> bool:
    """Stop the recorded server of DATA_DIR; False when none of this DATA_DIR's was running."""
    data_dir = data_dir.resolve()
    with file_lock(data_dir / "chroma-server.lock").hold():
        info = read_info(data_dir)
        if info is None or not is_own_server(info.pid, data_dir):
            return False
        _terminate(info.pid)
        return True
