"""Shared fixtures: config files on disk, an in-process server on a free port, and `inlet serve` processes."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from engine.config import load_config
from engine.net import free_port as any_free_port
from engine.server.app import create_app
from engine.server.boot import build_state
from engine.server.serve import _Server
from engine.store import store_cursor

ROOT = Path(__file__).resolve().parent.parent
INLET = [sys.executable, "-m", "engine"]

# The servers a test starts take ports in turn from a random start below Linux's ephemeral range (32768 up),
# not the kernel's random free port: that one is, now and then, found free by two xdist workers (or taken by
# an outgoing connection) between the check and the server's bind. Each worker walks its own sequence.
_LOW, _HIGH = 10_000, 32_000
_start = random.SystemRandom().randrange(_LOW, _HIGH)
_PORTS = itertools.cycle([*range(_start, _HIGH), *range(_LOW, _start)])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    for _ in range(1000):
        port = next(_PORTS)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    return any_free_port()


DEFAULT_SOURCES = [
    {"id": "website", "name": "Website", "channel": "web", "bridge": "webhook"},
    {"id": "app", "name": "Mobile app", "channel": "mobile", "bridge": "webhook", "secret": "s3cret-token"},
    {"id": "legacy", "name": "Old site", "channel": "web", "bridge": "webhook", "enabled": False},
]


def write_config(directory: Path, sources=None, **sections) -> Path:
    data = {
        "store": {"path": "inlet.duckdb"},
        "server": {"host": "127.0.0.1", "port": free_port()},
        "sources": DEFAULT_SOURCES if sources is None else sources,
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    path = directory / "inlet.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class InProcessServer:
    """The real app on a real socket, served by uvicorn in a thread; the test can reach its state."""

    def __init__(self, config_path: Path):
        self.config = load_config(config_path)
        self.state = build_state(self.config)
        import uvicorn

        self.server = _Server(uvicorn.Config(create_app(self.state), host="127.0.0.1", port=self.config.server.port,
                                             loop="asyncio", lifespan="on", log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.config.server.port}"

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(15)
        self.state.con.close()

    def sql(self, query: str, params=None, *, flush: bool = True) -> list[tuple]:
        """Query the store once it holds everything acknowledged, as the server's own readers do."""
        if flush:
            writer = self.state.writer
            asyncio.run_coroutine_threadsafe(writer.flush(), writer._loop).result(30)
        cur = store_cursor(self.state.con)
        try:
            return cur.execute(query, params or []).fetchall()
        finally:
            cur.close()


@pytest.fixture
def config_path(tmp_path) -> Path:
    return write_config(tmp_path)


@pytest.fixture
def server(config_path):
    with InProcessServer(config_path) as srv:
        yield srv


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


class ServeProcess:
    """`inlet serve` as a child process, as a user runs it."""

    def __init__(self, config_path: Path):
        self.config_path = config_path
        self.config = load_config(config_path)
        self.url = f"http://127.0.0.1:{self.config.server.port}"
        self.log = config_path.parent / "serve.log"
        self.proc: subprocess.Popen | None = None
        self._http: httpx.Client | None = None

    @property
    def http(self) -> httpx.Client:
        """A client of this server for the test's polling, kept until `stop` (a new one per request costs ~30 ms
        of CPU: its SSL context)."""
        if self._http is None:
            self._http = httpx.Client(base_url=self.url, timeout=10)
        return self._http

    def start(self) -> ServeProcess:
        self.proc = subprocess.Popen([*INLET, "-c", str(self.config_path), "serve", "--log-level", "warning"],
                                     stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, cwd=ROOT)  # noqa: SIM115
        deadline = time.monotonic() + 30
        with httpx.Client(timeout=1) as client:  # one client: each new one costs ~30 ms of CPU (its SSL context)
            while True:
                assert self.proc.poll() is None, f"inlet serve exited: {self.log.read_text()}"
                try:
                    if client.get(f"{self.url}/healthz").status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "inlet serve did not come up"
                time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM) -> int:
        if self._http is not None:
            self._http.close()
            self._http = None
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)


@pytest.fixture
def serve_process(tmp_path):
    """A factory: `serve_process(config_path)` starts `inlet serve`; every one is stopped at the end."""
    started: list[ServeProcess] = []

    def start(config_path: Path | None = None) -> ServeProcess:
        proc = ServeProcess(config_path or write_config(tmp_path)).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop(signal.SIGKILL)


def inlet(*args: str, config: Path | None = None, env=None, check=False, timeout=60) -> subprocess.CompletedProcess:
    """Run the real `inlet` CLI."""
    cmd = [*INLET, *(["-c", str(config)] if config else []), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                            env={**os.environ, **(env or {})})
    if check:
        assert result.returncode == 0, f"{cmd} failed: {result.stderr}"
    return result


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """One `inlet demo` run (about 7 s) and the directory it left, for the tests that only read them. Those tests
    carry `xdist_group("demo")` so that, with `--dist loadgroup`, one worker runs them all and the demo once."""
    directory = tmp_path_factory.mktemp("demo") / "demo"
    return inlet("demo", "--dir", str(directory), timeout=120), directory


@pytest.fixture
def silent_server():
    """A loopback server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()
    for conn in held:
        conn.close()
