"""The kit client on the wire, over httpx's own transport and real loopback sockets: kept-alive connections, every
shape of failure as the httpx exception the retry table reads (so retried, or not, as the kit's rules say), the
connect, read and write timeouts, and closed or cancelled connections."""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
import time

import httpx
import pytest

from connectors.kit import BearerToken, SourceClient, TransientError
from connectors.kit.retry import RetryPolicy
from tests.loopback import FullBacklog, ScriptedServer, ok, one_connection


async def no_wait(seconds: float) -> None:
    pass


ONCE = RetryPolicy(max_attempts=1)
TWICE = RetryPolicy(max_attempts=2, sleep=no_wait)


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def paths(server: ScriptedServer) -> list[bytes]:
    return [request.split(b" ")[1] for request in server.requests]


async def test_one_kept_alive_connection_carries_every_request():
    server = ScriptedServer([ok(b'{"n": 1}'), ok(b'{"n": 2}'), ok(b'{"n": 3}')])
    async with SourceClient("billing", server.url, BearerToken("sk_test_1")) as client:
        got = [(await client.get_json("/v1/customers", {"limit": 2}, object_name="customers"))["n"]
               for _ in range(2)]
        posted = await client.post_form("/v1/customers", {"email": "a@example.com"}, object_name="customers")
    server.close()
    assert got == [1, 2] and posted == {"n": 3}
    assert server.connections == 1
    first, _, third = (request.lower() for request in server.requests)
    assert first.startswith(b"get /v1/customers?limit=2 http/1.1\r\n")
    assert b"\r\nauthorization: bearer sk_test_1\r\n" in first and b"\r\nhost: 127.0.0.1:" in first
    assert b"\r\naccept: application/json\r\n" in first
    assert third.startswith(b"post /v1/customers http/1.1\r\n") and third.endswith(b"\r\n\r\nemail=a%40example.com")


async def test_gzip_and_chunked_bodies_are_decoded():
    packed = gzip.compress(b'{"data": [1, 2, 3]}')
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n"
    server = ScriptedServer([ok(packed, "Content-Encoding: gzip"), chunked])
    async with SourceClient("billing", server.url) as client:
        assert await client.get_json("/a", object_name="customers") == {"data": [1, 2, 3]}
        assert await client.get_json("/b", object_name="customers") == {"a": 1}
    server.close()
    assert b"accept-encoding: gzip" in server.requests[0].lower()


async def test_an_answer_that_closes_its_connection_is_read_whole_and_the_connection_not_reused():
    until_close = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"until\": \"close\"}"  # no length: ends with it
    server = ScriptedServer([(until_close,), ok(b'{"n": 2}')])
    async with SourceClient("billing", server.url) as client:
        assert await client.get_json("/a", object_name="customers") == {"until": "close"}
        assert await client.get_json("/b", object_name="customers") == {"n": 2}
        assert client.requests == 2
    server.close()
    assert server.connections == 2


async def test_an_idle_connection_the_server_closed_is_replaced_before_use():
    server = ScriptedServer([ok(b"1")])  # answers once, then closes the connection while it is idle
    async with SourceClient("billing", server.url) as client:
        assert await client.get_json("/a", object_name="customers") == 1
        await asyncio.sleep(0.2)  # the server's side is closed by now
        server.answers = [ok(b"2")]
        assert await client.get_json("/b", object_name="customers") == 2
        assert client.requests == 2  # no request was lost on the closed one, none was sent twice
    server.close()
    assert server.connections == 2 and paths(server) == [b"/a", b"/b"]


async def test_a_get_meeting_a_stale_kept_alive_connection_is_retried_and_a_post_is_not():
    # the server reads the second request on the kept-alive connection, then closes it without a word
    server = ScriptedServer([ok(b"1"), None, ok(b"2")])
    async with SourceClient("billing", server.url, retry_policy=TWICE) as client:
        assert await client.get_json("/a", object_name="customers") == 1
        assert await client.get_json("/b", object_name="customers") == 2  # again, on a new connection
        assert client.requests == 3
    server.close()
    assert server.connections == 2 and paths(server) == [b"/a", b"/b", b"/b"]

    server = ScriptedServer([ok(b"1"), None, ok(b"2")])
    async with SourceClient("billing", server.url, retry_policy=TWICE) as client:
        assert await client.get_json("/a", object_name="customers") == 1
        with pytest.raises(TransientError, match="RemoteProtocolError") as closed:  # it may have run: not again
            await client.post_form("/b", {"x": "1"}, object_name="customers")
        assert closed.value.status is None and closed.value.attempts == 1
        assert await client.get_json("/c", object_name="customers") == 2
    server.close()
    assert paths(server) == [b"/a", b"/b", b"/c"]


async def test_broken_answers_and_refused_connections_are_retriable_transport_errors():
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    port = refused.getsockname()[1]
    refused.close()  # nothing listens there now
    cut_short = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"a\""
    garbage = b"HTTP/1.1 abc\r\n\r\n"
    server = ScriptedServer([(cut_short,), (garbage,)])
    async with SourceClient("billing", f"http://127.0.0.1:{port}", retry_policy=TWICE) as client:
        with pytest.raises(TransientError, match="ConnectError") as failed:
            await client.get_json("/x", object_name="customers")
        assert failed.value.attempts == 2 and client.requests == 2
    async with SourceClient("billing", server.url, retry_policy=ONCE) as client:
        with pytest.raises(TransientError, match="RemoteProtocolError"):
            await client.get_json("/cut", object_name="customers")
        with pytest.raises(TransientError, match="RemoteProtocolError"):
            await client.get_json("/garbage", object_name="customers")
    server.close()


async def test_a_connect_that_never_completes_is_a_connect_timeout():
    backlog = FullBacklog()
    try:
        async with SourceClient("billing", backlog.url, timeout=httpx.Timeout(30, connect=0.3),
                                retry_policy=TWICE) as client:
            started = time.monotonic()
            with pytest.raises(TransientError, match="ConnectTimeout") as failed:
                await client.get_json("/x", object_name="customers")
            assert time.monotonic() - started < 10 and failed.value.attempts == 2
    finally:
        backlog.close()


async def test_an_answer_that_never_comes_is_a_read_timeout_and_retried(silent_server):
    async with SourceClient("billing", silent_server, timeout=0.3, retry_policy=TWICE) as client:
        with pytest.raises(TransientError, match="ReadTimeout") as failed:
            await client.get_json("/never", object_name="customers")
    assert failed.value.attempts == 2 and failed.value.status is None


async def test_the_read_timeout_bounds_each_wait_not_the_whole_answer():
    # the body trickles in over ~0.9 s, a piece every 0.15 s: a 0.5 s read timeout is never hit
    def trickle(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n")
        for piece in b'"abcdef"':
            time.sleep(0.12)
            conn.sendall(bytes([piece]))

    url, server = one_connection(trickle)
    try:
        async with SourceClient("billing", url, timeout=0.5, retry_policy=ONCE) as client:
            assert await client.get_json("/slow", object_name="customers") == "abcdef"
    finally:
        server.close()


async def test_a_body_the_server_does_not_take_in_time_is_a_write_timeout(silent_server):
    # the server never reads: the socket's buffers fill, the rest waits in ours past the write timeout
    async with SourceClient("billing", silent_server, timeout=httpx.Timeout(30, write=0.3)) as client:
        started = time.monotonic()
        with pytest.raises(TransientError, match="WriteTimeout"):
            await client.post_json("/upload", {"blob": "x" * (64 << 20)}, object_name="customers")
        assert time.monotonic() - started < 10


async def test_a_request_cancelled_while_it_waits_closes_its_connection():
    closed = threading.Event()

    def hold(conn: socket.socket) -> None:  # read the request, never answer, see the client hang up
        conn.recv(65536)
        conn.settimeout(10)
        try:
            if conn.recv(65536) == b"":
                closed.set()
        except OSError:
            pass

    url, server = one_connection(hold)
    try:
        async with SourceClient("billing", url, timeout=30) as client:
            request = asyncio.create_task(client.get_json("/never", object_name="customers"))
            await asyncio.sleep(0.2)
            request.cancel()
            with pytest.raises(asyncio.CancelledError):
                await request
            # nothing half-read is left for reuse: the connection is closed now, not when the client is
            assert await asyncio.to_thread(closed.wait, 5)
    finally:
        server.close()
