"""The HTTP face of the sandbox: HubSpot's URL-length ceiling, auth, limits and routes as an ASGI (Starlette) app.

Order per request: the URL length (a front proxy answers 414 before HubSpot sees the request), authentication
(401 is not counted by the limiters), the limits (429), then the endpoint. One catch-all route dispatches by path,
so unknown URLs get a HubSpot-style 404 rather than a framework one. Bodies are rendered with orjson.
"""

from __future__ import annotations

import logging

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.faults import WriteRequest
from sandbox.hubspot import batch, faults, handlers
from sandbox.hubspot.data import HubSpotSandbox
from sandbox.hubspot.define import create_property
from sandbox.hubspot.errors import (
    HubSpotError,
    bad_json,
    correlation_id,
    method_not_allowed,
    rate_limit_body,
    unauthorized,
    unknown_object_type,
    unknown_route,
)
from sandbox.hubspot.limits import BURST, DAILY_LIMIT, SEARCH, Limits
from sandbox.hubspot.objects import ALIASES
from sandbox.hubspot.search import search

log = logging.getLogger("inlet.sandbox.hubspot")
JSON = "application/json;charset=utf-8"
MAX_URL = 16_384
# What a front proxy answers for an over-long URL: its own HTML page, not a HubSpot JSON body.
URI_TOO_LONG = (b"<html>\r\n<head><title>414 Request-URI Too Large</title></head>\r\n<body>\r\n"
                b"<center><h1>414 Request-URI Too Large</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
                b"</body>\r\n</html>\r\n")


def create_app(sandbox: HubSpotSandbox, rate_limit: bool | int = True, *, search_rate: int | None = None,
               daily_limit: int | None = None, max_url: int = MAX_URL) -> Starlette:
    """`rate_limit`: True for HubSpot's documented limits (100 per rolling 10 s, search 5 per rolling second,
    250,000 a day), a number N for N per 10 s (search and daily as documented unless `search_rate` or
    `daily_limit` say otherwise), False for no limits except an explicit `search_rate` or `daily_limit`.
    `max_url`: longest URL (path and query, bytes) served; longer ones get 414."""
    if rate_limit is False:
        limits = Limits(lambda: sandbox.now(), None, search_rate, daily_limit)
    else:
        burst = BURST if rate_limit is True else int(rate_limit)
        limits = Limits(lambda: sandbox.now(), burst, SEARCH if search_rate is None else search_rate,
                        DAILY_LIMIT if daily_limit is None else daily_limit)

    async def endpoint(request: Request) -> Response:
        sandbox.requests += 1
        scope = request.scope
        query = scope.get("query_string", b"")
        if len(scope.get("raw_path") or scope["path"].encode()) + (len(query) + 1 if query else 0) > max_url:
            return Response(URI_TOO_LONG, 414, media_type="text/html")
        correlation = correlation_id()
        headers = {"X-HubSpot-Correlation-Id": correlation}
        method, path = request.method, request.url.path
        try:
            if not _authorized(request.headers.get("authorization"), sandbox.tokens):
                raise unauthorized()
            is_search = method == "POST" and path.startswith("/crm/v3/objects/") and path.rstrip("/").endswith(
                "/search")
            refusal = limits.check(is_search)
            if not is_search:
                headers.update(limits.headers())
            if refusal is not None:
                sandbox.rate_limited += 1
                body = rate_limit_body(refusal.message, refusal.policy, correlation)
                return Response(orjson.dumps(body), 429, headers, JSON)
            if faults.is_write(method, path):
                fault = sandbox.receive_write(WriteRequest(method, path, await request.body(), None))
                if fault is not None:
                    return Response(orjson.dumps(faults.body(fault, correlation)), fault.status, headers, JSON)
            status, payload = await _dispatch(sandbox, request, method, path)
        except HubSpotError as exc:
            return Response(orjson.dumps(exc.body(correlation)), exc.status, headers, JSON)
        except Exception:
            log.exception("sandbox failed on %s %s", method, path)
            error = HubSpotError(500, "internal error", "INTERNAL_ERROR")
            return Response(orjson.dumps(error.body(correlation)), 500, headers, JSON)
        if payload is None:
            return Response(b"", status, headers)
        content = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        return Response(content, status, headers, JSON)

    methods = ["GET", "POST", "PATCH", "DELETE", "PUT", "OPTIONS"]
    return Starlette(routes=[Route("/{path:path}", endpoint, methods=methods)])


def _authorized(header: str | None, tokens: frozenset[str]) -> bool:
    scheme, _, token = (header or "").strip().partition(" ")
    return scheme.lower() == "bearer" and token.strip() in tokens


async def _json(request: Request) -> object:
    raw = await request.body()
    if not raw.strip():
        raise bad_json("No content to map due to end-of-input")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_json(exc.msg, exc.lineno, exc.colno) from None


async def _dispatch(sb: HubSpotSandbox, request: Request, method: str, path: str) -> tuple[int, object]:
    parts = path.strip("/").split("/")
    if len(parts) < 3 or parts[:2] != ["crm", "v3"]:
        raise unknown_route(method, path)
    params = request.query_params
    base = f"{request.url.scheme}://{request.url.netloc}{path}"
    section, rest = parts[2], parts[3:]
    if section == "owners" and len(rest) <= 1:
        if method != "GET":
            raise method_not_allowed(method)
        return 200, handlers.get_owner(sb, rest[0], params) if rest else handlers.list_owners(sb, params, base)
    if section not in ("objects", "properties") or not rest or len(rest) > 3:
        raise unknown_route(method, path)
    if rest[0] not in ALIASES:
        raise unknown_object_type(rest[0])
    store = sb.store(rest[0])
    if section == "properties":
        if len(rest) > 2:
            raise unknown_route(method, path)
        if method == "POST" and len(rest) == 1:
            return 201, create_property(store, await _json(request))
        if method != "GET":
            raise method_not_allowed(method)
        if len(rest) == 2:
            return 200, handlers.get_property(store, rest[1])
        return 200, b'{"results":[]}' if handlers.flag(params, "archived") else store.schema.api_body()
    if len(rest) == 1:
        if method == "GET":
            return 200, handlers.list_records(store, params, base)
        if method == "POST":
            return 201, handlers.create_record(sb, store, await _json(request))
        raise method_not_allowed(method)
    if len(rest) == 3:
        if rest[1] != "batch" or rest[2] not in batch.OPERATIONS:
            raise unknown_route(method, path)
        if method != "POST":
            raise method_not_allowed(method)
        return batch.run(sb, store, rest[2], params, await _json(request))
    key = rest[1]
    if key == "search" and method == "POST":
        return 200, search(sb, store, await _json(request))
    if method == "GET":
        return 200, handlers.get_record(store, key, params)
    if method == "PATCH":
        return 200, handlers.update_record(sb, store, key, params, await _json(request))
    if method == "DELETE":
        handlers.archive_record(sb, store, key)
        return 204, None
    raise method_not_allowed(method)
