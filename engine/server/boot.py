"""Starting a process that holds the store (`inlet serve`, or `inlet sync` when no server runs): the store
opened and recovered into an `InletState`, the garbage collector and the Arrow allocator tuned. Kept apart from
the HTTP stack, so that a sync run in its own process does not import the server to get here."""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

import pyarrow as pa

from engine.config import Config
from engine.server.control import describe_owner, socket_owner, socket_path
from engine.server.state import InletState
from engine.store import StoreError, StoreLockedError, StoreWriter, open_store, spool_dir
from engine.store.sources import mirror_sources

LOCK_WAIT = 10.0  # seconds to wait for a reader of the file (`inlet sql` with no server) to finish
SWITCH_INTERVAL = 0.0005  # seconds a thread may hold the GIL while another waits for it (Python's default: 0.005)


def build_state(config: Config, config_path: Path | None = None) -> InletState:
    sock = socket_path(config.store.path)
    owner = socket_owner(sock) if sock.exists() else None
    if owner is not None:
        raise StoreError(f"{describe_owner(owner)}: {config.store.path} (its socket is {sock})")
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            con = open_store(config.store.path, memory_limit=config.store.memory_limit)
            break
        except StoreLockedError:
            if time.monotonic() > deadline:  # not a short `inlet sql` reading the file: give up clearly
                raise
            time.sleep(0.2)
    mirror_sources(con, config)
    writer = StoreWriter(con, spool_dir(config.store.path))
    state = InletState(config=config, con=con, writer=writer, config_path=config_path)
    writer.recover()  # events acknowledged before a crash, still in the spool, go in before anything else
    return state


def tune_memory() -> None:
    """Arrow's buffers from the C library's allocator instead of the mimalloc bundled with pyarrow, which keeps
    freed pages for reuse. The Arrow tables the store writer builds live for one transaction; the retained pages
    were ~19 MB of a first sync's peak RSS (bench/pull.py), at no measurable cost in time."""
    pa.set_memory_pool(pa.system_memory_pool())


def tune_gc() -> None:
    """Keep the cyclic garbage collector off the request path. A full collection walks every long-lived
    object (FastAPI, pydantic, DuckDB and Arrow modules); under load those pauses made up most of the
    p99 latency (tens of ms each, about 9% of the core). Freezing what start-up built takes it out of
    every collection, and a higher first threshold makes collections rarer; short-lived request objects
    are still freed by reference counting as before. No full collection before the freeze: at that point it found
    ~15 unreachable objects among ~50,000 and took 20-25 ms of every `inlet sync`'s start."""
    gc.freeze()
    gc.set_threshold(10_000, 50, 100)


def tune_switching() -> None:
    """Hand the GIL over sooner in a process that syncs. DuckDB's Python client takes the GIL back between the
    small tasks a statement runs as (to check for Ctrl-C), and each time a busy Python thread holds it, the store
    writer's thread waits out the rest of that thread's switch interval. Measured on two cores: 100,000 Stripe
    customers applied and committed took 1.7 s alone, 11.7 s beside a thread running Python at the default 5 ms,
    and 2.0 s at 0.2 ms; a whole `inlet sync` of them, unpinned, took 5-21% less wall time at 0.5 ms than at 5 ms
    (four pairs of runs), and on one core no measurable difference either way. `inlet serve` keeps Python's
    default: at 0.5 ms its collect path answered 20-25% fewer requests per second (bench/collect.py, two pairs of
    runs: 7,016-7,045 against 8,839-9,490 events/s), its request handling being the busy thread then."""
    sys.setswitchinterval(SWITCH_INTERVAL)
