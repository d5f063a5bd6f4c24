"""The Segment-compatible tracking API for `tracking` sources: `POST /v1/{track,identify,page,screen,group,alias,
batch}` and analytics.js's short forms `/v1/{t,i,p,s,g,a,b}`, so the tracking SDKs people already run
(analytics.js, analytics-python, analytics-node, the mobile SDKs, Customer.io's) work unchanged.

Who: the source's `write_key` as the HTTP Basic user name (password empty), as a Bearer token (Customer.io's
SDKs with a regional key), or as `writeKey` in the body; a key of no enabled tracking source is a 401.
What: a JSON body sent as application/json or text/plain (analytics.js uses text/plain to skip the CORS
preflight), gzip allowed, at most 500 KB (413) once decompressed, each message at most 32 KB (400). A batch
whose envelope is good is answered 200 `{"success": true}` like Segment does; each invalid message in it is
refused on its own (a `rejections` row, and listed under `rejected` in the answer) and the valid ones stored.
Nesting: a message may nest 128 levels of arrays and objects (engine.jsonio.MAX_DEPTH); a deeper call is a 400
`malformed_json`, and so is a deeper message in a batch, refused on its own. A rejection's excerpt never holds
a write key, however the body spells it. The answer goes out once every stored message is durable, as for the
collect webhooks. engine/server/tracking_spec.py says how a message becomes an event.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import re
import time
import zlib
from functools import partial

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from engine import metrics
from engine.config import TrackingSource
from engine.jsonio import MAX_DEPTH, PARSER_DEPTH, dumps, loads, too_deep
from engine.server.admission import Throttled, charge, check_room, checked, throttled
from engine.server.collect import _read_body
from engine.server.inbound import context_json, decode_headers
from engine.server.refusals import Refusal, error_response, record_refusal, refuse
from engine.server.state import InletState
from engine.server.tracking_spec import MAX_MESSAGE, TYPES, to_event
from engine.store import StoreUnavailable

MAX_BATCH = 500 * 1024  # bytes of a request body, decompressed
CALLS = {"track": "track", "identify": "identify", "page": "page", "screen": "screen", "group": "group",
         "alias": "alias", "batch": None, "t": "track", "i": "identify", "p": "page", "s": "screen", "g": "group",
         "a": "alias", "b": None}
PREFLIGHT = {"Access-Control-Allow-Methods": "POST, OPTIONS",
             "Access-Control-Allow-Headers": "Content-Type, Authorization, Content-Encoding",
             "Access-Control-Max-Age": "86400"}
_JSON_TYPES = frozenset({"", "application/json", "text/plain"})
_ESCAPE = re.compile(rb"\\u([0-9a-fA-F]{4})|\\(.)", re.DOTALL)
_UNPARSED = object()
_SUCCESS = b'{"success":true}'


def add_tracking_routes(app) -> None:
    """Put the tracking routes first in `app`'s route list (next to the other hot routes)."""
    app.router.routes[:0] = [Route(f"/v1/{name}", _endpoint(kind), methods=["POST", "OPTIONS"],
                                   include_in_schema=False) for name, kind in CALLS.items()]


def _endpoint(kind: str | None):
    async def endpoint(request: Request) -> Response:
        origin = {"Access-Control-Allow-Origin": "*"}  # browsers post from any site; no cookies are involved
        if request.method == "OPTIONS":
            return Response(status_code=204, headers={**origin, **PREFLIGHT})
        try:
            response = await receive(request, kind)
        except ClientDisconnect:  # the sender left mid-body: nothing was stored and nobody waits for an answer
            return Response(status_code=400)
        response.headers.update(origin)
        return response

    return endpoint


async def receive(request: Request, kind: str | None) -> Response:
    """One call (`kind`) or a batch (`kind` None): refuse it, or store its messages and answer success."""
    state: InletState = request.app.state.inlet
    received_us = time.time_ns() // 1000
    headers = decode_headers(request)
    source, body, plain, data = None, b"", None, _UNPARSED
    try:
        source = _source_by_header(state, headers)
        _check_enabled(source)
        if source is not None:
            check_room(state, source.id)  # over its rate limit: refused before the body is read
        body = await _read_body(request, headers, MAX_BATCH)
        plain = body = _decompressed(body, headers)
        data = _parsed(body, headers, MAX_DEPTH if kind is not None else PARSER_DEPTH)
        if not isinstance(data, dict):
            raise Refusal(400, "body_not_an_object", "the JSON body must be an object")
        if source is None:
            source = _source_by_body(state, data)
            _check_enabled(source)
        charge(state, source.id, len(data["batch"]) if kind is None and isinstance(data.get("batch"), list) else 1)
        check = partial(checked, state, source.id)  # the source's event schemas
        if kind is not None and len(body) > MAX_MESSAGE:
            raise Refusal(400, "message_too_large", f"a message may be at most {MAX_MESSAGE} bytes; "
                          f"this one is {len(body)}", size=len(body))
        request_context = orjson.loads(context_json(request, headers))
        if kind is not None:
            events, refused = [to_event(data, kind, source.id, received_us, request_context, check=check)], []
        else:
            events, refused = _batch(data, source.id, received_us, request_context, check)
    except Throttled as refusal:
        return await throttled(state, request, refusal, source.id)
    except Refusal as refusal:
        if refusal.size is None:
            refusal.size = len(body)
        excerpt = _excerpt(plain, data) if plain is not None else b""  # a body still encoded may hide a key
        return await refuse(state.writer, request, refusal, source.id if source else None, excerpt)

    try:
        await asyncio.gather(state.writer.write_many(events),
                             *(record_refusal(state.writer, request, r, source.id, excerpt)
                               for _, r, excerpt in refused))
    except StoreUnavailable:
        return error_response(503, "store_unavailable", "the messages could not be stored; retry later",
                              {"Retry-After": "1"})
    metrics.acknowledged(source.id, received_us, len(events))
    if not refused:
        return Response(_SUCCESS, media_type="application/json")
    rejected = [{"index": i, "error": r.reason, "message": r.message, **(r.details or {})} for i, r, _ in refused]
    return Response(orjson.dumps({"success": True, "rejected": rejected}), media_type="application/json")


def _batch(data: dict, source_id: str, received_us: int, request_context: dict, check=None) -> tuple[list, list]:
    """The events of a batch's valid messages, and (index, Refusal, excerpt) for each invalid one (`check`: the
    source's event schemas, as for `to_event`)."""
    items = data.get("batch")
    if not isinstance(items, list):
        raise Refusal(400, "invalid_batch", "a batch body needs `batch`: an array of messages")
    if too_deep({k: v for k, v in data.items() if k != "batch"}, MAX_DEPTH):  # its context goes in every message
        raise Refusal(400, "malformed_json", f"the batch body around `batch` nests deeper than {MAX_DEPTH} levels "
                      "of arrays and objects, the most this server reads")
    events, refused = [], []
    for i, item in enumerate(items):
        raw = b""
        try:
            raw = _message_bytes(item)
            if not isinstance(item, dict):
                raise Refusal(400, "message_not_an_object", "each message of `batch` must be a JSON object")
            if len(raw) > MAX_MESSAGE:
                raise Refusal(400, "message_too_large", f"a message may be at most {MAX_MESSAGE} bytes; "
                              f"message {i} is {len(raw)}")
            if item.get("type") not in TYPES:
                raise Refusal(400, "invalid_type", f"`type` must be one of {', '.join(TYPES)}")
            events.append(to_event(item, item["type"], source_id, received_us, request_context, data, check=check))
        except Refusal as refusal:
            refusal.message = f"batch[{i}]: {refusal.message}"
            if refusal.size is None:
                refusal.size = len(raw)
            refused.append((i, refusal, _excerpt(raw, item) if raw else b""))
    return events, refused


def _message_bytes(item) -> bytes:
    """A batch message as JSON text; a message nested deeper than MAX_DEPTH is refused on its own (the batch
    body may nest up to PARSER_DEPTH, so that one such message does not cost the others)."""
    try:
        raw = orjson.dumps(item)
    except TypeError:  # a big integer, or nesting orjson does not write: both are checked below
        raw = None
    if (raw is None or raw.count(b"[") + raw.count(b"{") > MAX_DEPTH) and too_deep(item, MAX_DEPTH):
        raise Refusal(400, "malformed_json", f"the message nests deeper than {MAX_DEPTH} levels of arrays and "
                      "objects, the most this server reads")
    return raw if raw is not None else dumps(item).encode()


def _source_by_header(state: InletState, headers: dict[str, str]) -> TrackingSource | None:
    """The source whose write key the Authorization header carries; None without the header."""
    given = headers.get("authorization")
    if not given:
        return None
    scheme, _, token = given.strip().partition(" ")
    token = token.strip()
    if scheme.lower() == "basic":
        try:
            key = base64.b64decode(token, validate=True).decode("utf-8").partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            raise Refusal(401, "unknown_write_key", "the Authorization header is not valid Basic credentials; "
                          "send the write key as the user name and an empty password") from None
    elif scheme.lower() == "bearer":
        key = token
    else:
        raise Refusal(401, "unknown_write_key", "send the write key as HTTP Basic credentials (the user name, "
                      "empty password) or as `writeKey` in the body")
    return _source_by_key(state, key)


def _source_by_body(state: InletState, data: dict) -> TrackingSource:
    key = data.get("writeKey")
    if not isinstance(key, str) or not key:
        raise Refusal(401, "missing_write_key", "send the source's write key as HTTP Basic credentials (the user "
                      "name, empty password) or as `writeKey` in the body")
    return _source_by_key(state, key)


def _source_by_key(state: InletState, key: str) -> TrackingSource:
    """The source with this write key (enabled or not). Every tracking source's key is compared, each in
    constant time."""
    found = None
    given = key.encode()
    for source in state.config.sources:
        if isinstance(source, TrackingSource) and \
                hmac.compare_digest(source.write_key.get_secret_value().encode(), given) and found is None:
            found = source
    if found is None:
        raise Refusal(401, "unknown_write_key", "the write key is not the key of a tracking source on this server")
    return found


def _check_enabled(source: TrackingSource | None) -> None:
    if source is not None and not source.enabled:
        raise Refusal(401, "source_disabled", f"source {source.id!r} is disabled")


def _decompressed(body: bytes, headers: dict[str, str]) -> bytes:
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise Refusal(415, "unsupported_content_encoding", f"send the body plain or gzipped (got {encoding[:32]!r})")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, MAX_BATCH + 1)
    except zlib.error as exc:
        raise Refusal(400, "malformed_gzip", f"the gzip body cannot be decompressed: {exc}") from None
    if len(out) > MAX_BATCH:
        raise Refusal(413, "body_too_large", f"the body is over {MAX_BATCH} bytes once decompressed, the most "
                      "the tracking API takes", size=len(out))
    if not inflater.eof:
        raise Refusal(400, "malformed_gzip", "the gzip body is truncated")
    return out


def _parsed(body: bytes, headers: dict[str, str], max_depth: int):
    mime = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if mime not in _JSON_TYPES and not (mime.startswith("application/") and mime.endswith("+json")):
        raise Refusal(415, "unsupported_media_type",
                      f"send the body as JSON, typed application/json or text/plain (got {mime})")
    try:
        return loads(body, max_depth)
    except ValueError as exc:
        raise Refusal(400, "malformed_json", f"the body cannot be read as JSON: {exc}") from None


def _excerpt(text: bytes, data) -> bytes:
    """`text` (JSON text of `data`, or a body that is not JSON: `data` _UNPARSED) for a rejection's excerpt,
    without the write key it may carry however its name and value are spelled (JSON escapes included). A body
    that could not be parsed and may hold a key keeps no excerpt."""
    if data is _UNPARSED:
        return b"" if b"writeKey" in _ESCAPE.sub(_unescape, text) else text
    objects = [data] if isinstance(data, dict) else data if isinstance(data, list) else []
    if not any(isinstance(o, dict) and "writeKey" in o for o in objects):
        return text  # no member is named writeKey, however spelled: the text as sent is safe
    scrubbed = [{**o, "writeKey": "***"} if isinstance(o, dict) and "writeKey" in o else o for o in objects]
    data = scrubbed[0] if isinstance(data, dict) else scrubbed
    try:
        return dumps(data).encode()
    except ValueError:  # nests too deeply to write again
        return b""


def _unescape(match: re.Match) -> bytes:
    """One JSON escape, decoded far enough to find a member name spelled with escapes (ASCII is all it takes)."""
    if match[1] is None:
        return match[2]
    code = int(match[1], 16)
    return bytes([code]) if code < 128 else b"?"
