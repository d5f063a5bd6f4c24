"""`POST /webhooks/{source_id}`: a cloud app's signed webhook delivery, applied like a pull.

The signature is checked on the raw body before anything of it is read; a missing, wrong or stale one is a
401 and a `rejections` row. A verified delivery becomes object versions (the connector's own code: Stripe
events as the events pull reads them; Shopify and HubSpot objects read again by id, since their deliveries
carry another shape or a single property) and goes through the same apply as a pull, in one store
transaction per object type, before the answer: records are upserted, a change appends its event, and a
version older than the stored one is ignored, so redeliveries and late deliveries are harmless and a later
pull of the same state changes nothing. No cursor moves: the pull keeps its own.
"""

from __future__ import annotations

import logging
from functools import partial

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from connectors.kit import ConnectorError
from connectors.kit.ids import new_id
from connectors.kit.model import Page
from connectors.kit.signatures import SignatureRejected
from connectors.kit.spec import WebhookRequest
from connectors.registry import VENDORS
from engine.config import PullSource
from engine.jsonio import MAX_DEPTH, loads
from engine.profiles import Registry
from engine.server.inbound import decode_headers
from engine.server.refusals import Refusal, error_response, refuse
from engine.server.state import InletState
from engine.sync.apply import Target, apply_pages

log = logging.getLogger("inlet.webhooks")
MAX_DELIVERY_BYTES = 4 << 20  # vendors' deliveries are far smaller; anything bigger is not one


async def webhook_endpoint(request: Request) -> Response:
    state: InletState = request.app.state.inlet
    source_id = request.path_params["source_id"]
    headers = decode_headers(request)
    body = b""
    try:
        source = _source(state, source_id)
        body = await _read(request)
        _verify(state, source, request, headers, body)
        _check_depth(body)
    except ClientDisconnect:
        return Response(status_code=400)
    except Refusal as refusal:
        return await refuse(state.writer, request, refusal, source_id, body)
    connector = await state.connector(source)
    try:
        groups = await _records(source, connector, headers, body)
    except ValueError as exc:
        return await refuse(state.writer, request, Refusal(400, "malformed_delivery", str(exc)), source_id, body)
    except ConnectorError as exc:  # the vendor did not answer the read-back: let it deliver again later
        log.warning("webhook for %s: reading the objects back failed: %s", source_id, exc)
        return error_response(503, "vendor_unavailable", f"reading the objects back failed: {exc}",
                              {"Retry-After": "30"})
    streams = {s.name: s.object_type for s in connector.streams()}
    changed = 0
    delivery = new_id()
    for name, records in groups.items():
        if records:
            page = Page(records, None, push=True, mode="webhook")
            counts = await state.writer.run(partial(apply_pages, target=Target(source_id, streams[name], delivery,
                                                                         Registry.of(state.config)),
                                                    pages=[page]))
            changed += counts.changed
    return Response(orjson.dumps({"received": True, "objects": sum(len(r) for r in groups.values()),
                                  "changed": changed}), media_type="application/json")


def _source(state: InletState, source_id: str) -> PullSource:
    source = state.config.source(source_id)
    if source is None:
        raise Refusal(401, "unknown_source", f"no source {source_id[:64]!r} is configured on this server")
    if not isinstance(source, PullSource):
        raise Refusal(401, "not_a_cloud_app", f"source {source_id!r} uses the {source.bridge!r} bridge, which "
                      "takes no vendor webhooks")
    if not source.enabled:
        raise Refusal(401, "source_disabled", f"source {source_id!r} is disabled")
    if source.webhook_secret is None:
        raise Refusal(401, "webhooks_not_enabled", f"source {source_id!r} has no webhook_secret: its webhooks "
                      "are refused")
    return source


async def _read(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_DELIVERY_BYTES:
            raise Refusal(413, "body_too_large", f"a delivery is at most {MAX_DELIVERY_BYTES} bytes", size=size)
        chunks.append(chunk)
    return b"".join(chunks)


def _verify(state: InletState, source: PullSource, request: Request, headers: dict[str, str], body: bytes) -> None:
    secret = source.webhook_secret.get_secret_value()
    try:
        VENDORS[source.bridge].verify_webhook(
            secret, WebhookRequest(request.method, _public_uri(state, request), headers, body))
    except SignatureRejected as exc:
        raise Refusal(401, exc.reason, f"the webhook signature was refused: {exc}") from None


def _check_depth(body: bytes) -> None:
    """A delivery nested deeper than request data may be (its objects are stored as JSON) is refused here; the
    bracket count keeps the parse off the path of every real delivery."""
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:
        return
    try:
        loads(body)
    except ValueError as exc:
        raise Refusal(400, "malformed_delivery", f"the delivery cannot be read: {exc}") from None


def _public_uri(state: InletState, request: Request) -> str:
    """The URI HubSpot called (and signed): `server.public_url` plus the path and query, else this request's."""
    public = state.config.server.public_url
    if not public:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return public.rstrip("/") + request.url.path + query


async def _records(source: PullSource, connector, headers: dict[str, str], body: bytes) -> dict:
    try:
        return await VENDORS[source.bridge].delivery_records(connector, headers, body)
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"the delivery is not what {source.bridge} sends: {type(exc).__name__}: {exc}") from None
