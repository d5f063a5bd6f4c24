"""`inlet serve`: open the store, mirror the sources, then run the HTTP server and the scheduler until
SIGTERM/SIGINT (SIGHUP reloads the config).

uvicorn's graceful shutdown stops accepting connections and lets in-flight requests finish; the app's
lifespan then drains the writer (everything queued is committed) and the store is closed. Oversized request
heads and slow or surplus connections are refused as they come (engine/server/protocol.py).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import resource
import signal
import threading
from pathlib import Path

import uvicorn

from engine import logs, tuning
from engine.config import Config
from engine.server.app import create_app
from engine.server.boot import build_state
from engine.server.protocol import Limits, limited_protocol

log = logging.getLogger("inlet.server")
FILES_BESIDES_CONNECTIONS = 256  # the store, its spool and WAL, the control socket, DuckDB's temp files, ...


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


def build_server(app, config: Config, log_level: str, log_format: str | None = None) -> _Server:
    """The uvicorn server of `inlet serve` for `app` (made by `create_app`): uvloop, httptools, and inlet's
    protocol, which enforces the request-head limits, the header timeout and the connection cap of
    `config.server` and records its refusals through the app's store writer. Logs as `config.logging` says, or
    in `log_format`: uvicorn's lines too, and with JSON each request's lines carry its id."""
    server = config.server
    fmt = log_format or config.logging.format
    return _Server(
        uvicorn.Config(
            logs.with_request_context(app) if fmt == "json" else app,
            host=server.host,
            port=server.port,
            loop="uvloop",
            http=limited_protocol(Limits.of(server), app.state.inlet.writer.write, app.state.inlet.rejections_lost),
            lifespan="on",
            access_log=config.logging.access,
            log_level=log_level,
            # uvicorn's own handlers and format for text lines, as always; none for JSON, so that its loggers
            # (uvicorn.error, uvicorn.access) reach the root handler `logs.setup` installed
            log_config=uvicorn.config.LOGGING_CONFIG if fmt == "text" else None,
            timeout_keep_alive=server.keepalive_timeout.total_seconds(),
            timeout_graceful_shutdown=15,
            server_header=False,
        )
    )


def run_server(app, config: Config, log_level: str, log_format: str | None = None) -> int:
    """Serve `app` as `inlet serve` does (the benchmarks use this too, so they measure the same server)."""
    tuning.for_server()
    allow_files(config.server.max_connections + FILES_BESIDES_CONNECTIONS)
    server = build_server(app, config, log_level, log_format)
    try:
        server.run()
    except SystemExit:  # uvicorn exits this way when it cannot start (the port is taken); it logged why
        return 1
    finally:
        tuning.release()  # let DuckDB's objects be freed before exit, not reported as leaks at interpreter exit
    return 0 if server.started else 1


def allow_files(wanted: int) -> None:
    """Each connection holds a file descriptor: raise the soft limit on open files toward `wanted` (no further
    than the hard limit), so that the connection cap, not a failing accept(), is what turns clients away."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < wanted:
        log.warning("open files are limited to %d: fewer than server.max_connections allows for; "
                    "raise the limit (ulimit -n) or lower server.max_connections", target)


def serve(config: Config, *, log_level: str = "info", config_path: Path | None = None,
          log_format: str | None = None) -> int:
    """`inlet serve`: `log_format` (text or json) overrides the config's `logging.format`."""
    logs.setup(log_format or config.logging.format, log_level)
    state = build_state(config, config_path)
    try:
        code = run_server(create_app(state), config, log_level, log_format)
    finally:
        state.writer.stop()
        state.con.close()
        del state
        gc.collect()
    if code:
        log.error("inlet serve could not start the HTTP server on %s:%s", config.server.host, config.server.port)
    return code
