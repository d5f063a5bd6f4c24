"""The HTTP face of the sandbox: Stripe's auth, limiter, idempotency and routes as an ASGI (Starlette) app.

One catch-all route dispatches by path, so unknown URLs get Stripe's own "Unrecognized request URL" 404 (with
auth checked first, as Stripe does) rather than a framework 404. Bodies are rendered with orjson; event lists
join pre-rendered event bytes.
"""

from __future__ import annotations

import base64
import binascii
import logging
import random
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.faults import WriteRequest
from sandbox.stripe import faults
from sandbox.stripe.data import KINDS, StripeSandbox
from sandbox.stripe.errors import (
    StripeError,
    idempotency_mismatch,
    invalid,
    invalid_key,
    missing_key,
    rate_limited,
    unknown_parameter,
    unrecognized_url,
)
from sandbox.stripe.forms import parse_form
from sandbox.stripe.limits import MAX_IDEMPOTENCY_KEY, IdempotencyStore, RateLimiter, Saved
from sandbox.stripe.objects import API_VERSION, B62
from sandbox.stripe.queries import list_events, list_objects
from sandbox.stripe.writes import customer_changes

log = logging.getLogger("inlet.sandbox.stripe")
JSON = "application/json"
_request_ids = random.Random()  # request ids need not be reproducible, only unique-looking


def create_app(sandbox: StripeSandbox, *, rate_limit: bool | int = True) -> Starlette:
    """`rate_limit`: True for Stripe's limits (25 read + 25 write ops/s in test mode, 100 + 100 live), a number
    for that many per second per bucket in both modes, False for none."""
    rate = None if rate_limit is True else int(rate_limit)
    limiter = None if rate_limit is False else RateLimiter(sandbox.now, rate)
    idempotency = IdempotencyStore(sandbox.now)

    async def endpoint(request: Request) -> Response:
        request_id = "req_" + "".join(_request_ids.choices(B62, k=14))
        headers = {"Request-Id": request_id, "Stripe-Version": API_VERSION, "Cache-Control": "no-cache, no-store"}
        method, path = request.method, request.url.path
        try:
            live = _authenticate(request.headers.get("authorization"), sandbox.api_keys)
            if limiter is not None and not limiter.allow(live, write=method not in ("GET", "HEAD")):
                raise rate_limited()
            params = parse_form(request.scope.get("query_string", b""))
            if method in ("POST", "DELETE"):
                params.update(parse_form(await request.body()))
            key = request.headers.get("idempotency-key") if method == "POST" else None
            fault = None
            if faults.is_write(method):
                fault = sandbox.receive_write(WriteRequest(method, path, await request.body(), key))
                if fault is not None and not faults.saved(fault):
                    raise faults.error(fault)
            failure = faults.error(fault) if fault is not None else None
            if key is None:
                status, body = _run(sandbox, method, path, params, {"id": request_id, "idempotency_key": None},
                                    failure)
                return Response(body, status, headers, JSON)
            headers["Idempotency-Key"] = key
            if len(key) > MAX_IDEMPOTENCY_KEY:
                raise invalid(f"Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY} characters long.",
                              param="Idempotency-Key")
            fingerprint = (method, path, orjson.dumps(params, option=orjson.OPT_SORT_KEYS))
            saved = idempotency.get(live, key)
            if saved is not None:
                if saved.fingerprint != fingerprint:
                    raise idempotency_mismatch(key)
                headers.update({"Idempotent-Replayed": "true", "Original-Request": saved.request_id})
                return Response(saved.body, saved.status, headers, JSON)
            try:
                status, body = _run(sandbox, method, path, params, {"id": request_id, "idempotency_key": key},
                                    failure)
            except StripeError as exc:
                if exc.validation:  # failed validation: never executed, so not saved
                    raise
                status, body = exc.status, orjson.dumps(exc.body(request_id))
                headers.update(exc.headers)
            idempotency.put(live, key, Saved(fingerprint, status, body, request_id, sandbox.now()))
            return Response(body, status, headers, JSON)
        except StripeError as exc:
            return Response(orjson.dumps(exc.body(request_id)), exc.status, {**headers, **exc.headers}, JSON)

    methods = ["GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS"]
    return Starlette(routes=[Route("/{path:path}", endpoint, methods=methods)])


def _authenticate(header: str | None, keys: frozenset[str]) -> bool:
    """Bearer, or Basic with the key as user name and an empty password. Returns whether the key is live."""
    scheme, _, credentials = (header or "").strip().partition(" ")
    key = ""
    if scheme.lower() == "bearer":
        key = credentials.strip()
    elif scheme.lower() == "basic":
        try:
            key = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            key = ""
    if not key:
        raise missing_key()
    if key not in keys:
        raise invalid_key(key)
    return key.startswith(("sk_live_", "rk_live_"))


def _run(sb: StripeSandbox, method: str, path: str, params: dict[str, Any], req: dict,
         failure: StripeError | None = None) -> tuple[int, bytes]:
    """Dispatch one request; a crash is Stripe's 500 `api_error` (which idempotency then stores, as Stripe does).
    `failure`: an injected endpoint failure, raised instead of running the endpoint."""
    try:
        if failure is not None:
            raise failure
        return 200, _dispatch(sb, method, path, params, req)
    except StripeError:
        raise
    except Exception:
        log.exception("sandbox failed on %s %s", method, path)
        raise StripeError(500, "An unknown error occurred on the sandbox.", type="api_error") from None


def _dispatch(sb: StripeSandbox, method: str, path: str, params: dict[str, Any], req: dict) -> bytes:
    parts = path.strip("/").split("/")
    if len(parts) < 2 or parts[0] != "v1" or len(parts) > 3 or not all(parts):
        raise unrecognized_url(method, path)
    collection = parts[1]
    object_id = parts[2] if len(parts) == 3 else None
    if collection == "events" and method == "GET":
        if object_id is not None:
            _only_expand(params)
            return orjson.dumps(sb.retrieve_event(object_id).as_dict())
        return orjson.dumps(list_events(sb, params))
    if collection not in KINDS:
        raise unrecognized_url(method, path)
    if method == "GET":
        if object_id is None:
            return orjson.dumps(list_objects(sb, collection, params))
        _only_expand(params)
        return orjson.dumps(sb.retrieve(collection, object_id))
    if method == "DELETE" and object_id is not None and collection in ("customers", "products", "invoices"):
        # Prices have no DELETE in Stripe's API (only active=false): that URL stays unrecognized.
        _only_expand(params)
        delete = {"customers": sb.delete_customer, "products": sb.delete_product, "invoices": sb.delete_invoice}
        return orjson.dumps(delete[collection](object_id, request=req))
    if collection != "customers":
        raise unrecognized_url(method, path)
    if method == "POST" and object_id is None:
        return orjson.dumps(sb.create_customer(customer_changes(params), request=req))
    if method == "POST":
        customer = sb.live("customers", object_id)
        changes = customer_changes(params, customer["metadata"])
        return orjson.dumps(sb.update("customers", customer, changes, request=req))
    raise unrecognized_url(method, path)


def _only_expand(params: dict[str, Any]) -> None:
    for name in params:
        if name != "expand":
            raise unknown_parameter(name)
