"""The kit's default transport: HTTP/1.1 connections of the event loop, parsed by httptools, behind the async
client."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from connectors.kit import SourceClient
from connectors.kit.transport import LoopTransport, verified_context


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


@pytest.fixture
def json_server():
    """A loopback HTTP/1.1 server answering every request with its method, path and body as JSON."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            out = f'{{"method": "{self.command}", "path": "{self.path}", "body": "{body}", ' \
                  f'"auth": "{self.headers.get("Authorization")}", "thread": "{threading.current_thread().name}"}}'
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Seen", "yes")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out.encode())

        do_GET = do_POST = _answer

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_requests_go_out_on_the_event_loop_and_come_back_whole(json_server):
    async with httpx.AsyncClient(base_url=json_server, transport=LoopTransport(),
                                 headers={"Authorization": "Bearer t"}) as client:
        got = await client.get("/v1/customers", params={"limit": 2})
        posted = await client.post("/v1/customers", data={"email": "a@example.com"})
    assert got.status_code == 201 and got.headers["X-Seen"] == "yes" and got.reason_phrase == "Created"
    assert got.json()["path"] == "/v1/customers?limit=2" and got.json()["auth"] == "Bearer t"
    assert posted.json()["method"] == "POST" and posted.json()["body"] == "email=a%40example.com"


async def test_the_source_client_uses_it_unless_given_a_transport(json_server):
    client = SourceClient("billing", json_server)
    assert isinstance(client._http._transport, LoopTransport)
    assert (await client.get_json("/x", object_name="customers"))["path"] == "/x"
    await client.aclose()


def test_a_request_left_waiting_never_holds_up_the_exit(silent_server):
    # a sync cancelled while its request waits (Ctrl-C, a server stopping): the process ends now, not after the
    # request's 30 s timeout
    script = f"""
import asyncio, httpx
from connectors.kit.transport import LoopTransport, verified_context

async def main():
    client = httpx.AsyncClient(base_url={silent_server!r}, transport=LoopTransport(), timeout=30)
    request = asyncio.create_task(client.get("/never"))
    await asyncio.sleep(0.3)
    request.cancel()
    await client.aclose()
    try:
        await request
    except asyncio.CancelledError:
        print("cancelled")

asyncio.run(main())
"""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=20,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0 and done.stdout.strip() == "cancelled", done.stderr
    assert time.monotonic() - started < 10


async def test_a_closed_transport_refuses_new_requests(json_server):
    transport = LoopTransport()
    async with httpx.AsyncClient(base_url=json_server, transport=transport) as client:
        assert (await client.get("/a")).status_code == 201
    with pytest.raises(RuntimeError, match="closed"):
        await transport.handle_async_request(httpx.Request("GET", f"{json_server}/b"))


async def test_a_timeout_is_still_an_httpx_timeout(silent_server):
    async with httpx.AsyncClient(base_url=silent_server, transport=LoopTransport(), timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/never")


def test_one_verified_tls_context_per_process_and_none_trusted_for_plain_http_clients():
    assert LoopTransport().ssl_context is LoopTransport().ssl_context
    verified = verified_context()
    assert verified.verify_mode == ssl.CERT_REQUIRED and verified.cert_store_stats()["x509_ca"] > 0
    # a plain-HTTP base URL (the sandbox) skips loading the CA bundle; an https URL reached through it anyway is
    # refused for want of a trusted CA instead of being read unverified
    plain = SourceClient("billing", "http://127.0.0.1:9")._http._transport.ssl_context
    assert plain is not verified and plain.verify_mode == ssl.CERT_REQUIRED and plain.check_hostname
    assert plain.cert_store_stats()["x509_ca"] == 0
    assert SourceClient("billing", "https://api.stripe.com")._http._transport.ssl_context is verified


class ScriptedServer:
    """A loopback HTTP/1.1 server whose every connection answers with the next of `answers`: raw bytes to send
    after reading one request, a 1-tuple of bytes to send before closing the connection, or None to close it
    without answering. Counts connections."""

    def __init__(self, answers: list[bytes | tuple[bytes] | None]) -> None:
        self.answers = list(answers)
        self.connections = 0
        self.requests: list[bytes] = []
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen()
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            buffered = b""
            while self.answers:
                while b"\r\n\r\n" not in buffered:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffered += chunk
                head, _, buffered = buffered.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(buffered) < length:
                    buffered += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + buffered[:length])
                buffered = buffered[length:]
                answer = self.answers.pop(0)
                if answer is None:
                    return
                if isinstance(answer, tuple):  # (bytes,): send them, then close
                    conn.sendall(answer[0])
                    return
                conn.sendall(answer)

    def close(self) -> None:
        self._server.close()


def ok(body: bytes, *headers: str) -> bytes:
    extra = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


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


def test_a_base_url_the_environment_sends_through_a_proxy_goes_through_it(monkeypatch):
    # HTTP_PROXY and friends are honoured (httpx's own transport then carries the requests), NO_PROXY too
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[str] = []

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            seen.append(self.path)  # a proxy is asked for the absolute URL
            body = b'{"via": "proxy"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                 "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")

    async def fetch() -> object:
        client = SourceClient("billing", "http://api.vendor.test")  # a name nothing resolves: only the proxy answers
        try:
            assert not isinstance(client._http._transport, LoopTransport)
            return await client.get_json("/v1/customers", {"limit": 1}, object_name="customers")
        finally:
            await client.aclose()

    try:
        assert asyncio.run(fetch()) == {"via": "proxy"}
        assert seen == ["http://api.vendor.test/v1/customers?limit=1"]
        monkeypatch.setenv("NO_PROXY", "api.vendor.test")
        assert isinstance(SourceClient("billing", "http://api.vendor.test")._http._transport, LoopTransport)
        assert isinstance(SourceClient("billing", "https://api.stripe.com")._http._transport, LoopTransport)
    finally:
        proxy.shutdown()
        proxy.server_close()


async def test_https_is_verified_against_the_transports_context():
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import trustme

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = b'{"tls": true}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    try:
        async with httpx.AsyncClient(transport=LoopTransport(verify=trusting)) as client:
            assert (await client.get(f"https://localhost:{port}/x")).json() == {"tls": True}
            with pytest.raises(httpx.ConnectError, match="certificate verify failed"):  # issued for localhost only
                await client.get(f"https://127.0.0.1:{port}/x")
        async with httpx.AsyncClient(transport=LoopTransport()) as client:  # the CA bundle does not know it
            with pytest.raises(httpx.ConnectError, match="certificate verify failed"):
                await client.get(f"https://localhost:{port}/x")
    finally:
        server.shutdown()
        server.server_close()


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


def one_connection(serve: Callable[[socket.socket], None]) -> tuple[str, socket.socket]:
    """A loopback server that hands its first connection to `serve` on a thread: its URL, and its socket to close."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def accept() -> None:
        conn, _ = server.accept()
        with conn:
            serve(conn)

    threading.Thread(target=accept, daemon=True).start()
    return f"http://127.0.0.1:{server.getsockname()[1]}", server


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
