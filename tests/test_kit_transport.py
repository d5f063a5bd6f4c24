"""The kit client's network defaults, over real loopback servers: httpx's own transport, TLS verified against the
process's CA bundle (`SSL_CERT_FILE` honoured, as httpx does), proxies from the environment, and a cancelled
request that never holds up the exit."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trustme

from connectors.kit import BearerToken, SourceClient, TransientError
from connectors.kit.client import verified_context
from connectors.kit.retry import RetryPolicy
from tests.loopback import EchoServer, Proxy

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
ONCE = RetryPolicy(max_attempts=1)


@pytest.fixture
def echo():
    server = EchoServer()
    yield server
    server.close()


@pytest.fixture
def no_proxies(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


@pytest.fixture
def ca(no_proxies, tmp_path):
    """A throwaway CA, made the process's trusted bundle through SSL_CERT_FILE (how a user points httpx, and so
    inlet, at a private CA); the verified context is made again for it, and again afterwards."""
    authority = trustme.CA()
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    no_proxies.setenv("SSL_CERT_FILE", str(bundle))
    verified_context.cache_clear()
    yield authority
    verified_context.cache_clear()


@pytest.fixture
def tls_echo(ca):
    """An echo server over TLS with a certificate for `localhost` issued by `ca`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    server = EchoServer(tls=context, host="localhost")
    yield server
    server.close()


async def test_requests_go_out_whole_and_come_back_decoded(echo, no_proxies):
    async with SourceClient("billing", echo.url, BearerToken("sk_test_1"), user_agent="inlet/test") as client:
        got = await client.get_json("/v1/customers", {"limit": 2, "email": "a b@example.com"},
                                    object_name="customers")
        posted = await client.post_form("/v1/customers", {"email": "a@example.com"}, object_name="customers")
    assert got["method"] == "GET" and got["path"] == "/v1/customers?limit=2&email=a+b%40example.com"
    assert got["auth"] == "Bearer sk_test_1" and got["user_agent"] == "inlet/test"
    assert posted["method"] == "POST" and posted["body"] == "email=a%40example.com"
    assert client.requests == 2


async def test_https_is_verified_against_the_trusted_bundle(tls_echo):
    async with SourceClient("billing", tls_echo.url, retry_policy=ONCE) as client:
        assert (await client.get_json("/x", object_name="customers"))["path"] == "/x"
    # the certificate names localhost only
    async with SourceClient("billing", f"https://127.0.0.1:{tls_echo.port}", retry_policy=ONCE) as client:
        with pytest.raises(TransientError, match=r"ConnectError.*certificate verify failed") as refused:
            await client.get_json("/x", object_name="customers")
    assert refused.value.status is None


async def test_https_from_an_unknown_ca_is_refused(tls_echo, no_proxies):
    no_proxies.delenv("SSL_CERT_FILE")
    verified_context.cache_clear()  # the default bundle (certifi's) does not know the throwaway CA
    async with SourceClient("billing", tls_echo.url, retry_policy=ONCE) as client:
        with pytest.raises(TransientError, match=r"ConnectError.*certificate verify failed"):
            await client.get_json("/x", object_name="customers")
    assert tls_echo.seen == []


def test_one_verifying_tls_context_per_process():
    context = verified_context()
    assert context is verified_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0


async def test_a_plain_http_base_url_the_environment_sends_through_a_proxy_goes_through_it(no_proxies):
    proxy = Proxy()
    no_proxies.setenv("HTTP_PROXY", proxy.url)
    try:
        # a name nothing resolves: only the proxy can answer
        async with SourceClient("billing", "http://api.vendor.test", BearerToken("sk_test_1")) as client:
            got = await client.get_json("/v1/customers", {"limit": 1}, object_name="customers")
    finally:
        proxy.close()
    assert got == {"via": "proxy", "url": "http://api.vendor.test/v1/customers?limit=1"}
    assert proxy.seen == ["GET http://api.vendor.test/v1/customers?limit=1"]


async def test_no_proxy_sends_a_host_direct(echo, no_proxies):
    proxy = Proxy()
    no_proxies.setenv("HTTP_PROXY", proxy.url)
    no_proxies.setenv("NO_PROXY", "127.0.0.1")
    try:
        async with SourceClient("billing", echo.url) as client:
            assert (await client.get_json("/direct", object_name="customers"))["path"] == "/direct"
    finally:
        proxy.close()
    assert proxy.seen == []


async def test_https_through_a_proxy_is_tunnelled_and_still_verified(tls_echo, no_proxies):
    proxy = Proxy()
    no_proxies.setenv("HTTPS_PROXY", proxy.url)
    try:
        async with SourceClient("billing", tls_echo.url, BearerToken("sk_test_1"), retry_policy=ONCE) as client:
            got = await client.get_json("/v1/customers", object_name="customers")
            assert got["path"] == "/v1/customers" and got["auth"] == "Bearer sk_test_1"
        # through the tunnel, the certificate is still checked against the name asked for
        async with SourceClient("billing", f"https://127.0.0.1:{tls_echo.port}", retry_policy=ONCE) as client:
            with pytest.raises(TransientError, match="certificate verify failed"):
                await client.get_json("/v1/customers", object_name="customers")
    finally:
        proxy.close()
    assert proxy.seen == [f"CONNECT localhost:{tls_echo.port}", f"CONNECT 127.0.0.1:{tls_echo.port}"]


def test_a_request_left_waiting_never_holds_up_the_exit(silent_server):
    # a sync cancelled while its request waits (Ctrl-C, a server stopping): the process ends now, not after the
    # request's 30 s timeout
    script = f"""
import asyncio
from connectors.kit import SourceClient

async def main():
    client = SourceClient("billing", {silent_server!r}, timeout=30)
    request = asyncio.create_task(client.get_json("/never", object_name="customers"))
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


async def test_a_closed_client_sends_nothing(echo, no_proxies):
    client = SourceClient("billing", echo.url)
    assert (await client.get_json("/a", object_name="customers"))["path"] == "/a"
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await asyncio.wait_for(client.get_json("/b", object_name="customers"), 5)
    assert [seen["path"] for seen in echo.seen] == ["/a"]
