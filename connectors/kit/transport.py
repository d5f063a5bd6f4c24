"""`ThreadedTransport`: the async client's requests sent by httpx's synchronous transport, on worker threads.

httpx's async stack (httpcore over anyio) cost about 0.55 ms more CPU per request than its synchronous one: 1,000
pages of 100 Stripe customers from the sandbox took 1.39 s of CPU through `httpx.AsyncClient` and 0.84 s through
`httpx.Client`, on one core. That was most of what a sync's fetching spent beyond a plain loop. The async client in
front of this transport does everything else as before: auth, base URL, headers, timeouts, and the kit's limits and
retries. Each response is read whole on its thread, as every connector reads its JSON pages whole anyway.

TLS: one CA-verifying context per process, made on first use (loading the CA bundle cost 20-40 ms per client);
a client of a plain-HTTP base URL (the sandbox, a local proxy) gets a context that trusts no CA at all, so an https
URL reached anyway fails verification instead of going unverified.

The workers are daemon threads: a request still waiting for its answer when its sync is cancelled runs out on its
own (its timeout bounds it) and never holds up the process's exit.
"""

from __future__ import annotations

import asyncio
import functools
import queue
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import httpx

__all__ = ["ThreadedTransport"]

WORKERS = 8  # requests in flight at once per client; more wait their turn


class ThreadedTransport(httpx.AsyncBaseTransport):
    """`tls=False` for a plain-HTTP base URL; other keywords go to `httpx.HTTPTransport`."""

    def __init__(self, *, tls: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("verify", verified_context() if tls else refusing_context())
        self._sync = httpx.HTTPTransport(**kwargs)
        self._workers = _Workers(WORKERS, "inlet-http")

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await asyncio.wrap_future(self._workers.submit(self._send, request))

    def _send(self, request: httpx.Request) -> httpx.Response:
        response = self._sync.handle_request(request)
        try:
            content = response.read()
        finally:
            response.close()
        return httpx.Response(response.status_code, headers=response.headers, content=content,
                              extensions=response.extensions)

    async def aclose(self) -> None:
        self._workers.stop()
        self._sync.close()


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
