"""The local store server is this DATA_DIR's alone (issue 19): it never signals a stranger, never serves
another DATA_DIR, refuses other users, other Hosts and requests without the secret, ignores proxy
variables, and a dead, stopped or wedged server is replaced by whichever process next needs it.

Every test starts real processes: `python -m ingest`, the server, `sleep` as the stranger, and
`runuser -u nobody` as another local user.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_many_processes import _env, _ingest, _within
from test_ui import OpenApp, ask, assistant_messages, open_app, rendered, writable_store  # noqa: F401  (fixtures)

from assistant.store.client import local_client
from assistant.store.server import INFO_FILE, ServerInfo, host_name, read_info, running, secret, socket_path

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
VOLCANO = "How close to Grindavik did the lava get?"


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """An unrelated process whose pid a stale record names."""
    process = subprocess.Popen(["sleep", "1000"])
    yield process
    process.kill()
    process.wait()


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder other local users may enter (pytest's own temporary folders are this user's alone)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="newsdesk-guard-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    for data_dir in path.glob("*"):
        if (data_dir / INFO_FILE).exists():
            _stop(data_dir)
    shutil.rmtree(path, ignore_errors=True)


def _record(data_dir: Path, pid: int) -> None:
    """A server record as a stale file leaves it: the pid is now someone else's."""
    info = read_info(data_dir.resolve())
    record = {"pid": pid, "path": str(data_dir.resolve() / "chroma"), "socket": str(socket_path(data_dir)),
              "host": host_name(data_dir)} if info is None else {**info.__dict__, "pid": pid}
    (data_dir / INFO_FILE).write_text(json.dumps(record), encoding="utf-8")


def _stop(data_dir: Path) -> None:
    info = read_info(data_dir.resolve())
    if info is not None and running(data_dir) is not None:
        os.kill(info.pid, signal.SIGKILL)
        _within(10, lambda: running(data_dir) is None)


def test_a_stale_record_naming_a_live_stranger_never_signals_it(tmp_path: Path, fixtures_dir: Path,
                                                                stranger: subprocess.Popen[bytes]) -> None:
    data_dir = tmp_path / "data"
    assert _ingest(data_dir, str(fixtures_dir / "volcano.txt")).returncode == 0
    _stop(data_dir)
    _record(data_dir, stranger.pid)
    listed = _ingest(data_dir, "--list")
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == 1
    stopped = _ingest(data_dir, "--server", "stop")  # the new, real server is stopped; the stranger lives on
    assert stopped.returncode == 0 and stopped.stdout.strip() == "stopped"
    _record(data_dir, stranger.pid)
    assert _ingest(data_dir, "--server", "stop").stdout.strip() == "no Chroma server was running"
    time.sleep(0.5)
    assert stranger.poll() is None, "the unrelated process was signalled"


def _nobody(*command: str, env: dict[str, str] | None = None, read_all: bool = False) -> subprocess.CompletedProcess[str]:
    """`command` as the local user nobody. `read_all`: allowed to read every file (CAP_DAC_READ_SEARCH and
    nothing else), so that it can run this venv's Python, which lives in root's home."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.fail("the other-user tests run as root with setpriv (CI and the developers' machines are root)")
    caps = ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"] if read_all else []
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *caps, *command],
                          capture_output=True, text=True, timeout=300, env=env, cwd=REPO)


def test_as_another_user_a_stale_record_naming_a_stranger_gives_no_traceback(open_dir: Path,
                                                                             stranger: subprocess.Popen[bytes]) -> None:
    data_dir = open_dir / "data"
    data_dir.mkdir()
    shutil.chown(data_dir, "nobody")
    _record(data_dir, stranger.pid)  # root's process: nobody may not signal it
    shutil.chown(data_dir / INFO_FILE, "nobody")
    env = {**_env(data_dir), "HOME": str(data_dir), "XDG_RUNTIME_DIR": str(data_dir)}
    listed = _nobody(sys.executable, "-m", "ingest", "--list", env=env, read_all=True)
    try:
        assert listed.returncode == 0, listed.stderr
        assert "Traceback" not in listed.stderr
        assert stranger.poll() is None
        info = read_info(data_dir)
        assert info is not None and info.pid != stranger.pid
    finally:
        _nobody(sys.executable, "-m", "ingest", "--server", "stop", env=env, read_all=True)


def test_a_copied_data_dir_never_writes_into_the_original(tmp_path: Path, fixtures_dir: Path) -> None:
    original, copy = tmp_path / "data", tmp_path / "data-copy"
    assert _ingest(original, str(fixtures_dir / "volcano.txt"), str(fixtures_dir / "lighthouse.txt")).returncode == 0
    assert running(original) is not None  # its server runs while it is copied, record and socket included
    subprocess.run(["cp", "-a", str(original), str(copy)], check=True)
    [first, *_] = _ingest(original, "--list").stdout.splitlines()
    article_id = first.split("\t")[0]
    assert _ingest(copy, "--delete", article_id).returncode == 0
    assert _ingest(copy, "--purge-trash").returncode == 0
    assert article_id in _ingest(original, "--list").stdout, "the copy's delete reached the original"
    assert article_id not in _ingest(copy, "--list").stdout
    copied, kept = read_info(copy), read_info(original)
    assert copied is not None and kept is not None and copied.pid != kept.pid
    assert running(original) is not None and running(copy) is not None


def _raw(info: ServerInfo, host: str, token: str | None) -> httpx.Response:
    headers = {} if token is None else {"x-newsdesk-token": token}
    with httpx.Client(transport=httpx.HTTPTransport(uds=info.socket), trust_env=False) as client:
        return client.delete(f"http://{host}/api/v2/tenants/default_tenant/databases/default_database/collections/newsdesk",
                             headers=headers, timeout=10)


def test_no_request_without_the_secret_and_the_data_dirs_host_reaches_the_store(open_dir: Path,
                                                                               fixtures_dir: Path) -> None:
    data_dir = open_dir / "data"
    assert _ingest(data_dir, str(fixtures_dir / "volcano.txt")).returncode == 0
    info = running(data_dir)
    assert info is not None
    token = secret(data_dir)
    assert stat.S_IMODE((data_dir / "chroma-secret").stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(info.socket).stat().st_mode) == 0o600
    assert _raw(info, info.host, None).status_code == 401
    assert _raw(info, info.host, "guessed").status_code == 401
    assert _raw(info, "attacker.example", token).status_code == 403  # DNS rebinding: a foreign Host
    assert _raw(info, "localhost", token).status_code == 403
    other = open_dir / "other"
    assert _ingest(other, "--server", "start").returncode == 0  # another DATA_DIR's server: its own Host
    other_info = running(other)
    assert other_info is not None and other_info.host != info.host
    assert _raw(other_info, info.host, secret(other)).status_code == 403
    # the server listens on no TCP port at all, only on its socket
    ports = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True).stdout if shutil.which("ss") else ""
    assert f"pid={info.pid}," not in ports
    # another local user can neither open the socket nor read the secret
    data_dir.chmod(0o755)
    probe = "import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])"
    refused = _nobody("/usr/bin/python3", "-c", probe, info.socket, env={"PATH": "/usr/bin:/bin"})
    assert refused.returncode != 0 and "PermissionError" in refused.stderr
    unread = _nobody("cat", str(data_dir / "chroma-secret"))
    assert unread.returncode != 0
    listed = _ingest(data_dir, "--list")
    assert len(listed.stdout.splitlines()) == 1, "the store was changed"
    _ingest(other, "--server", "stop")


def test_proxy_variables_never_route_the_local_server(tmp_path: Path, fixtures_dir: Path) -> None:
    data_dir = tmp_path / "data"
    assert _ingest(data_dir, str(fixtures_dir / "volcano.txt")).returncode == 0
    before = running(data_dir)
    assert before is not None
    started = time.monotonic()
    proxied = _ingest(data_dir, "--list", http_proxy="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9",
                      all_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9")
    assert proxied.returncode == 0, proxied.stderr
    assert len(proxied.stdout.splitlines()) == 1
    assert time.monotonic() - started < 60
    after = running(data_dir)
    assert after is not None and after.pid == before.pid, "a healthy server was replaced"


@pytest.mark.parametrize("how", ["killed", "stopped"])
def test_an_open_store_replaces_a_dead_or_stopped_server_within_ten_seconds(tmp_path: Path, fixtures_dir: Path,
                                                                             how: str) -> None:
    """As the chat does all day: one process keeps its client; the server is killed or SIGSTOPped."""
    data_dir = tmp_path / "data"
    assert _ingest(data_dir, str(fixtures_dir / "volcano.txt")).returncode == 0
    client = local_client(data_dir)
    collection = client.get_collection("newsdesk")
    count = collection.count()
    info = running(data_dir)
    assert info is not None and count > 0
    os.kill(info.pid, signal.SIGKILL if how == "killed" else signal.SIGSTOP)
    try:
        started = time.monotonic()
        assert collection.count() == count  # the same open client: the server is replaced, the call answered
        assert time.monotonic() - started < 10
        again = running(data_dir)
        assert again is not None and again.pid != info.pid
        if how == "stopped":  # the stopped server was ours: it was ended, not left holding the store
            _within(5, lambda: not Path(f"/proc/{info.pid}").exists()
                    or Path(f"/proc/{info.pid}/stat").read_text().split(") ", 1)[1][:1] == "Z")
    finally:
        if Path(f"/proc/{info.pid}").exists():
            os.kill(info.pid, signal.SIGKILL)


def test_a_server_killed_during_an_ingest_is_replaced_and_the_ingest_completes(tmp_path: Path,
                                                                               fixtures_dir: Path) -> None:
    data_dir = tmp_path / "data"
    assert _ingest(data_dir, "--server", "start").returncode == 0
    info = running(data_dir)
    assert info is not None
    articles = tmp_path / "many.jsonl"
    articles.write_text("".join(json.dumps({"id": f"k{n}", "title": f"Harbour report {n}", "source": "Test Wire",
                                            "published": "2024-05-01",
                                            "text": f"Report {n}. " + "The harbour crane moved cargo all day. " * 60})
                                + "\n" for n in range(40)), encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "ingest", str(articles)], env=_env(data_dir), cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)  # loading the model and embedding
    os.kill(info.pid, signal.SIGKILL)
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "new 40" in out
    assert len(_ingest(data_dir, "--list").stdout.splitlines()) == 40


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 20 MB file system of its own (tmpfs), so the disk can fill without touching the machine's."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mount)], capture_output=True,
                          text=True) if os.geteuid() == 0 else None
    if done is None or done.returncode != 0:
        why = f"cannot mount a 20 MB tmpfs here ({done.stderr.strip() if done else 'not root'})"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    try:
        yield mount
    finally:
        for data_dir in mount.glob("*"):
            if (data_dir / INFO_FILE).exists():
                subprocess.run([sys.executable, "-m", "ingest", "--server", "stop"], env=_env(data_dir), cwd=REPO,
                               capture_output=True, timeout=60)
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_stops_the_ingest_with_one_line_and_a_rerun_after_freeing_space_makes_the_store_exact(
        tmp_path: Path, small_disk: Path) -> None:
    articles = tmp_path / "fifty.jsonl"
    articles.write_text("".join(json.dumps(
        {"id": f"f{n}", "title": f"Harbour report number {n}", "source": "Test Wire", "published": "2024-05-01",
         "text": " ".join(f"Report {n} paragraph {p}: the harbour crane number {p * 7 + n} moved {n * 13 + p} "
                          "containers of grain and steel on the eastern quay today." for p in range(60))}) + "\n"
        for n in range(50)), encoding="utf-8")
    torch = {"EMBEDDING_BACKEND": "torch"}  # no model files in DATA_DIR: the store alone fills the disk
    reference = _ingest(tmp_path / "reference", str(articles), **torch)
    assert reference.returncode == 0, reference.stderr
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (17 << 20))  # 3 MB left: the 50 articles need about 6
    data_dir = small_disk / "data"
    started = time.monotonic()
    full = _ingest(data_dir, str(articles), **torch)
    assert time.monotonic() - started < 300, "the ingest hung on the full disk"
    assert full.returncode == 1
    [line] = full.stderr.strip().splitlines()
    assert line.startswith(f"error: no space left on DATA_DIR ({data_dir.resolve()})"), line
    assert "failed" not in full.stdout, "articles were reported failed, some of which may be stored"
    listed = _ingest(data_dir, "--list")  # the store still answers, no hang, no 'database is locked'
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    filler.unlink()
    again = _ingest(data_dir, str(articles), **torch)
    assert again.returncode == 0, again.stderr
    assert "failed 0" in again.stdout

    def rows(where: Path) -> list[str]:
        return sorted(_ingest(where, "--list").stdout.splitlines())

    assert rows(data_dir) == rows(tmp_path / "reference") and len(rows(data_dir)) == 50


@pytest.mark.parametrize("how", ["killed", "stopped"])
def test_the_open_chat_answers_within_ten_seconds_after_its_server_is_killed_or_stopped(
        open_app: OpenApp, writable_store: Path, how: str) -> None:  # noqa: F811
    at = open_app(writable_store)  # the chat, open in this long-lived process, answers once
    assert "Grindavik" in rendered(assistant_messages(ask(at, VOLCANO))[-1])
    info = running(writable_store)
    assert info is not None
    os.kill(info.pid, signal.SIGKILL if how == "killed" else signal.SIGSTOP)
    try:
        started = time.monotonic()
        answer = rendered(assistant_messages(ask(at, VOLCANO))[-1])
        assert time.monotonic() - started < 10
        assert "Could not open the article store" not in answer and "Grindavik" in answer
        again = running(writable_store)
        assert again is not None and again.pid != info.pid
    finally:
        if Path(f"/proc/{info.pid}").exists():
            os.kill(info.pid, signal.SIGKILL)


def test_every_call_of_the_chroma_client_is_answered_by_the_local_server(tmp_path: Path, fixtures_dir: Path) -> None:
    """The server's faster path for plain results must not break the calls answering with models."""
    data_dir = tmp_path / "data"
    assert _ingest(data_dir, str(fixtures_dir / "volcano.txt")).returncode == 0
    try:
        client = local_client(data_dir)
        names = {collection.name for collection in client.list_collections()}
        assert "newsdesk" in names and "newsdesk_articles" in names
        chunks = client.get_collection("newsdesk")
        found = chunks.get(include=["documents", "metadatas", "embeddings"], limit=2)
        assert len(found["ids"]) == 2 and len(found["embeddings"][0]) == 384
        hits = chunks.query(query_embeddings=[list(found["embeddings"][0])], n_results=2, include=["distances"])
        assert hits["ids"][0][0] == found["ids"][0] and abs(hits["distances"][0][0]) < 1e-4
    finally:
        _stop(data_dir)
