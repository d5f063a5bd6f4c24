"""The kit's default transport: HTTP/1.1 connections of the event loop, parsed by httptools, behind the async
client."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from connectors.kit import SourceClient
from connectors.kit.transport import LoopTransport, verified_context


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
