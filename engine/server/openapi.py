"""The OpenAPI description of the collect webhooks, redirect links, the pixel, vendor webhooks and the tracking API.

They are plain Starlette routes (FastAPI's per-request dependency machinery cost 30-40% of their
throughput), so FastAPI cannot describe them from their signature; this module does, by hand, saying what
the routes take and answer: tests/test_openapi_conformance.py holds the live server to it."""

from __future__ import annotations

from connectors.registry import VENDORS
from engine.config.models import ID_PATTERN as ID
from engine.server.collect import MAX_KEY
from engine.server.tracking import CALLS, MAX_BATCH
from engine.server.tracking_spec import MAX_MESSAGE, TYPES, batch_schema, message_schema

_JSON = "application/json"
_SCHEMAS = "#/components/schemas/"
_ERROR = {
    "type": "object",
    "required": ["error", "message", "status"],
    "properties": {
        "error": {"type": "string", "description": "a stable reason code, e.g. malformed_json"},
        "message": {"type": "string", "description": "what was wrong, for people"},
        "status": {"type": "integer", "description": "the HTTP status again"},
    },
}
# A 400 for an event that breaks its source's schema also lists the first violations.
_SCHEMA_VIOLATION = {"allOf": [{"$ref": "#/components/schemas/Error"}], "properties": {
    "violations": {"type": "array", "description": "with `schema_violation` (or `unknown_event_type`): the first "
                   "ways the event's properties break their schema", "items": {
                       "type": "object", "required": ["pointer", "message"], "properties": {
                           "pointer": {"type": "string", "description": "a JSON pointer into the properties"},
                           "message": {"type": "string"}}}}}}
_RETRY = {"Retry-After": {"description": "seconds to wait before sending again", "schema": {"type": "string"}}}
_ANSWER = {
    "type": "object",
    "required": ["event_id", "source_id", "event_type", "profile_id", "session_id"],
    "properties": {
        "event_id": {"type": "string", "format": "uuid", "description": "UUIDv7: sorts by arrival"},
        "source_id": {"type": "string"},
        "event_type": {"type": "string"},
        "profile_id": {"type": ["string", "null"], "format": "uuid"},
        "session_id": {"type": ["string", "null"]},
    },
}
_TRACKING_ANSWER = {"type": "object", "required": ["success"], "properties": {
    "success": {"const": True},
    "rejected": {"type": "array", "description": "the messages of a batch that were refused (not stored)",
                 "items": {"type": "object", "required": ["index", "error", "message"], "properties": {
                     "index": {"type": "integer"}, "error": {"type": "string"}, "message": {"type": "string"},
                     "violations": {**_SCHEMA_VIOLATION["properties"]["violations"]}}}}}}
SECURITY_SCHEMES = {
    "sourceSecret": {"type": "http", "scheme": "bearer",
                     "description": "a webhook source's `secret`; a source without one takes any Authorization"},
    "writeKey": {"type": "http", "scheme": "basic",
                 "description": "a tracking source's write key as the user name, the password empty"},
    "writeKeyBearer": {"type": "http", "scheme": "bearer",
                       "description": "a tracking source's write key as the token (Customer.io's SDKs)"},
}


def _ref(name: str) -> dict:
    return {"$ref": _SCHEMAS + name}


def _message(kind: str) -> str:
    return f"Tracking{kind.capitalize()}"


def schemas() -> dict:
    """The schemas the hand-described routes refer to, by name."""
    return {"Error": _ERROR, "SchemaViolation": _SCHEMA_VIOLATION, "CollectAnswer": _ANSWER,
            "TrackingAnswer": _TRACKING_ANSWER,
            **{_message(kind): message_schema(kind) for kind in TYPES},
            "TrackingBatch": batch_schema({kind: _ref(_message(kind)) for kind in TYPES})}


def document(base: dict) -> dict:
    """FastAPI's document of its own routes (`base`), with the hand-described routes first, and the schemas and
    security schemes they refer to."""
    paths = {**collect_paths(), **link_paths(), **tracking_paths(), **webhook_paths(), **base["paths"]}
    if "get" in paths.get("/status", {}):  # app.py's StoreBehind handler: the store had not caught up in time
        status = paths["/status"]["get"]
        status["responses"] = {**status["responses"], **_errors(
            {"503": "the store has not yet taken in what was acknowledged (it is safe in the spool)"})}
    components = base.get("components", {})
    return {**base, "paths": paths, "components": {
        **components, "schemas": {**components.get("schemas", {}), **schemas()},
        "securitySchemes": {**components.get("securitySchemes", {}), **SECURITY_SCHEMES}}}


def segment(chars: str, most: int) -> str:
    """A pattern for a path segment of 1-`most` characters of the regex class `chars` (which holds `.`), but
    not `.` or `..`: those are path steps that clients resolve before sending (RFC 3986), so never arrive."""
    other = chars.replace(".", "")
    return (f"^(?:[{other}][{chars}]{{0,{most - 1}}}|\\.[{other}][{chars}]{{0,{most - 2}}}"
            f"|\\.\\.[{chars}]{{1,{most - 2}}})$")


EVENT_TYPE = segment("A-Za-z0-9_.:-", 64)  # engine/server/inbound.py's EVENT_TYPE and SESSION_ID
SESSION_ID = segment("A-Za-z0-9_.:@-", 128)


def _param(name: str, pattern: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "pattern": pattern}}


def _errors(codes: dict[str, str], bad_request: str = "Error") -> dict:
    """The error answers: each the JSON error body (a 400's: `bad_request`, for the routes that check event
    schemas `SchemaViolation`); a 429 or 503 says when to retry."""
    return {code: {"description": text, "content": {_JSON: {"schema": _ref(bad_request if code == "400" else "Error")}},
                   **({"headers": _RETRY} if code in ("429", "503") else {})} for code, text in codes.items()}


def _event_id(location: str) -> dict:
    return {"type": ["string", "integer"] if location == "body" else "string", "minLength": 1, "maxLength": MAX_KEY,
            "description": "the idempotency key when no Idempotency-Key header is sent (a string, or an integer "
                           f"taken as its digits; 1-{MAX_KEY} characters)"}


def _collect(method: str, with_session: bool) -> dict:
    params = [
        _param("event_type", EVENT_TYPE, "the event's type"),
        _param("source_id", ID, "a configured source with the webhook bridge"),
    ]
    if with_session:
        params.append(_param("session_id", SESSION_ID, "ties the event to the session's profile (created on first "
                                                        "sight)"))
    params += [
        {"name": "Idempotency-Key", "in": "header", "required": False,
         "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY, "pattern": "[^ \\t]"},
         "description": "the same key (or `event_id` property) on a resend returns the first answer"},
        {"name": "event_id", "in": "query", "required": False, "schema": _event_id("query")},
    ]
    errors = {"400": "malformed input (event type, session id, idempotency key" +
                     (", JSON, form)" if method == "post" else ")") + ", or properties that break the source's "
                     "event schema (`schema_violation`, `unknown_event_type`)",
              "401": "unknown, disabled or non-push source, or missing/wrong secret"}
    if method == "post":
        errors |= {"413": "body over `server.max_body_bytes`", "415": "a body that is neither JSON nor a form"}
    errors["429"] = "`rate_limited`: the source is over its `rate_limit`; nothing was stored, send again after " \
                    "Retry-After seconds"
    errors["503"] = "the event could not be made durable; nothing was stored"
    op = {
        "tags": ["collect"],
        "operationId": f"collect{'_session' if with_session else ''}_{method}",
        "summary": "Store one event" + (" for a session's profile" if with_session else " with no profile"),
        "description": "Properties come from the query string and the body (the body wins). The answer is sent "
                       "only once the event is durable.",
        "parameters": params,
        "security": [{}, {"sourceSecret": []}],
        "responses": {
            "200": {"description": "stored (or, with a known idempotency key, stored before)",
                    "headers": {"Idempotent-Replayed": {"description": "`true` when the key was stored before",
                                                        "schema": {"type": "string", "enum": ["true"]}}},
                    "content": {_JSON: {"schema": _ref("CollectAnswer")}}},
            **_errors(errors, "SchemaViolation"),
        },
    }
    if method == "post":
        body = {"type": "object", "additionalProperties": True, "properties": {"event_id": _event_id("body")}}
        form = {"type": "object", "additionalProperties": True, "properties": {"event_id": _event_id("query")}}
        op["requestBody"] = {"required": False, "description": "none, or a JSON object (also typed "
                             "application/*+json), or a UTF-8 form", "content": {
                                 _JSON: {"schema": body}, "application/x-www-form-urlencoded": {"schema": form}}}
    return op


def collect_paths() -> dict:
    return {
        "/collect/{event_type}/{source_id}": {m: _collect(m, False) for m in ("get", "post")},
        "/collect/{event_type}/{source_id}/{session_id}": {m: _collect(m, True) for m in ("get", "post")},
    }


def _get(op_id: str, summary: str, description: str, params: list[dict], responses: dict) -> dict:
    return {"get": {"tags": ["links"], "operationId": op_id, "summary": summary, "description": description,
                    "parameters": params, "responses": responses}}


def link_paths() -> dict:
    source = _param("source_id", ID, "a configured source with the redirect bridge")
    link = _param("link_id", ID, "one of the source's configured links")
    session = _param("session_id", SESSION_ID, "ties the click to a session (else the cookie; an invalid one is "
                                               "recorded as a rejection and the click goes on)")
    event = _param("event_type", EVENT_TYPE, "the event's type, e.g. email-open")
    no_cache = {"Cache-Control": {"description": "never cached", "schema": {"type": "string"}}}
    click = {"302": {"description": "to the link's configured URL, the query passed on; sets `inlet_session`",
                     "headers": {"Location": {"description": "the configured URL", "schema": {"type": "string"}},
                                 "Set-Cookie": {"description": "`inlet_session`", "schema": {"type": "string"}},
                                 **no_cache}},
             "404": {"description": "unknown source or link: a plain page, never a redirect",
                     "content": {"text/plain": {"schema": {"type": "string"}}}}}
    gif = {"200": {"description": "a 1x1 transparent GIF, never cached, even when the request is refused",
                   "headers": no_cache, "content": {"image/gif": {"schema": {"type": "string", "format": "binary"}}}}}
    same = (" Over the source's `rate_limit`, or when its event schema refuses the event, the answer is the same "
            "and no event is stored.")
    click_text = "Records the click (the link's properties plus the query), then redirects to the configured URL." + \
        same
    open_text = "Records the open with the query as properties. A `.gif` suffix on the last segment is allowed." + \
        same
    return {
        "/r/{source_id}/{link_id}": _get("link", "Follow a tracked link", click_text, [source, link], click),
        "/r/{source_id}/{link_id}/{session_id}": _get("link_session", "Follow a tracked link", click_text,
                                                      [source, link, session], click),
        "/pixel/{event_type}/{source_id}": _get("pixel", "The open pixel", open_text, [event, source], gif),
        "/pixel/{event_type}/{source_id}/{session_id}": _get("pixel_session", "The open pixel", open_text,
                                                             [event, source, session], gif),
    }


def webhook_paths() -> dict:
    signed = [spec for spec in VENDORS.values() if spec.webhook_headers]
    names = ", ".join(spec.bridge for spec in signed)
    source = _param("source_id", ID, f"a configured source ({names}) with `webhook_secret`")
    headers = [{"name": header, "in": "header", "required": False, "schema": {"type": "string"},
                "description": f"{spec.title}: {what} (required for a {spec.title} source)"}
               for spec in signed for header, what in spec.webhook_headers.items()]
    text = (f"A vendor's signed delivery ({', '.join(h['name'] for h in headers)}; checked on the raw body first, "
            "whatever its Content-Type), applied to `records` and `events` as a pull would, before the answer.")
    applied = {"type": "object", "required": ["received", "objects", "changed"], "properties": {
        "received": {"const": True}, "objects": {"type": "integer", "minimum": 0},
        "changed": {"type": "integer", "minimum": 0}}}
    errors = {"400": "not the vendor's delivery shape",
              "401": "missing, wrong or stale signature; no webhook_secret; unknown, disabled or push source",
              "413": "bigger than any delivery",
              "503": "reading the object back from the vendor failed: deliver again"}
    op = {"tags": ["webhooks"], "operationId": "webhook", "summary": "A cloud app's signed webhook",
          "description": text,
          "parameters": [source, *headers],
          "requestBody": {"required": True, "content": {_JSON: {"schema": {}}}},
          "responses": {"200": {"description": "applied", "content": {_JSON: {"schema": applied}}},
                        **_errors(errors)}}
    return {"/webhooks/{source_id}": {"post": op}}


def _tracking(call: str, path: str, kind: str | None) -> dict:
    body = _ref("TrackingBatch" if kind is None else _message(kind))
    text = ("Segment-compatible: the write key as the Basic user name, a Bearer token, or `writeKey` in the body; "
            "a JSON object as application/json, text/plain (what analytics.js sends) or untyped, gzip allowed "
            f"(Content-Encoding), at most {MAX_BATCH // 1024} KB decompressed" +
            (f", one message at most {MAX_MESSAGE // 1024} KB. " if kind else
             f", each message at most {MAX_MESSAGE // 1024} KB. ") + "Answered once every message is durable.")
    cors = {"Access-Control-Allow-Origin": {"description": "`*`", "schema": {"type": "string"}}}
    errors = {"400": "malformed JSON or gzip, not an object" + (", or a message that breaks the spec (ids, fields, "
                                                                 f"{MAX_MESSAGE // 1024} KB) or the source's event "
                                                                 "schema (`schema_violation`)" if kind else
                                                                 ", or no `batch` array"),
              "401": "missing or unknown write key, or a disabled source",
              "413": f"a body over {MAX_BATCH // 1024} KB once decompressed",
              "415": "neither JSON nor text/plain, or an encoding other than gzip",
              "429": "`rate_limited`: the source is over its `rate_limit` (a batch costs its message count); "
                     "nothing was stored, send again after Retry-After seconds",
              "503": "the messages could not be made durable; nothing was stored"}
    post = {"tags": ["tracking"], "operationId": f"tracking_{path}", "summary": f"Tracking API: {call}",
            "description": text, "security": [{"writeKey": []}, {"writeKeyBearer": []}, {}],
            "requestBody": {"required": True, "description": "a JSON object: typed application/json, or text/plain "
                            "(the same JSON text), or not typed", "content": {_JSON: {"schema": body},
                                                                            "text/plain": {"schema": body}}},
            "responses": {"200": {"description": "stored" + ("" if kind else " (the valid messages)"),
                                  "headers": cors, "content": {_JSON: {"schema": _ref("TrackingAnswer")}}},
                          **_errors(errors, "SchemaViolation")}}
    preflight = {"tags": ["tracking"], "operationId": f"tracking_{path}_preflight", "summary": "CORS preflight",
                 "responses": {"204": {"description": "any origin may post", "headers": {
                     **cors, "Access-Control-Allow-Methods": {"schema": {"type": "string"}},
                     "Access-Control-Allow-Headers": {"schema": {"type": "string"}}}}}}
    return {"post": post, "options": preflight}


def tracking_paths() -> dict:
    """Every call and its short form (`/v1/t` for `/v1/track`, `/v1/b` for `/v1/batch`)."""
    return {f"/v1/{name}": _tracking(kind or "batch", name, kind) for name, kind in CALLS.items()}
