"""The kit's default transport: httpx's synchronous transport on worker threads, behind the async client."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from connectors.kit import SourceClient
from connectors.kit.transport import ThreadedTransport, verified_context


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


async def test_requests_go_out_on_worker_threads_and_come_back_whole(json_server):
    async with httpx.AsyncClient(base_url=json_server, transport=ThreadedTransport(),
                                 headers={"Authorization": "Bearer t"}) as client:
        got = await client.get("/v1/customers", params={"limit": 2})
        posted = await client.post("/v1/customers", data={"email": "a@example.com"})
    assert got.status_code == 201 and got.headers["X-Seen"] == "yes" and got.reason_phrase == "Created"
    assert got.json()["path"] == "/v1/customers?limit=2" and got.json()["auth"] == "Bearer t"
    assert posted.json()["method"] == "POST" and posted.json()["body"] == "email=a%40example.com"


async def test_the_source_client_uses_it_unless_given_a_transport(json_server):
    client = SourceClient("billing", json_server)
    assert isinstance(client._http._transport, ThreadedTransport)
    assert (await client.get_json("/x", object_name="customers"))["path"] == "/x"
    await client.aclose()


def test_a_request_left_waiting_never_holds_up_the_exit(silent_server):
    # a sync cancelled while its request waits (Ctrl-C, a server stopping): the process ends now, not after the
    # request's 30 s timeout
    script = f"""
import asyncio, httpx
from connectors.kit.transport import ThreadedTransport, verified_context

async def main():
    client = httpx.AsyncClient(base_url={silent_server!r}, transport=ThreadedTransport(), timeout=30)
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
    transport = ThreadedTransport()
    async with httpx.AsyncClient(base_url=json_server, transport=transport) as client:
        assert (await client.get("/a")).status_code == 201
    with pytest.raises(RuntimeError, match="closed"):
        await transport.handle_async_request(httpx.Request("GET", f"{json_server}/b"))


async def test_a_timeout_is_still_an_httpx_timeout(silent_server):
    async with httpx.AsyncClient(base_url=silent_server, transport=ThreadedTransport(), timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/never")


def test_one_verified_tls_context_per_process_and_none_trusted_for_plain_http_clients():
    assert ThreadedTransport()._sync._pool._ssl_context is ThreadedTransport()._sync._pool._ssl_context
    verified = verified_context()
    assert verified.verify_mode == ssl.CERT_REQUIRED and verified.cert_store_stats()["x509_ca"] > 0
    # a plain-HTTP base URL (the sandbox) skips loading the CA bundle; an https URL reached through it anyway is
    # refused for want of a trusted CA instead of being read unverified
    plain = SourceClient("billing", "http://127.0.0.1:9")._http._transport._sync._pool._ssl_context
    assert plain is not verified and plain.verify_mode == ssl.CERT_REQUIRED and plain.check_hostname
    assert plain.cert_store_stats()["x509_ca"] == 0
    assert SourceClient("billing", "https://api.stripe.com")._http._transport._sync._pool._ssl_context is verified
