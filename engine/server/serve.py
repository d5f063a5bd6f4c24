"""`inlet serve`: open the store, mirror the sources, then run the HTTP server and the scheduler until
SIGTERM/SIGINT (SIGHUP reloads the config).

uvicorn's graceful shutdown stops accepting connections and lets in-flight requests finish; the app's
lifespan then drains the writer (everything queued is committed) and the store is closed.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import signal
import threading
import time
from pathlib import Path

import uvicorn

from engine.config import Config
from engine.server.app import create_app
from engine.server.control import describe_owner, socket_owner, socket_path
from engine.server.state import InletState
from engine.store import StoreError, StoreLockedError, StoreWriter, open_store, spool_dir
from engine.store.sources import mirror_sources

LOCK_WAIT = 10.0  # seconds to wait for a reader of the file (`inlet sql` with no server) to finish


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its graceful shutdown, so the process dies by the signal; inlet
    drains and then exits 0, as a service manager expects of a clean stop."""

    @contextlib.contextmanager
    def capture_signals(self):
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach the main thread only; an embedding program stops us with should_exit
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


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


def tune_gc() -> None:
    """Keep the cyclic garbage collector off the request path. A full collection walks every long-lived
    object (FastAPI, pydantic, DuckDB and Arrow modules); under load those pauses made up most of the
    p99 latency (tens of ms each, about 9% of the core). Freezing what start-up built takes it out of
    every collection, and a higher first threshold makes collections rarer; short-lived request objects
    are still freed by reference counting as before."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 50, 100)


def run_server(app, config: Config, log_level: str) -> int:
    """Serve `app` as `inlet serve` does (the benchmarks use this too, so they measure the same server)."""
    tune_gc()
    server = _Server(
        uvicorn.Config(
            app,
            host=config.server.host,
            port=config.server.port,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            access_log=False,
            log_level=log_level,
            timeout_graceful_shutdown=15,
            server_header=False,
        )
    )
    try:
        server.run()
    except SystemExit:  # uvicorn exits this way when it cannot start (the port is taken); it logged why
        return 1
    finally:
        gc.unfreeze()  # let DuckDB's objects be freed before exit, not reported as leaks at interpreter exit
    return 0 if server.started else 1


def serve(config: Config, *, log_level: str = "info", config_path: Path | None = None) -> int:
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    state = build_state(config, config_path)
    try:
        code = run_server(create_app(state), config, log_level)
    finally:
        state.writer.stop()
        state.con.close()
        del state
        gc.collect()
    if code:
        logging.getLogger("inlet.server").error("inlet serve could not start the HTTP server on %s:%s",
                                                config.server.host, config.server.port)
    return code
