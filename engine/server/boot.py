"""Starting a process that holds the store (`inlet serve`, or `inlet sync` when no server runs): the store
opened and recovered into an `InletState` (engine/tuning.py tunes the interpreter). Kept apart from
the HTTP stack, so that a sync run in its own process does not import the server to get here."""

from __future__ import annotations

import time
from pathlib import Path

from engine.config import Config
from engine.server.control import describe_owner, socket_owner, socket_path
from engine.server.state import InletState
from engine.store import StoreError, StoreLockedError, StoreWriter, open_store, spool_dir
from engine.store.sources import mirror_sources

LOCK_WAIT = 10.0  # seconds to wait for a reader of the file (`inlet sql` with no server) to finish


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
