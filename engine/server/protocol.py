"""The HTTP/1.1 protocol `inlet serve` speaks: uvicorn's httptools protocol with limits enforced while a request
is parsed, so that an oversized or endless request head is refused before it is buffered, and a client that
never finishes its head cannot hold a connection for long.

- URL over `max_url_bytes` -> 414 `uri_too_long`; header lines over `max_header_bytes` or `max_headers` -> 431
  `headers_too_large`. The URL is counted fragment by fragment as httptools hands it over. httptools gathers a
  header's name and value in full before `on_header` sees them, so the bytes received while a head is still
  open are counted per chunk read as well: a 60 MB header is cut off after the limit plus one read.
- The request line and headers must arrive within `header_timeout`, counted from the connection or from the
  first byte of a later request on it -> 408 `request_timeout`, and the connection is closed.
- Beyond `max_connections` open connections, a new one is answered 503 `too_many_connections` with
  `Retry-After` at once, and closed.

A refusal is JSON (`refusals.error_response`'s shape) and, when part of a request had arrived, a `rejections`
row, made durable before the answer goes out. Then the connection is closed: what the client still sends is
read and dropped for at most LINGER_SECONDS (so that it sees the answer rather than a reset), never parsed;
meanwhile it no longer counts against `max_connections`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httptools
from starlette.responses import Response
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from engine import metrics
from engine.config.models import ServerConfig
from engine.jsonio import dumps
from engine.server.refusals import EXCERPT_BYTES, error_response
from engine.server.tally import Tally, lost_rejections
from engine.store import RejectionIn

LINGER_SECONDS = 2.0  # after a refusal, how long what the client still sends is read and dropped before closing
REQUEST_LINE_BYTES = 64  # the method, version and line ends around the URL, when counting the raw bytes of a head
RETRY_AFTER = "2"  # seconds, for a client turned away at the connection cap
LOG_EVERY = 60.0  # seconds: at most one warning this often about turned-away connections, and about lost rows
PATH_CHARS = 2048  # as refusals.record_refusal keeps of a path

Record = Callable[[RejectionIn], Awaitable[object]]


@dataclass(frozen=True)
class Limits:
    max_url_bytes: int
    max_header_bytes: int
    max_headers: int
    header_timeout: float  # seconds
    max_connections: int

    @classmethod
    def of(cls, server: ServerConfig) -> Limits:
        return cls(max_url_bytes=server.max_url_bytes, max_header_bytes=server.max_header_bytes,
                   max_headers=server.max_headers, header_timeout=server.header_timeout.total_seconds(),
                   max_connections=server.max_connections)


def limited_protocol(limits: Limits, record: Record | None, rows_lost: Tally | None = None) -> type[LimitedProtocol]:
    """The protocol class for `uvicorn.Config(http=...)`, enforcing `limits` and recording refusals with `record`
    (the store writer's `write`); refusals whose row the store could not take count in `rows_lost` (the server's
    InletState.rejections_lost, shown by /status)."""
    return type("InletHttpProtocol", (LimitedProtocol,), {
        "limits": limits, "record": staticmethod(record),
        "turned_away": Tally("%d connection(s) answered 503: server.max_connections (%d) were open; %d since start",
                             every=LOG_EVERY),
        "rows_lost": rows_lost or lost_rejections(),
    })


class _OverLimit(Exception):
    def __init__(self, status: int, reason: str, message: str):
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


class _Parser:
    """httptools' parser, letting a limit raised in one of the protocol's callbacks out as itself: httptools
    wraps it in a parser error, which uvicorn would answer with a plain-text 400. The methods uvicorn calls are
    the parser's own, bound once (a `__getattr__` fallback cost ~2 us per call, a failed lookup each time)."""

    __slots__ = ("_feed", "get_http_version", "get_method", "set_dangerous_leniencies", "should_keep_alive",
                 "should_upgrade")

    def __init__(self, parser: httptools.HttpRequestParser):
        self._feed = parser.feed_data
        for name in self.__slots__[1:]:
            setattr(self, name, getattr(parser, name))

    def feed_data(self, data: bytes) -> None:
        try:
            self._feed(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _OverLimit):
                raise exc.__context__ from None
            raise


class LimitedProtocol(HttpToolsProtocol):
    limits: Limits
    record: Record | None = None
    turned_away: Tally  # connections answered 503 at the cap
    rows_lost: Tally  # refusals whose row the store could not take

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.parser = _Parser(self.parser)
        self._head_timer: asyncio.TimerHandle | None = None
        self._linger: asyncio.TimerHandle | None = None
        self._refused = False  # a refusal is answered (or being answered): what arrives now is dropped
        self._head_open = False  # a request head has begun and is not complete
        self._ended_in_chunk = False  # a request ended in the chunk being parsed
        self._url_bytes = self._header_bytes = self._header_count = self._head_fed = 0
        self._over_name = b""  # the name of the header that broke a limit, for the rejection's excerpt
        self._max_headers, self._max_header_bytes = self.limits.max_headers, self.limits.max_header_bytes

    # -- connections --------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections:
            self._turn_away(transport)
            return
        super().connection_made(transport)
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        super().connection_lost(exc)

    def shutdown(self) -> None:
        if not self._refused:  # a refused request's connection closes once its answer is out
            super().shutdown()

    def _turn_away(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self._refused = True
        self.turned_away.add(self.limits.max_connections)
        message = f"the server has {self.limits.max_connections} connections open, its most; retry shortly"
        self._send_and_close(error_response(503, "too_many_connections", message, {"Retry-After": RETRY_AFTER}))

    # -- reading a request head -----------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._ended_in_chunk = False
        try:
            super().data_received(data)
        except _OverLimit as over:
            self._refuse(over.status, over.reason, over.message)
            return
        if not self._head_open or self._refused or self.transport.is_closing():
            return
        # A head goes on past this chunk (most arrive whole in one, and pay for no timer).
        if not self._ended_in_chunk:  # it began at or before this chunk's start: all of the chunk is head
            self._head_fed += len(data)
        if self._head_fed - self._url_bytes > self.limits.max_header_bytes + REQUEST_LINE_BYTES:
            self._refuse(431, "headers_too_large", self._header_bytes_message())
        elif self._head_timer is None:  # from the chunk its first byte came in
            self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def on_message_begin(self) -> None:
        HttpToolsProtocol.on_message_begin(self)
        self._head_open = True
        self._url_bytes = self._header_bytes = self._header_count = self._head_fed = 0
        self._over_name = b""

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        if self._url_bytes > self.limits.max_url_bytes:
            self.url = (self.url + url[:PATH_CHARS])[:PATH_CHARS]  # the start of it, for the rejection row
            raise _OverLimit(414, "uri_too_long", f"the request URL is over {self.limits.max_url_bytes} bytes")
        HttpToolsProtocol.on_url(self, url)

    def on_header(self, name: bytes, value: bytes) -> None:
        # called for every header line of every request: the parent's methods are called directly, not through
        # super(), and the common case takes one comparison of each count
        self._header_count += 1  # trailers of a chunked body count on after the head
        self._header_bytes += len(name) + len(value) + 4  # ": " and the line end
        if self._header_count > self._max_headers or self._header_bytes > self._max_header_bytes:
            self._over_name = name.lower()
            if self._header_count > self._max_headers:
                raise _OverLimit(431, "headers_too_large",
                                 f"the request has more than {self._max_headers} header lines")
            raise _OverLimit(431, "headers_too_large", self._header_bytes_message())
        HttpToolsProtocol.on_header(self, name, value)

    def on_headers_complete(self) -> None:
        self._head_open = False
        if self._head_timer is not None:
            self._cancel_head_timer()
        HttpToolsProtocol.on_headers_complete(self)

    def on_message_complete(self) -> None:
        self._ended_in_chunk = True
        HttpToolsProtocol.on_message_complete(self)

    def _header_bytes_message(self) -> str:
        return f"the request headers are over {self.limits.max_header_bytes} bytes"

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._refused or self.transport.is_closing():
            return
        seconds = f"{self.limits.header_timeout:g}"
        self._refuse(408, "request_timeout", f"the request line and headers did not arrive within {seconds} s",
                     record=self._head_open)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    # -- refusing -------------------------------------------------------------------------------------------
    def _refuse(self, status: int, reason: str, message: str, *, record: bool = True) -> None:
        """Stop reading this connection; answer `status` once the refusal is recorded, then close."""
        self._refused = True
        self._cancel_head_timer()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:  # an earlier request's answer is not out yet
            if cycle.more_body:
                self.transport.close()  # its body is what broke the limit (trailers): it ends here
            else:
                cycle.keep_alive = False  # its answer goes out, and is the last on this connection
            return
        rejection = self._rejection(status, reason) if record and self.record is not None else None
        if rejection is not None:
            metrics.refused(metrics.UNKNOWN, reason)  # before routing: no source is known
        task = self.loop.create_task(self._answer(rejection, error_response(status, reason, message)))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _answer(self, rejection: RejectionIn | None, response: Response) -> None:
        if rejection is not None:
            try:
                await self.record(rejection)
            except Exception as exc:  # the refusal is answered all the same
                self.rows_lost.add(exc, rejection.status, rejection.reason)
        self._send_and_close(response)

    def _send_and_close(self, response: Response) -> None:
        transport = self.transport
        if transport.is_closing():
            return
        lines = [STATUS_LINE[response.status_code]]
        lines.extend(b"%s: %s\r\n" % pair for pair in (*self.server_state.default_headers, *response.raw_headers))
        lines.append(b"connection: close\r\n\r\n")
        transport.write(b"".join(lines) + response.body)
        if transport.can_write_eof():
            transport.write_eof()  # the answer is complete; the client's own close ends the linger early
        self._linger = self.loop.call_later(LINGER_SECONDS, transport.close)
        self.connections.discard(self)  # closing: it no longer takes a place under the cap

    def _rejection(self, status: int, reason: str) -> RejectionIn:
        """What is known of the refused request: never header values (they may hold credentials), nor the query."""
        headers = self.headers or []
        found = {name: value for name, value in headers if name in (b"user-agent", b"content-type")}
        context = {
            "ip": self.client[0] if self.client else None,
            "user_agent": _text(found.get(b"user-agent"), EXCERPT_BYTES),
            "content_type": _text(found.get(b"content-type"), EXCERPT_BYTES),
        }
        path = self.url.partition(b"?")[0] if self._url_bytes else b""
        names = [name for name, _ in headers] + ([self._over_name] if self._over_name else [])
        excerpt = path if status == 414 else b", ".join(names)  # header names only
        return RejectionIn(
            source_id=None,
            received_us=time.time_ns() // 1000,
            method=self.parser.get_method().decode("ascii", "replace") if self._url_bytes else "",
            path=_text(path, PATH_CHARS) or "",
            status=status,
            reason=reason,
            size=max(self._head_fed, self._url_bytes + self._header_bytes),
            excerpt=_text(excerpt, EXCERPT_BYTES) or "",
            context=dumps(context),
        )


def _text(value: bytes | None, limit: int) -> str | None:
    return value[:limit].decode("latin-1") if value is not None else None
