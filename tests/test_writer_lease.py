"""Several app machines against one Chroma server (CHROMA_HOST), each with its own DATA_DIR: one writes at a
time (assistant/store/writer_lease.py). Real processes against a real `chroma run` server on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import chromadb
import pytest
from test_chroma_server import chroma_server  # noqa: F401  (fixture)

from assistant.config import Settings
from assistant.store.chunk_store import build_store

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
ARTICLE = """Quillmore Ferry Service Resumes
Source: Valley Post
Published: 2024-04-02

The ferry between Quillmore and Tansey Island resumed on Monday after six weeks of repairs to the harbour wall.
The first crossing carried 212 passengers, and the operator said the timetable would return in full.
"""


def _machine(data_dir: Path, port: int, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """`python -m ingest ARGS` on an app machine of DATA_DIR whose store is the server at CHROMA_HOST."""
    env = {**os.environ, "DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1",
           "CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": str(port), **extra}
    return subprocess.run([sys.executable, "-m", "ingest", "-q", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=600)


def test_a_second_machine_waits_for_the_writer_and_refuses_with_one_line_while_it_writes(
        chroma_server: int, tmp_path: Path) -> None:  # noqa: F811
    first, second = tmp_path / "machine-a", tmp_path / "machine-b"
    story = tmp_path / "ferry.txt"
    story.write_text(ARTICLE, encoding="utf-8")
    added = _machine(first, chroma_server, str(story))
    assert added.returncode == 0 and "new 1" in added.stdout, added.stderr
    [article_id] = [row.split("\t")[0] for row in _machine(second, chroma_server, "--list").stdout.splitlines()]

    # Machine A writes for a long time (it holds its write lock, and so the lease, in this process).
    store = build_store(Settings(data_dir=first, chroma_host="127.0.0.1", chroma_port=chroma_server,
                                 _env_file=None), check_vectors=False)  # type: ignore[call-arg]
    writing, done = threading.Event(), threading.Event()

    def long_write() -> None:
        with store.writing():
            writing.set()
            done.wait(120)

    writer = threading.Thread(target=long_write)
    writer.start()
    try:
        assert writing.wait(60)
        started = time.monotonic()
        refused = _machine(second, chroma_server, "--delete", article_id, WRITER_LEASE_WAIT="2")
        assert refused.returncode == 1, f"machine B deleted while machine A was writing: {refused.stdout}"
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1, refused.stderr
        line = lines[0]
        assert line.startswith("error: writes refused: another app machine is writing to this store (host "
                               f"{socket.gethostname()}, pid {os.getpid()}, DATA_DIR {first.resolve()}, until "), line
        assert "WRITER_LEASE_SECONDS" in line
        listed = _machine(second, chroma_server, "--list")  # reading is never refused
        assert listed.returncode == 0 and article_id in listed.stdout
        assert time.monotonic() - started < 120
    finally:
        done.set()
        writer.join(60)

    # Machine A stopped writing: B's delete waits for the lease to lapse (a few seconds), then goes through.
    deleted = _machine(second, chroma_server, "--delete", article_id)
    assert deleted.returncode == 0 and "deleted 1" in deleted.stdout, deleted.stderr
    assert _machine(first, chroma_server, "--list").stdout.strip() == ""


def test_two_machines_claiming_at_once_one_holds_the_lease(chroma_server: int, tmp_path: Path) -> None:  # noqa: F811
    from assistant.store.writer_lease import WriterBusy, WriterLease

    client = chromadb.HttpClient(host="127.0.0.1", port=chroma_server)
    leases = [WriterLease(client, "newsdesk", tmp_path / name, seconds=30, wait=1) for name in ("a", "b", "c")]
    holding: list[str] = []
    refused: list[str] = []
    start = threading.Barrier(len(leases))

    def claim(lease: WriterLease) -> None:
        start.wait()
        try:
            with lease.hold():
                holding.append(lease.machine())
                time.sleep(3)  # longer than the others' wait
        except WriterBusy:
            refused.append(lease.machine())

    threads = [threading.Thread(target=claim, args=(lease,)) for lease in leases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(holding) == 1 and len(refused) == 2, (holding, refused)
    current = leases[0].current()
    assert current is not None and current.machine == holding[0]
    assert current.expires - time.time() <= 5.5, "a lease lapses soon after its holder stops writing"
