"""`SourceClient`: one `httpx.AsyncClient` per source, and the only place requests and page loops happen.

Every request goes limiter -> send -> classify -> raise from the error tree, inside the retry policy. The
order matters: the limiter is asked again before each retry (a retry is a request too), and a 429's wait
also pauses the limiter, so concurrent streams of the same source back off together. Errors are built only
from redacted text: the auth object's secrets plus anything token-shaped are masked in the vendor's message
and in the URL before either is quoted.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Self

import httpx
import orjson

from connectors.kit import observe
from connectors.kit.auth import redact
from connectors.kit.errors import ConnectorError, CredentialsRefused, FatalError, TransientError
from connectors.kit.limiter import RateLimiter
from connectors.kit.pagination import Paginator, dig
from connectors.kit.retry import RetryPolicy
from connectors.kit.statuses import Action, Signals, classify

__all__ = ["LIMITS", "SourceClient", "verified_context"]

log = logging.getLogger("inlet.connectors.http")
Fetch = Callable[[dict[str, Any]], Awaitable[Any]]  # a page's request -> its decoded body (SourceClient.pages)
MAX_QUOTE = 300  # characters of the vendor's error message kept in our errors
# httpx's own transport, HTTP/1.1: a sync keeps a few requests in flight per source (one page read ahead per stream,
# a handful of writes), so a few connections per origin are kept alive, each closed after httpx's default 5 s idle.
# One the server closed while idle is dropped before reuse; one closed under a request fails it with a
# RemoteProtocolError, which the retry policy retries for GETs and idempotent POSTs.
LIMITS = httpx.Limits(max_connections=16, max_keepalive_connections=8, keepalive_expiry=5.0)


class SourceClient:
    """`idempotency_header` (Stripe: "Idempotency-Key") makes POSTs safe to retry: one key per logical call,
    the same on every attempt. Without it a POST is retried only after a 429, which means it never ran.
    `transport` replaces the network (tests, the in-process sandbox). By default requests go out over httpx's own
    transport (`LIMITS`), which verifies TLS against `verified_context()` and honours the environment's proxies
    (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY) as any httpx client does."""

    def __init__(self, source_id: str, base_url: str, auth: httpx.Auth | None = None, *,
                 limiter: RateLimiter | None = None, retry_policy: RetryPolicy | None = None,
                 timeout: float | httpx.Timeout = 30.0, user_agent: str = "inlet/0.1",
                 headers: Mapping[str, str] | None = None, idempotency_header: str | None = None,
                 transport: httpx.AsyncBaseTransport | None = None, signals: Signals | None = None) -> None:
        self.source_id = source_id
        self.signals = signals  # the vendor's own reading of an answer (connectors/<vendor>/statuses.py)
        self.limiter = limiter
        self.retry_policy = retry_policy or RetryPolicy()
        self.idempotency_header = idempotency_header
        self._auth = auth  # its `secrets`, read when an error is built: an OAuth token changes over a run
        self.requests = 0  # HTTP requests sent, retries included
        self.rate_limited = 0  # 429 answers received
        self._http = httpx.AsyncClient(base_url=base_url, auth=auth, timeout=timeout, transport=transport,
                                       verify=verified_context(), limits=LIMITS, http1=True, http2=False,
                                       headers={"User-Agent": user_agent, "Accept": "application/json",
                                                **(headers or {})})

    def __repr__(self) -> str:
        return f"SourceClient(source_id={self.source_id!r}, base_url={str(self._http.base_url)!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get_json(self, path: str, params: Mapping[str, Any] | None = None, *, object_name: str) -> Any:
        return await self.request_json("GET", path, object_name, params=params)

    async def post_form(self, path: str, data: Mapping[str, Any], *, object_name: str,
                        idempotent: bool = False) -> Any:
        return await self.request_json("POST", path, object_name, data=data, idempotent=idempotent)

    async def post_json(self, path: str, body: Any, *, object_name: str, idempotent: bool = False) -> Any:
        """`idempotent=True` for POSTs that only read (HubSpot search, GraphQL queries)."""
        return await self.request_json("POST", path, object_name, json_body=body, idempotent=idempotent)

    async def request_json(self, method: str, path: str, object_name: str, *, params: Mapping[str, Any] | None = None,
                           data: Mapping[str, Any] | None = None, json_body: Any = None,
                           idempotent: bool = False) -> Any:
        return (await self._request(method, path, object_name, params, data, json_body, idempotent))[1]

    async def pages(self, paginator: Paginator, path: str, params: Mapping[str, Any] | None = None, *,
                    object_name: str, records_path: str | Sequence[str], method: str = "GET",
                    fetch: Fetch | None = None) -> AsyncIterator[list[Any]]:
        """Yield each page's records, following `paginator` to the end. Each page is a GET with the paginator's
        request as its query; with `method="POST"`, a POST with it as the JSON body (a search: read-only, so
        retried like a GET). With `fetch`, a page is what `fetch(request)` answers: a vendor's own exchange (Shopify's
        GraphQL query, paced by its cost bucket, the request being the query's variables)."""
        async for records, _ in self.pages_with_next(paginator, path, params, object_name=object_name,
                                                     records_path=records_path, method=method, fetch=fetch):
            yield records

    async def pages_with_next(self, paginator: Paginator, path: str, params: Mapping[str, Any] | None = None, *,
                              object_name: str, records_path: str | Sequence[str], method: str = "GET",
                              fetch: Fetch | None = None) -> AsyncIterator[tuple[list[Any], Any]]:
        """As `pages`, with the parameters of the page after each one (None after the last): a stream whose
        vendor hands out opaque page tokens commits them as its cursor, to resume exactly there.

        Reads one page ahead: the request for the next page goes out (through the limiter and the retry policy,
        like any other) before this page is handed over, so the vendor's time to answer overlaps with ours to
        store the page. Its failure is raised where the next page is awaited, as if it had been sent then; a
        caller that stops early cancels it. A paginator that sets `next_path` (a next-page URL, checked to be on the
        client's origin) has the next page read from that path instead of `path`."""
        if method not in ("GET", "POST"):
            raise ValueError(f"pages are read by GET or POST, not {method}")
        request: dict[str, Any] | None = paginator.first_request(params)
        pending = self._page_request(path, object_name, request, method, fetch)
        try:
            while pending is not None:
                response, body = await pending
                pending = None
                records = dig(body, records_path)
                if not isinstance(records, list):  # a wrong records_path must fail loudly, not sync nothing
                    raise self._error(FatalError, object_name, None if response is None else response.status_code,
                                      f"{method} {path}: no list of records at {records_path!r} in the response")
                try:
                    request = paginator.next_request(response, body)
                except ConnectorError as exc:
                    raise exc.with_context(self.source_id, object_name) from None
                if request is not None:  # a paginator following whole next-page URLs names the path too
                    pending = self._page_request(paginator.next_path or path, object_name, request, method, fetch)
                yield records, request
        finally:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending

    def _page_request(self, path: str, object_name: str, request: dict[str, Any], method: str,
                      fetch: Fetch | None) -> asyncio.Task[tuple[httpx.Response | None, Any]]:
        if fetch is not None:
            return asyncio.ensure_future(_fetched(fetch, request))
        if method == "GET":
            sent = self._request("GET", path, object_name, request, None, None, True)
        else:
            sent = self._request("POST", path, object_name, None, None, request, True)
        return asyncio.ensure_future(sent)

    async def _request(self, method: str, path: str, object_name: str, params: Mapping[str, Any] | None,
                       data: Mapping[str, Any] | None, json_body: Any, idempotent: bool) -> tuple[httpx.Response, Any]:
        headers: dict[str, str] = {}
        if method != "GET" and self.idempotency_header:
            headers[self.idempotency_header] = str(uuid.uuid4())
            idempotent = True
        safe = method in ("GET", "HEAD") or idempotent

        async def attempt() -> tuple[httpx.Response, Any]:
            response = await self.exchange(method, path, object_name, params=params, data=data, json_body=json_body,
                                           headers=headers)
            return response, self.check(response, method, path, object_name)

        return await self.retry_policy.call(attempt, only_rate_limits=not safe)

    async def exchange(self, method: str, path: str, object_name: str, *, params: Mapping[str, Any] | None = None,
                       data: Mapping[str, Any] | None = None, json_body: Any = None,
                       headers: dict[str, str] | None = None) -> httpx.Response:
        """One attempt, unclassified: the limiter's slot, then the request through httpx (base URL, auth, headers,
        timeouts, the transport it picks), the limiter told when it really leaves; a failure on the way is a
        TransientError. Reads (`request_json`) and writes (`writes.send`) wrap it in the retry policy."""
        slot = None
        if self.limiter is not None:
            slot = await observe.timed_wait(self.source_id, self.limiter.acquire())
        self.requests += 1
        request = self._http.build_request(method, path, params=params, data=data, json=json_body,
                                           headers=headers or None, extensions=self._tracing(slot))
        try:
            return await self._http.send(request)
        except httpx.TransportError as exc:
            observe.current().request(self.source_id, None)
            raise self._error(TransientError, object_name, None,
                              f"{method} {path}: {type(exc).__name__}: {exc}") from None
        except ConnectorError as exc:  # from the auth flow: an OAuth token endpoint refused or failed
            text = exc.message
            if isinstance(exc, CredentialsRefused):
                text = f"the credentials of source {self.source_id!r} were refused: {text}"
            raise self._error(type(exc), object_name, exc.status, text) from None

    def _tracing(self, slot: object) -> dict[str, Any] | None:
        """httpx's `trace` extension telling the limiter when the request of `slot` is written, after any new
        connection (its TCP and TLS handshakes) was opened for it."""
        if slot is None or self.limiter is None:
            return None
        limiter = self.limiter

        async def trace(event: str, info: dict) -> None:
            if event == "http11.send_request_headers.started":
                limiter.went_out(slot)

        return {"trace": trace}

    def check(self, response: httpx.Response, method: str, path: str, object_name: str) -> Any:
        """The decoded body of a good response; otherwise raise the error the status table calls for."""
        if self.limiter is not None:
            self.limiter.observe_headers(response.headers)
        watcher = observe.current()
        watcher.request(self.source_id, response.status_code)
        if response.status_code == 429:
            self.rate_limited += 1
            watcher.throttled(self.source_id)
        decision = classify(response, self.signals)
        if decision.action is Action.OK:
            try:
                return _decode(response.content) if response.content else None
            except ValueError:
                raise self._error(TransientError, object_name, response.status_code,
                                  f"{method} {path}: the response is not JSON") from None
        if decision.action is Action.RATE_LIMITED and decision.wait_seconds and self.limiter is not None:
            self.limiter.pause(decision.wait_seconds)
        vendor = _vendor_message(response)
        if decision.action is Action.FAIL_CONFIG:
            text = f"the credentials of source {self.source_id!r} were refused ({vendor}); check its config"
        else:
            text = f"{method} {path}: {decision.reason}; {vendor}"
        error = self._error(decision.error or TransientError, object_name, response.status_code, text)
        if isinstance(error, TransientError):
            error.retry_after = decision.wait_seconds
        log.debug("%s", error)
        raise error

    @property
    def _secrets(self) -> tuple[str, ...]:
        return tuple(getattr(self._auth, "secrets", ()))

    def _error(self, kind: type[ConnectorError], object_name: str, status: int | None, text: str) -> ConnectorError:
        return kind(self.source_id, object_name, status, redact(text, self._secrets))


async def _fetched(fetch: Fetch, request: dict[str, Any]) -> tuple[None, Any]:
    return None, await fetch(request)


@functools.cache
def verified_context() -> ssl.SSLContext:
    """The TLS context every client verifies with: httpx's own (certifi's CA bundle, or SSL_CERT_FILE/SSL_CERT_DIR
    when set), made once per process; loading the bundle costs ~20 ms per client otherwise (HubSpot has two)."""
    return httpx.create_ssl_context()


def _decode(content: bytes) -> Any:
    """orjson (several times faster on large pages); the standard parser for what orjson refuses to hold, such
    as integers beyond 64 bits."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return json.loads(content)


def _vendor_message(response: httpx.Response) -> str:
    """The vendor's own words: Stripe's `error.message`, HubSpot's `message`, Shopify's `errors`, else text."""
    try:
        body = json.loads(response.content or b"null")
    except (ValueError, UnicodeDecodeError):
        body = None
    message: Any = None
    if isinstance(body, dict):
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        message = message or body.get("message") or body.get("errors")
    if message is None:
        message = response.text.strip() or response.reason_phrase
    text = message if isinstance(message, str) else json.dumps(message)
    return text[:MAX_QUOTE] + ("…" if len(text) > MAX_QUOTE else "")
