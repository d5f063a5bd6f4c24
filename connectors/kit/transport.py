"""`LoopTransport`: the async client's requests sent over HTTP/1.1 connections of the event loop itself, their
answers read by httptools (the C parser of llhttp, which uvicorn serves with).

Why not httpx's own async transport: per request, httpcore over anyio (and h11, pure Python) cost the most CPU of
everything we measured. The kit's previous transport sent over the standard library's `http.client` on worker
threads: its reading is C, but handing every request to a thread and its answer back to the loop cost as much
again. Measured on one core, 1,000 pages of 100 Stripe customers from the sandbox through `SourceClient.pages`
(JSON parsing included, three interleaved runs each): worker threads with `http.client` 0.70-0.94 s of CPU, this
transport 0.47-0.56 s; a bare loop of the same requests on one asyncio connection 0.28-0.37 s. The client in front
does everything else as before: auth, base URL, headers, cookies, timeouts, the decoding of gzip or deflate
bodies, and the kit's limits and retries.

What a transport owes the client is kept: every failure is the httpx exception httpx's own transport raises for
it (ConnectError, ConnectTimeout, ReadTimeout, WriteTimeout, RemoteProtocolError, ...), so the retry table reads
them alike; the connect, write and read timeouts come from the request (the read timeout bounds each wait for more
of the answer, not the whole answer); connections are kept alive per origin (the one used last goes out first).
An idle connection the server closes is dropped as soon as the loop hears of it, and a request that meets one
closed under it anyway is sent once more on a new connection when it is a GET, HEAD or OPTIONS. A connection is
only reused on the event loop that opened it. A request cancelled while it waits closes its connection. A
request body of unknown length (an async iterator) goes out chunked, as its Transfer-Encoding header says.

TLS: one CA-verifying context per process, made on first use (loading the CA bundle cost 20-40 ms per client);
a client of a plain-HTTP base URL (the sandbox, a local proxy) gets a context that trusts no CA at all, so an https
URL reached anyway fails verification instead of going unverified.
"""

from __future__ import annotations

import asyncio
import functools
import ssl

import httptools
import httpx

__all__ = ["LoopTransport", "refusing_context", "verified_context"]

RESENDABLE = frozenset({"GET", "HEAD", "OPTIONS"})  # sent again once when a kept-alive connection was closed
KEEP_IDLE = 8  # kept-alive connections kept per origin; more are closed once their answer is read


class _ClosedUnderUs(httpx.RemoteProtocolError):
    """The server closed the connection while the request was being sent or before any of the answer came."""


class LoopTransport(httpx.AsyncBaseTransport):
    """`tls=False` for a plain-HTTP base URL; `verify` replaces the TLS context."""

    def __init__(self, *, tls: bool = True, verify: ssl.SSLContext | None = None) -> None:
        self.ssl_context = verify or (verified_context() if tls else refusing_context())
        self._idle: dict[tuple, list[_Connection]] = {}  # by origin, the last used at the end
        self._busy: set[_Connection] = set()
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("the transport is closed")
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"the URL scheme {url.scheme!r} is not http or https")
        origin = (url.scheme, url.host, url.port)
        timeouts = request.extensions.get("timeout") or {}
        head = [request.method.encode("ascii"), b" ", url.raw_path, b" HTTP/1.1\r\n"]
        for name, value in request.headers.raw:
            head += (name, b": ", value, b"\r\n")
        body = await request.aread()
        if b"chunked" in request.headers.get("Transfer-Encoding", "").lower().encode():  # a body of unknown length
            body = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
        head += (b"\r\n", body)
        message = b"".join(head)
        for last_try in (False, True):
            connection, reused = await self._take(origin, timeouts.get("connect"), request)
            try:
                answer = await connection.exchange(message, request, timeouts)
            except _ClosedUnderUs:
                self._discard(connection)
                if last_try or not reused or request.method not in RESENDABLE:
                    raise
                continue
            except BaseException:  # cancelled, timed out, or a broken answer: the connection's state is unknown
                self._discard(connection)
                raise
            status, headers, content, reason, version, keep_alive = answer
            self._give_back(origin, connection, keep_alive)
            return httpx.Response(status, headers=headers, content=content,
                                  extensions={"http_version": version, "reason_phrase": reason})
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        self._closed = True
        connections = [c for idle in self._idle.values() for c in idle] + list(self._busy)
        self._idle.clear()
        self._busy.clear()
        for connection in connections:
            connection.close()

    async def _take(self, origin: tuple, connect_timeout: float | None,
                    request: httpx.Request) -> tuple[_Connection, bool]:
        """An idle kept-alive connection to `origin` opened on this loop (the one used last), else a new one; and
        whether it served a request before."""
        loop = asyncio.get_running_loop()
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if connection.usable(loop):
                self._busy.add(connection)
                return connection, True
            connection.close()
        scheme, host, port = origin
        tls = self.ssl_context if scheme == "https" else None
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(_Connection, host, port or (443 if tls else 80), ssl=tls,
                                       server_hostname=host if tls else None),
                connect_timeout)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout("timed out (connect)", request=request) from exc
        except OSError as exc:  # refused, unreachable, no such host, a TLS failure (ssl.SSLError is an OSError)
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}", request=request) from exc
        if self._closed:  # closed while this one was being opened
            connection.close()
            raise RuntimeError("the transport is closed")
        self._busy.add(connection)
        return connection, False

    def _give_back(self, origin: tuple, connection: _Connection, keep_alive: bool) -> None:
        self._busy.discard(connection)
        idle = self._idle.setdefault(origin, [])
        if self._closed or not keep_alive or len(idle) >= KEEP_IDLE:
            connection.close()
            return
        idle.append(connection)

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        self._busy.discard(connection)


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: one request at a time, its answer parsed as it arrives."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future | None = None  # the answer of the request in flight
        self._parser: httptools.HttpResponseParser | None = None
        self._lost = False
        self._writable: asyncio.Future | None = None  # set while the write buffer is over its high-water mark
        self._head_only = False
        self._received = False  # any byte of the answer yet
        self._headers_done = False
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._reason = b""
        self._read_timeout: float | None = None
        self._last_read = 0.0
        self._timer: asyncio.TimerHandle | None = None

    # -- the transport's side -----------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():  # nothing asked for: the server is not speaking HTTP to us
            self.close()
            return
        self._received = True
        if self._read_timeout is not None:
            self._last_read = self._loop.time()
        try:
            self._parser.feed_data(data)  # type: ignore[union-attr]
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"the answer is not HTTP/1.1: {exc}"))

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._stop_timer()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        if self._waiter is None or self._waiter.done():
            return
        if not self._received:
            cause = f": {type(exc).__name__}: {exc}" if exc else ""
            self._fail(_ClosedUnderUs(f"the server closed the connection before answering{cause}"))
        elif self._headers_done and self._delimited_by_close():
            self._finish(keep_alive=False)
        else:
            self._fail(httpx.RemoteProtocolError("the server closed the connection before the whole answer came"))

    def pause_writing(self) -> None:
        self._writable = self._loop.create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    # -- httptools' callbacks -----------------------------------------------------------------------------------
    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._headers_done = True
        if self._head_only and self._parser.get_status_code() >= 200:  # type: ignore[union-attr]
            self._finish(keep_alive=self._parser.should_keep_alive())  # type: ignore[union-attr]  # no body follows

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._waiter is None or self._waiter.done():
            return
        if self._parser.get_status_code() < 200:  # type: ignore[union-attr]  # 100 Continue and the like: wait on
            self._headers, self._body, self._reason, self._headers_done = [], [], b"", False
            return
        self._finish(keep_alive=self._parser.should_keep_alive())  # type: ignore[union-attr]

    # -- the transport's calls ----------------------------------------------------------------------------------
    def usable(self, loop: asyncio.AbstractEventLoop) -> bool:
        return not self._lost and loop is self._loop and not self._transport.is_closing()  # type: ignore[union-attr]

    async def exchange(self, message: bytes, request: httpx.Request, timeouts: dict) -> tuple:
        """Send `message` (the whole request) and wait for the whole answer."""
        self._waiter = waiter = self._loop.create_future()
        self._parser = httptools.HttpResponseParser(self)
        self._head_only = request.method == "HEAD"
        self._received = self._headers_done = False
        self._headers, self._body, self._reason = [], [], b""
        try:
            self._transport.write(message)  # type: ignore[union-attr]
            if self._writable is not None and not self._lost:
                try:
                    await asyncio.wait_for(asyncio.shield(self._writable), timeouts.get("write"))
                except TimeoutError:
                    raise httpx.WriteTimeout("timed out (write)", request=request) from None
            self._read_timeout = timeouts.get("read")
            if self._read_timeout is not None and not waiter.done():
                self._last_read = self._loop.time()
                self._timer = self._loop.call_at(self._last_read + self._read_timeout, self._check_read)
            try:
                return await waiter
            except httpx.TransportError as exc:
                exc.request = request
                raise
        finally:
            self._stop_timer()
            self._waiter = None

    def close(self) -> None:
        if self._transport is not None and not self._loop.is_closed():
            self._transport.close()

    # -- inside -------------------------------------------------------------------------------------------------
    def _finish(self, *, keep_alive: bool) -> None:
        parser = self._parser
        version = b"HTTP/1.0" if parser.get_http_version() == "1.0" else b"HTTP/1.1"  # type: ignore[union-attr]
        self._waiter.set_result((parser.get_status_code(), self._headers, b"".join(self._body),  # type: ignore
                                 self._reason, version, keep_alive))

    def _fail(self, error: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)
        self.close()

    def _delimited_by_close(self) -> bool:
        names = {name.lower() for name, _ in self._headers}
        return b"content-length" not in names and b"transfer-encoding" not in names

    def _check_read(self) -> None:
        due = self._last_read + self._read_timeout  # type: ignore[operator]
        if self._loop.time() >= due:
            self._timer = None
            self._fail(httpx.ReadTimeout("timed out (read)"))
        else:  # more came meanwhile: wait out the rest of the new interval
            self._timer = self._loop.call_at(due, self._check_read)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


@functools.cache
def verified_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def refusing_context() -> ssl.SSLContext:
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies certificates and host names, against no CA
