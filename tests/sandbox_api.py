"""The sandbox APIs on a real loopback port, served from a thread of the test process, so a test can change
the emulated accounts (`api.stripe.mutate(...)`) between syncs."""

from __future__ import annotations

import asyncio
import threading
import time

import uvicorn

from sandbox.hubspot import HUBSPOT_TOKEN
from sandbox.server import SHOP, STRIPE_KEY, Sandbox
from sandbox.shopify import SHOPIFY_TOKEN
from tests.conftest import free_port


class Faults:
    """ASGI wrapper: `faults[n] = (status, body[, headers])` answers the n-th API request (from 1) itself instead
    of the sandbox; `requests` counts them. `hold(path, after=n)` keeps the requests to paths starting with `path`
    after their first n waiting until `release()`: a sync is then surely still running while a test looks at it,
    however slowly the machine goes (`held` counts the requests that waited)."""

    def __init__(self, app) -> None:
        self.app = app
        self.faults: dict[int, tuple[int, bytes]] = {}
        self.requests = 0
        self.arrivals: list[tuple[float, str]] = []  # (time.monotonic(), path) of each API request
        self.held = 0
        self._hold: tuple[str, int] | None = None
        self._path_requests = 0
        self._released = threading.Event()

    def hold(self, path: str, after: int) -> None:
        self._hold, self._path_requests = (path, after), 0
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        self.requests += 1
        number = self.requests
        self.arrivals.append((time.monotonic(), scope["path"]))
        if self._hold is not None and scope["path"].startswith(self._hold[0]):
            self._path_requests += 1
            if self._path_requests > self._hold[1] and not self._released.is_set():
                self.held += 1
                receive = await _buffered(receive)  # the body is read while its sender is surely there
                while not self._released.is_set():
                    await asyncio.sleep(0.01)
        fault = self.faults.get(number)
        if fault is None:
            return await self.app(scope, receive, send)
        status, body, *extra = fault
        headers = [(b"content-type", b"application/json")]
        headers += [(k.lower().encode(), v.encode()) for k, v in (extra[0] if extra else {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _buffered(receive):
    """The request's body messages read now, replayed to the app later."""
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body"):
            break

    async def replay():
        return messages.pop(0) if messages else await receive()

    return replay


class SandboxAPI:
    def __init__(self, **options) -> None:
        options.setdefault("vendors", ("stripe",))  # seeding the others costs time that Stripe tests need not pay
        self.sandbox = Sandbox(**options)
        self.stripe, self.hubspot, self.shopify = self.sandbox.stripe, self.sandbox.hubspot, self.sandbox.shopify
        self.faults = Faults(self.sandbox.app)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(self.faults, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off", access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> SandboxAPI:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            assert time.monotonic() < deadline, "the sandbox did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.faults.release()  # a request still held would keep the server from stopping
        self.server.should_exit = True
        self.thread.join(15)

    def stripe_source(self, source_id: str = "billing", **extra) -> dict:
        return {"id": source_id, "name": "Stripe", "channel": "billing", "bridge": "stripe", "api_key": STRIPE_KEY,
                "base_url": self.url, **extra}

    def hubspot_source(self, source_id: str = "crm", **extra) -> dict:
        return {"id": source_id, "name": "HubSpot", "channel": "crm", "bridge": "hubspot", "token": HUBSPOT_TOKEN,
                "base_url": self.url, **extra}

    def shopify_source(self, source_id: str = "shop", **extra) -> dict:
        return {"id": source_id, "name": "Shopify", "channel": "web", "bridge": "shopify", "shop": SHOP,
                "access_token": SHOPIFY_TOKEN, "base_url": self.url, **extra}
