"""One writing machine at a time: a writer lease kept in Chroma, beside the store it guards.

The store's write lock (assistant/infra/locks.py) is a file lock in DATA_DIR, so it serialises the
processes of one machine only. App machines that share one Chroma server (CHROMA_HOST), each with its
own DATA_DIR, also need each other's writes kept apart: whoever takes the write lock also holds the
store's writer lease, a single record in the collection `<collection>_writer` naming the machine (an
id kept in its DATA_DIR), its host name, the pid and DATA_DIR of the process and when the lease
expires. The holder renews it every third of WRITER_LEASE_SECONDS while it writes (a background
thread: a long write keeps it), and lets it lapse a few seconds after it stops. A process of another
machine that finds a live lease waits up to WRITER_LEASE_WAIT seconds for it, then refuses the write
with one line naming the holder and when the lease lapses. A lease whose holder died lapses by itself.

Chroma has no compare-and-set: a claim writes the record, waits CONFIRM_PAUSE and reads it again; of
two machines that claimed at the same moment, the one whose record was written last holds it and the
other sees that and waits. Clocks of the machines must agree (NTP), as for the change log.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import chromadb

from assistant.store.server import StoreUnavailable

logger = logging.getLogger(__name__)

RECORD_ID = "writer"
CONFIRM_PAUSE = 0.3
"""Seconds between writing a claim and reading it back (longer than any read-to-write gap of a claim)."""
LINGER = 5.0
"""Seconds a lease stays after its holder's last write: the next write of the same machine needs no claim."""
_VECTOR = [1.0]  # the record is read by id, never by similarity


class WriterBusy(StoreUnavailable):
    """Another machine holds the store's writer lease: this write is refused (one line)."""


@dataclass(frozen=True)
class Lease:
    """The lease record: who holds it and until when (seconds since the epoch)."""

    machine: str
    host: str
    pid: int
    data_dir: str
    expires: float

    def live(self, now: float | None = None) -> bool:
        return self.expires > (time.time() if now is None else now)

    def describe(self) -> str:
        until = datetime.fromtimestamp(self.expires, timezone.utc).strftime("%H:%M:%S UTC")
        return f"host {self.host}, pid {self.pid}, DATA_DIR {self.data_dir}, until {until}"


class WriterLease:
    """The writer lease of one store as seen from one DATA_DIR; `hold()` around every write (re-entrant)."""

    def __init__(self, client: chromadb.ClientAPI, collection: str, data_dir: Path, seconds: float = 30.0,
                 wait: float = 10.0) -> None:
        self.client = client
        self.name = f"{collection}_writer"
        self.data_dir = data_dir.resolve()
        self.seconds = seconds
        self.wait = wait
        self._records: Any = None
        self._machine: str | None = None
        self._depth = 0
        self._stop: threading.Event | None = None

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the lease while the block writes; WriterBusy when another machine holds it beyond `wait`.
        The caller holds the store's write lock (so one thread of this machine at a time is here)."""
        if self._depth == 0:
            self._claim()
            self._stop = threading.Event()
            threading.Thread(target=self._renew, args=(self._stop,), name="writer-lease", daemon=True).start()
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0 and self._stop is not None:
                self._stop.set()
                self._stop = None
                try:  # lapses soon: another machine waits at most LINGER once this one stops writing
                    self._write(time.time() + min(LINGER, self.seconds))
                except Exception as error:  # the write itself is done; the lease lapses on its own
                    logger.warning("could not shorten the writer lease (%s)", error)

    def current(self) -> Lease | None:
        """The lease record as stored now (None when there is none)."""
        found = self._collection().get(ids=[RECORD_ID], include=["metadatas"])
        if not found["ids"]:
            return None
        meta = (found["metadatas"] or [{}])[0] or {}
        try:
            return Lease(str(meta["machine"]), str(meta.get("host", "")), int(meta.get("pid", 0)),
                         str(meta.get("data_dir", "")), float(meta["expires"]))
        except (KeyError, TypeError, ValueError):
            return None  # an unreadable record is no lease

    def machine(self) -> str:
        """This DATA_DIR's machine id (made once, kept in DATA_DIR; a copied DATA_DIR gets its own)."""
        if self._machine is None:
            self._machine = _machine_id(self.data_dir)
        return self._machine

    def _claim(self) -> None:
        deadline = time.monotonic() + self.wait
        while True:
            current = self.current()
            now = time.time()
            if current is not None and current.machine == self.machine() and current.expires - now > 1 + CONFIRM_PAUSE:
                self._write(now + self.seconds)  # ours and live: no other machine claims it meanwhile
                return
            if current is None or not current.live(now) or current.machine == self.machine():
                self._write(now + self.seconds)
                time.sleep(CONFIRM_PAUSE)
                current = self.current()
                if current is not None and current.machine == self.machine():
                    return
            if time.monotonic() >= deadline:
                holder = current.describe() if current is not None else "unknown"
                raise WriterBusy(
                    f"writes refused: another app machine is writing to this store ({holder}); one machine writes "
                    f"at a time: try again once its writer lease lapses (WRITER_LEASE_SECONDS after its last "
                    f"write), or write from that machine")
            time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))

    def _renew(self, stop: threading.Event) -> None:
        while not stop.wait(self.seconds / 3):
            try:
                current = self.current()
                if current is not None and current.machine != self.machine() and current.live():
                    logger.error("the writer lease was taken over by %s while this process wrote",
                                 current.describe())
                    return
                self._write(time.time() + self.seconds)
            except Exception as error:
                logger.warning("could not renew the writer lease (%s)", error)

    def _write(self, expires: float) -> None:
        self._collection().upsert(ids=[RECORD_ID], embeddings=[_VECTOR], documents=[""], metadatas=[{
            "machine": self.machine(), "host": socket.gethostname(), "pid": os.getpid(),
            "data_dir": str(self.data_dir), "expires": expires}])

    def _collection(self) -> Any:
        if self._records is None:
            self._records = self.client.get_or_create_collection(self.name)
        return self._records


def _machine_id(data_dir: Path) -> str:
    """The id in DATA_DIR/writer-id.json, made when missing or when it was made for another path (a copy)."""
    path = data_dir / "writer-id.json"
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
        if recorded.get("path") == str(data_dir) and recorded.get("id"):
            return str(recorded["id"])
    except (OSError, ValueError, AttributeError):
        pass
    machine = uuid.uuid4().hex
    data_dir.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=data_dir, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump({"id": machine, "path": str(data_dir)}, file)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return machine
