"""Looking into a test's store from outside: read-only queries once no process holds it, queries through a
running server, and, while `inlet sync` runs, counts through its control socket, to kill it -9 at a chosen
point."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

import duckdb
import orjson

from engine.access import StoreAccess
from engine.config import load_config
from engine.server.control import socket_path
from tests.conftest import INLET, ROOT
from tests.sandbox_api import Faults


def store(config: Path, query: str) -> list[tuple]:
    with duckdb.connect(str(config.parent / "inlet.duckdb"), read_only=True) as con:
        return con.execute(query).fetchall()


def served(config: Path, query: str) -> list[tuple]:
    """Rows as `inlet sql` reads them (through the running server's control socket, else from the file
    read-only), with values as its JSON output has them, without starting a process (~0.7 s of CPU) per read."""
    with StoreAccess.open(load_config(config)) as access:
        _, _, chunks = access.query(query)
        return [tuple(row) for chunk in chunks for row in chunk]


def events(config: Path) -> Counter:
    """Events per event type."""
    return Counter(dict(store(config, "SELECT event_type, count(*) FROM events GROUP BY 1")))


def control_count(config: Path, query: str) -> int | None:
    """A number from the running sync's own control socket, or None while it is not answering."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(str(socket_path(config.parent / "inlet.duckdb")))
            s.sendall(orjson.dumps({"op": "sql", "query": query}) + b"\n")
            answers = [orjson.loads(line) for line in s.makefile("rb")]
    except OSError:
        return None
    rows = [r for a in answers for r in a.get("rows", [])]
    return rows[0][0] if rows else None


def sync_killed_at(config: Path, source_id: str, query: str, at_least: int, timeout: float = 90, *,
                   hold: tuple[Faults, str, int] | None = None) -> None:
    """Start `inlet sync SOURCE_ID`, kill -9 it once `query` (through its control socket) reaches `at_least`.

    The count is seen some time after it is reached (the sync answers between its own work), longer the busier
    the machine, while the sync goes on. `hold=(api.faults, path, n)` bounds that: the requests to `path` after
    its first n wait until the kill, so the kill lands before the sync gets past them however late the count
    is seen. (n must let the sync reach `at_least`.)"""
    if hold is not None:
        faults, path, after = hold
        faults.hold(path, after)
    proc = subprocess.Popen([*INLET, "-c", str(config), "sync", source_id], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while True:
            assert proc.poll() is None, f"the sync ended before the kill point: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "the kill point was never reached"
            n = control_count(config, query)
            if n is not None and n >= at_least:
                break
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        if hold is not None:
            hold[0].release()
