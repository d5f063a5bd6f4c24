"""The kit's transport on the wire: what it sends, how it reads every shape of answer, and how it meets closed
connections, slow servers, cancellation and event loops."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest

from connectors.kit.transport import LoopTransport
from tests.loopback import ScriptedServer, ok, one_connection


async def test_connections_are_kept_alive_and_headers_and_bodies_go_out_whole():
    server = ScriptedServer([ok(b'{"n": 1}'), ok(b'{"n": 2}'), ok(b'{"n": 3}')])
    async with httpx.AsyncClient(base_url=server.url, transport=LoopTransport(tls=False),
                                 headers={"Authorization": "Bearer t"}) as client:
        got = [(await client.get("/v1/customers", params={"limit": 2})).json()["n"] for _ in range(2)]
        posted = await client.post("/v1/customers", data={"email": "a@example.com"})
    server.close()
    assert got == [1, 2] and posted.json() == {"n": 3}
    assert server.connections == 1  # one connection for the three requests
    first, _, third = server.requests
    assert first.startswith(b"GET /v1/customers?limit=2 HTTP/1.1\r\n")
    assert b"\r\nAuthorization: Bearer t\r\n" in first and b"\r\nHost: 127.0.0.1:" in first
    assert third.startswith(b"POST /v1/customers HTTP/1.1\r\n") and third.endswith(b"\r\n\r\nemail=a%40example.com")


async def test_gzip_and_chunked_bodies_are_decoded():
    import gzip
    packed = gzip.compress(b'{"data": [1, 2, 3]}')
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n"
    server = ScriptedServer([ok(packed, "Content-Encoding: gzip"), chunked])
    async with httpx.AsyncClient(base_url=server.url, transport=LoopTransport(tls=False)) as client:
        assert (await client.get("/a")).json() == {"data": [1, 2, 3]}
        assert (await client.get("/b")).json() == {"a": 1}
    server.close()
    assert b"accept-encoding: gzip" in server.requests[0].lower()


async def test_an_idle_connection_the_server_closed_is_replaced_before_use():
    server = ScriptedServer([ok(b"1")])  # answers once, then closes the connection while it is idle
    async with httpx.AsyncClient(base_url=server.url, transport=LoopTransport(tls=False)) as client:
        assert (await client.get("/a")).text == "1"
        await asyncio.sleep(0.2)  # the server's side is closed by now
        server.answers = [ok(b"2")]
        assert (await client.get("/b")).text == "2"
    server.close()
    assert server.connections == 2 and len(server.requests) == 2  # no request was lost on the closed one


async def test_a_get_meeting_a_connection_closed_under_it_is_sent_once_more_and_a_post_is_not():
    # the server reads the request on the kept-alive connection, then closes it without a word
    server = ScriptedServer([ok(b"1"), None, ok(b"2")])
    async with httpx.AsyncClient(base_url=server.url, transport=LoopTransport(tls=False)) as client:
        assert (await client.get("/a")).text == "1"
        assert (await client.get("/b")).text == "2"  # closed under it, sent again on a new connection
    server.close()
    assert server.connections == 2 and [r.split(b" ")[1] for r in server.requests] == [b"/a", b"/b", b"/b"]

    server = ScriptedServer([ok(b"1"), None, ok(b"2")])
    async with httpx.AsyncClient(base_url=server.url, transport=LoopTransport(tls=False)) as client:
        assert (await client.get("/a")).text == "1"
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post("/b", content=b"x")  # it may have run: the kit's retry policy decides
        assert (await client.get("/c")).text == "2"
    server.close()
    assert [r.split(b" ")[1] for r in server.requests] == [b"/a", b"/b", b"/c"]


async def test_failures_are_httpx_exceptions():
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    port = refused.getsockname()[1]
    refused.close()  # nothing listens there now
    cut_short = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"a\""
    garbage = b"HTTP/1.1 abc\r\n\r\n"
    server = ScriptedServer([(cut_short,), (garbage,)])
    async with httpx.AsyncClient(transport=LoopTransport(tls=False)) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/x")
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(f"{server.url}/cut")
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(f"{server.url}/garbage")
        with pytest.raises(httpx.UnsupportedProtocol):
            await LoopTransport(tls=False).handle_async_request(httpx.Request("GET", "ftp://127.0.0.1/x"))
    server.close()


async def test_answers_without_a_length_a_head_and_an_informational_answer_are_read_right():
    no_length = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"until\": \"close\"}"  # ends with the connection
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nX-Head: yes\r\n\r\n"  # a HEAD's answer has no body
    informational = b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b'{"after": "continue"}')
    server = ScriptedServer([(no_length,), head, informational])
    async with httpx.AsyncClient(base_url=server.url, transport=LoopTransport(tls=False)) as client:
        assert (await client.get("/a")).json() == {"until": "close"}
        headed = await client.head("/b")
        assert headed.status_code == 200 and headed.headers["X-Head"] == "yes" and headed.content == b""
        assert (await client.get("/c")).json() == {"after": "continue"}  # on the HEAD's connection, kept alive
    server.close()
    assert server.connections == 2


async def test_an_answer_that_says_it_closes_the_connection_is_not_kept():
    server = ScriptedServer([ok(b"1", "Connection: close"), ok(b"2")])
    async with httpx.AsyncClient(base_url=server.url, transport=LoopTransport(tls=False)) as client:
        assert (await client.get("/a")).text == "1"
        server.answers.insert(0, ok(b"2"))  # a second connection gets its own first answer
        assert (await client.get("/b")).text == "2"
    server.close()
    assert server.connections == 2


async def test_the_read_timeout_bounds_each_wait_not_the_whole_answer():
    # the body trickles in over ~0.9 s, a piece every 0.15 s: a 0.5 s read timeout is never hit
    def trickle(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n")
        for piece in b"abcdef":
            time.sleep(0.15)
            conn.sendall(bytes([piece]))

    url, server = one_connection(trickle)
    try:
        async with httpx.AsyncClient(transport=LoopTransport(tls=False), timeout=0.5) as client:
            assert (await client.get(f"{url}/slow")).text == "abcdef"
    finally:
        server.close()


async def test_a_request_cancelled_while_it_waits_closes_its_connection(silent_server):
    transport = LoopTransport(tls=False)
    async with httpx.AsyncClient(base_url=silent_server, transport=transport, timeout=30) as client:
        request = asyncio.create_task(client.get("/never"))
        await asyncio.sleep(0.2)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        assert not transport._busy and not any(transport._idle.values())  # nothing left half-read for reuse


def test_a_connection_is_reused_only_on_the_loop_that_opened_it():
    server = ScriptedServer([ok(b"1"), ok(b"2")])
    transport = LoopTransport(tls=False)

    async def get(path: str) -> str:
        return (await transport.handle_async_request(httpx.Request("GET", server.url + path))).content.decode()

    assert asyncio.run(get("/a")) == "1"
    server.answers.insert(0, ok(b"2"))
    assert asyncio.run(get("/b")) == "2"  # a new loop: a new connection, the first loop's one dropped
    server.close()
    assert server.connections == 2


async def test_a_body_of_unknown_length_goes_out_chunked():
    received: list[bytes] = []

    def serve(conn: socket.socket) -> None:
        data = b""
        while not data.endswith(b"0\r\n\r\n"):
            data += conn.recv(65536)
        received.append(data)
        conn.sendall(ok(b"done"))

    async def parts():
        yield b"hello "
        yield b"world"

    url, server = one_connection(serve)
    try:
        async with httpx.AsyncClient(transport=LoopTransport(tls=False)) as client:
            answer = await client.post(f"{url}/up", content=parts())
    finally:
        server.close()
    assert answer.text == "done"
    head, _, body = received[0].partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower() and body == b"b\r\nhello world\r\n0\r\n\r\n"


async def test_a_body_the_server_does_not_take_in_time_is_a_write_timeout(silent_server):
    # the server never reads: the socket's buffers fill, the rest waits in ours past the write timeout
    timeout = httpx.Timeout(30, write=0.3)
    async with httpx.AsyncClient(base_url=silent_server, transport=LoopTransport(tls=False), timeout=timeout) as client:
        started = time.monotonic()
        with pytest.raises(httpx.WriteTimeout):
            await client.post("/upload", content=b"x" * (64 << 20))
        assert time.monotonic() - started < 10
