"""`ThreadedTransport`: the async client's requests sent over the standard library's HTTP/1.1 connections
(`http.client`), on worker threads.

Why not httpx's own transports: per request, the async stack (httpcore over anyio) cost the most CPU, and httpx's
synchronous transport (httpcore and h11, pure Python) still cost about twice what `http.client` costs for the same
exchange, whose header and body reading is mostly C. Measured on one core against the sandbox, 1,000 pages of
100 Stripe customers, JSON parsing included: `httpx.Client` 0.70-0.75 ms a page, its transport called directly
0.53-0.65 ms, httpcore's pool 0.46-0.58 ms, `http.client` 0.32-0.35 ms. A first sync of 100,000 customers spent
0.5-0.7 s less CPU in all. The async client in front of this transport does everything else as before: auth,
base URL, headers, cookies, timeouts, the decoding of gzip or deflate bodies, and the kit's limits and retries.

What a transport owes the client is kept: every failure is the httpx exception httpx's own transport raises for
it (ConnectTimeout, ReadTimeout, ConnectError, RemoteProtocolError, ...), so the retry table reads them alike;
timeouts come from the request (connect, write and read apart); connections are kept alive and shared by the
workers (the one used last goes out first), and an idle one the server has closed meanwhile is replaced before it
is used (a request that meets a connection closed under it anyway is sent once more on a new one when it is a GET
or HEAD).

TLS: one CA-verifying context per process, made on first use (loading the CA bundle cost 20-40 ms per client);
a client of a plain-HTTP base URL (the sandbox, a local proxy) gets a context that trusts no CA at all, so an https
URL reached anyway fails verification instead of going unverified.

The workers are daemon threads: a request still waiting for its answer when its sync is cancelled runs out on its
own (its timeout bounds it) and never holds up the process's exit.
"""

from __future__ import annotations

import asyncio
import functools
import http.client
import queue
import select
import socket
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import httpx

__all__ = ["ThreadedTransport"]

WORKERS = 8  # requests in flight at once per client; more wait their turn
RESENDABLE = frozenset({"GET", "HEAD", "OPTIONS"})  # sent again once when a kept-alive connection was closed
_CLOSED_UNDER_US = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class _ClosedUnderUs(httpx.RemoteProtocolError):
    """The server closed the connection while the request was being sent or before any of the answer came."""


class ThreadedTransport(httpx.AsyncBaseTransport):
    """`tls=False` for a plain-HTTP base URL; `verify` replaces the TLS context."""

    def __init__(self, *, tls: bool = True, verify: ssl.SSLContext | None = None) -> None:
        self.ssl_context = verify or (verified_context() if tls else refusing_context())
        self._workers = _Workers(WORKERS, "inlet-http")
        self._lock = threading.Lock()
        self._idle: dict[tuple, list[http.client.HTTPConnection]] = {}  # by origin, the last used at the end
        self._busy: set[http.client.HTTPConnection] = set()
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await asyncio.wrap_future(self._workers.submit(self._send, request))

    async def aclose(self) -> None:
        self._workers.stop()
        with self._lock:
            self._closed = True
            connections = [c for idle in self._idle.values() for c in idle] + list(self._busy)
            self._idle.clear()
            self._busy.clear()
        for connection in connections:
            connection.close()

    # -- on a worker thread -----------------------------------------------------------------------------------
    def _send(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout") or {}
        origin = (request.url.scheme, request.url.host, request.url.port)
        for last_try in (False, True):
            connection, reused = self._take(origin, timeouts.get("connect"))
            try:
                response = _exchange(connection, request, timeouts)
            except _ClosedUnderUs:
                self._discard(connection)
                if last_try or not reused or request.method not in RESENDABLE:
                    raise
                continue
            except BaseException:
                self._discard(connection)
                raise
            self._give_back(origin, connection)
            return response
        raise AssertionError("unreachable")

    def _take(self, origin: tuple, connect_timeout: float | None) -> tuple[http.client.HTTPConnection, bool]:
        """An idle kept-alive connection to `origin` (the one used last), else a new one; and whether it served a
        request before. An idle one the server has closed meanwhile (readable: its EOF is waiting) is closed."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the transport is closed")
            idle = self._idle.get(origin) or []
            while idle:
                connection = idle.pop()
                if connection.sock is not None and not _readable(connection.sock):
                    self._busy.add(connection)
                    return connection, True
                connection.close()
            scheme, host, port = origin
            if scheme == "https":
                connection = http.client.HTTPSConnection(host, port or 443, timeout=connect_timeout,
                                                         context=self.ssl_context)
            elif scheme == "http":
                connection = http.client.HTTPConnection(host, port or 80, timeout=connect_timeout)
            else:
                raise httpx.UnsupportedProtocol(f"the URL scheme {scheme!r} is not http or https")
            self._busy.add(connection)
            return connection, False

    def _give_back(self, origin: tuple, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            self._busy.discard(connection)
            if self._closed or connection.sock is None:  # the server said it closes the connection
                connection.close()
                return
            self._idle.setdefault(origin, []).append(connection)

    def _discard(self, connection: http.client.HTTPConnection) -> None:
        connection.close()
        with self._lock:
            self._busy.discard(connection)


def _exchange(connection: http.client.HTTPConnection, request: httpx.Request, timeouts: dict) -> httpx.Response:
    """Send `request` on `connection` and read the whole response; socket failures become httpx's exceptions."""
    body = request.read()
    stage = "connect" if connection.sock is None else "write"
    try:
        if connection.sock is None:
            connection.connect()
        connection.sock.settimeout(timeouts.get("write"))
        stage = "write"
        connection.putrequest(request.method, request.url.raw_path.decode("ascii"), skip_host=True,
                              skip_accept_encoding=True)
        for name, value in request.headers.raw:
            connection.putheader(name, value)
        connection.endheaders(body or None)
        connection.sock.settimeout(timeouts.get("read"))
        stage = "read"
        response = connection.getresponse()
        content = response.read()
    except _CLOSED_UNDER_US as exc:
        if stage == "connect":
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}", request=request) from exc
        raise _ClosedUnderUs(f"the server closed the connection: {type(exc).__name__}: {exc}",
                             request=request) from exc
    except TimeoutError as exc:  # socket.timeout is TimeoutError
        kind = {"connect": httpx.ConnectTimeout, "write": httpx.WriteTimeout}.get(stage, httpx.ReadTimeout)
        raise kind(f"timed out ({stage})", request=request) from exc
    except http.client.HTTPException as exc:  # a malformed status line or headers, a body cut short
        raise httpx.RemoteProtocolError(f"{type(exc).__name__}: {exc}", request=request) from exc
    except OSError as exc:  # refused, unreachable, a TLS failure (ssl.SSLError is an OSError), reset mid-way
        kind = {"connect": httpx.ConnectError, "write": httpx.WriteError}.get(stage, httpx.ReadError)
        raise kind(f"{type(exc).__name__}: {exc}", request=request) from exc
    reason = response.reason.encode("latin-1", "replace") if response.reason else b""
    return httpx.Response(response.status, headers=response.getheaders(), content=content,
                          extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason})


def _readable(sock: socket.socket) -> bool:
    """An idle kept-alive socket is readable only when the server closed it (or sent what it should not)."""
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


@functools.cache
def verified_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def refusing_context() -> ssl.SSLContext:
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies certificates and host names, against no CA


class _Workers:
    """Up to `size` daemon threads taking calls in order; started as calls find no idle one."""

    def __init__(self, size: int, name: str) -> None:
        self._size, self._name = size, name
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._stopped = False

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        with self._lock:
            if self._stopped:
                raise RuntimeError("the transport is closed")
            if self._idle == 0 and len(self._threads) < self._size:
                thread = threading.Thread(target=self._run, name=f"{self._name}-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()
            self._idle -= 1  # this call takes one idle thread, or waits for the first one free
        self._calls.put((future, fn, args))
        return future

    def _run(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            call = self._calls.get()
            if call is None:
                return
            future, fn, args = call
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to the awaiting task, which raises it
                future.set_exception(exc)

    def stop(self) -> None:
        """Idle threads end now, busy ones after their call."""
        with self._lock:
            self._stopped, threads = True, list(self._threads)
        for _ in threads:
            self._calls.put(None)
