"""The collect webhooks: `GET|POST /collect/{event_type}/{source_id}[/{session_id}]`.

The order of checks is fixed: who is sending (source, secret), then what (event type, session id, body
size, body). Every refusal is a 4xx JSON answer plus a `rejections` row; an accepted event is answered
only after the writer has committed it.
"""

from __future__ import annotations

import hmac
import time
from urllib.parse import parse_qsl

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from connectors.kit.ids import new_id
from engine import metrics
from engine.config import PUSH_BRIDGES
from engine.jsonio import dumps, loads
from engine.server.admission import Throttled, charge, checked, throttled
from engine.server.inbound import (
    EVENT_TYPE,
    EVENT_TYPE_RULE,
    SESSION_ID,
    SESSION_ID_RULE,
    context_json,
    decode_headers,
    multi,
    query_pairs,
)
from engine.server.refusals import Refusal, error_response, refuse
from engine.server.state import InletState
from engine.store import EventIn, StoreUnavailable

MAX_KEY = 255


async def collect_endpoint(request: Request) -> Response:
    """The route's endpoint: a plain Starlette one (see engine/server/openapi.py for why)."""
    p = request.path_params
    try:
        return await collect(request, p["event_type"], p["source_id"], p.get("session_id"))
    except ClientDisconnect:  # the sender left mid-body: nothing was stored and nobody waits for an answer
        return Response(status_code=400)


async def collect(request: Request, event_type: str, source_id: str, session_id: str | None = None) -> Response:
    state: InletState = request.app.state.inlet
    received_us = time.time_ns() // 1000
    headers = decode_headers(request)
    body = b""
    try:
        _authorize(state, headers, source_id)
        charge(state, source_id)  # the source's rate limit, before anything is read or stored
        if not EVENT_TYPE.fullmatch(event_type):
            raise Refusal(400, "invalid_event_type", EVENT_TYPE_RULE)
        if session_id is not None and not SESSION_ID.fullmatch(session_id):
            raise Refusal(400, "invalid_session_id", SESSION_ID_RULE)
        body = await _read_body(request, headers, state.config.server.max_body_bytes)
        properties = _properties(request, headers, body)
        key = _idempotency_key(headers, properties)
        extra = checked(state, source_id, event_type, properties)  # the source's event schemas
    except Throttled as refusal:
        return await throttled(state, request, refusal, source_id)
    except Refusal as refusal:
        return await refuse(state.writer, request, refusal, source_id, body)

    event = EventIn(
        event_id=new_id(),
        source_id=source_id,
        event_type=event_type,
        occurred_us=received_us,
        received_us=received_us,
        session_id=session_id,
        properties=dumps(properties),
        context=context_json(request, headers, extra),
        idempotency_key=key,
    )
    try:
        stored = await state.writer.write(event)
    except StoreUnavailable:
        return error_response(503, "store_unavailable", "the event could not be stored; retry later",
                              {"Retry-After": "1"})
    answer = {
        "event_id": stored.event_id,
        "source_id": stored.source_id,
        "event_type": stored.event_type,
        "profile_id": stored.profile_id,
        "session_id": stored.session_id,
    }
    metrics.acknowledged(source_id, received_us)
    headers = {"Idempotent-Replayed": "true"} if stored.replayed else None
    return Response(orjson.dumps(answer), media_type="application/json", headers=headers)


def _authorize(state: InletState, headers: dict[str, str], source_id: str) -> None:
    source = state.config.source(source_id)
    if source is None:
        raise Refusal(401, "unknown_source", f"no source {source_id[:64]!r} is configured on this server")
    if source.bridge not in PUSH_BRIDGES:
        raise Refusal(401, "not_a_push_source", f"source {source_id!r} uses the {source.bridge!r} bridge, "
                      "which does not take collect events")
    if not source.enabled:
        raise Refusal(401, "source_disabled", f"source {source_id!r} is disabled")
    secret = getattr(source, "secret", None)
    if secret is not None:
        given = headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if not given:
            raise Refusal(401, "missing_secret",
                          f"source {source_id!r} needs its secret as 'Authorization: Bearer <secret>'")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), secret.get_secret_value().encode()
        ):
            raise Refusal(401, "wrong_secret", f"the secret sent for source {source_id!r} is not its secret")


async def _read_body(request: Request, headers: dict[str, str], limit: int) -> bytes:
    announced = headers.get("content-length")
    if announced is not None:
        if not announced.isdigit():
            raise Refusal(400, "invalid_content_length", "the Content-Length header is not a number")
        if int(announced) > limit:
            raise Refusal(413, "body_too_large", f"the body is {announced} bytes; this server takes at most {limit}",
                          size=int(announced))
    chunks, total = [], 0
    while True:  # straight from the ASGI channel: the common single-message body costs one await
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise Refusal(413, "body_too_large", f"the body is over {limit} bytes, the most this server takes",
                          size=total)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _properties(request: Request, headers: dict[str, str], body: bytes) -> dict:
    properties = multi(query_pairs(request))
    if not body.strip():
        return properties
    mime = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if mime == "application/json" or (mime.startswith("application/") and mime.endswith("+json")):
        try:
            data = loads(body)
        except ValueError as exc:
            raise Refusal(400, "malformed_json", f"the body cannot be read as JSON: {exc}") from None
        if not isinstance(data, dict):
            kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
            kind = kinds.get(type(data), "a number")
            raise Refusal(400, "body_not_an_object", f"the JSON body must be an object, not {kind}")
    elif mime == "application/x-www-form-urlencoded":
        try:
            data = multi(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            raise Refusal(400, "malformed_form", "the form body is not UTF-8") from None
    else:
        raise Refusal(415, "unsupported_media_type",
                      "send the body as application/json or application/x-www-form-urlencoded "
                      f"(got {mime or 'no Content-Type'})")
    properties.update(data)  # the body wins over URL parameters of the same name
    return properties


def _idempotency_key(headers: dict[str, str], properties: dict) -> str | None:
    key = headers.get("idempotency-key")
    if key is None:
        value = properties.get("event_id")
        if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            key = str(value)
    if key is not None and not 0 < len(key) <= MAX_KEY:
        raise Refusal(400, "invalid_idempotency_key", f"an idempotency key must be 1-{MAX_KEY} characters")
    return key
