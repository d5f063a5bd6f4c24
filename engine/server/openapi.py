"""The OpenAPI description of the collect webhooks, redirect links and the pixel.

They are plain Starlette routes (FastAPI's per-request dependency machinery cost 30-40% of their
throughput), so FastAPI cannot describe them from their signature; this module does, by hand."""

from __future__ import annotations

_ERROR = {
    "type": "object",
    "required": ["error", "message", "status"],
    "properties": {
        "error": {"type": "string", "description": "a stable reason code, e.g. malformed_json"},
        "message": {"type": "string"},
        "status": {"type": "integer"},
    },
}
_ANSWER = {
    "type": "object",
    "required": ["event_id", "source_id", "event_type", "profile_id", "session_id"],
    "properties": {
        "event_id": {"type": "string", "format": "uuid", "description": "UUIDv7: sorts by arrival"},
        "source_id": {"type": "string"},
        "event_type": {"type": "string"},
        "profile_id": {"type": "string", "format": "uuid", "nullable": True},
        "session_id": {"type": "string", "nullable": True},
    },
}


def _param(name: str, pattern: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "pattern": pattern}}


def _operation(method: str, with_session: bool) -> dict:
    params = [
        _param("event_type", "^[A-Za-z0-9_.:-]{1,64}$", "the event's type"),
        _param("source_id", "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", "a configured source with the webhook bridge"),
    ]
    if with_session:
        params.append(_param("session_id", "^[A-Za-z0-9_.:@-]{1,128}$",
                             "ties the event to the session's profile (created on first sight)"))
    params += [
        {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string", "maxLength": 255},
         "description": "the same key (or `event_id` property) on a resend returns the first answer"},
        {"name": "Authorization", "in": "header", "required": False, "schema": {"type": "string"},
         "description": "`Bearer <secret>` when the source has a secret"},
    ]
    errors = {
        "400": "malformed input (event type, session id, JSON, form)",
        "401": "unknown, disabled or non-push source, or missing/wrong secret",
        "413": "body over `server.max_body_bytes`",
        "415": "a body that is neither JSON nor a form",
        "503": "the event could not be made durable; nothing was stored",
    }
    op = {
        "tags": ["collect"],
        "operationId": f"collect{'_session' if with_session else ''}_{method}",
        "summary": "Store one event" + (" for a session's profile" if with_session else " with no profile"),
        "description": "Properties come from the query string and the body (the body wins). The answer is sent "
                       "only once the event is durable.",
        "parameters": params,
        "responses": {
            "200": {"description": "stored (or, with a known idempotency key, stored before)",
                    "content": {"application/json": {"schema": _ANSWER}}},
            **{code: {"description": text, "content": {"application/json": {"schema": _ERROR}}}
               for code, text in errors.items()},
        },
    }
    if method == "post":
        op["requestBody"] = {"required": False, "content": {
            "application/json": {"schema": {"type": "object", "additionalProperties": True}},
            "application/x-www-form-urlencoded": {"schema": {"type": "object", "additionalProperties": True}},
        }}
    return op


def collect_paths() -> dict:
    return {
        "/collect/{event_type}/{source_id}": {m: _operation(m, False) for m in ("get", "post")},
        "/collect/{event_type}/{source_id}/{session_id}": {m: _operation(m, True) for m in ("get", "post")},
    }


def _get(summary: str, description: str, params: list[dict], responses: dict) -> dict:
    return {"get": {"tags": ["links"], "summary": summary, "description": description, "parameters": params,
                    "responses": responses}}


def link_paths() -> dict:
    source = _param("source_id", "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", "a configured source with the redirect bridge")
    link = _param("link_id", "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", "one of the source's configured links")
    session = _param("session_id", "^[A-Za-z0-9_.:@-]{1,128}$", "ties the click to a session (else the cookie)")
    event = _param("event_type", "^[A-Za-z0-9_.:-]{1,64}$", "the event's type, e.g. email-open")
    click = {"302": {"description": "to the link's configured URL, the query passed on; sets `inlet_session`"},
             "404": {"description": "unknown source or link: a plain page, never a redirect"}}
    gif = {"200": {"description": "a 1x1 transparent GIF, never cached, even when the request is refused",
                   "content": {"image/gif": {}}}}
    click_text = "Records the click (the link's properties plus the query), then redirects to the configured URL."
    open_text = "Records the open with the query as properties. A `.gif` suffix on the last segment is allowed."
    return {
        "/r/{source_id}/{link_id}": _get("Follow a tracked link", click_text, [source, link], click),
        "/r/{source_id}/{link_id}/{session_id}": _get("Follow a tracked link", click_text, [source, link, session],
                                                      click),
        "/pixel/{event_type}/{source_id}": _get("The open pixel", open_text, [event, source], gif),
        "/pixel/{event_type}/{source_id}/{session_id}": _get("The open pixel", open_text, [event, source, session],
                                                             gif),
    }


def _post(tag: str, summary: str, description: str, params: list[dict], responses: dict, body: dict) -> dict:
    return {"post": {"tags": [tag], "summary": summary, "description": description, "parameters": params,
                     "requestBody": {"required": True, "content": body},
                     "responses": {code: {"description": text, **({"content": {"application/json": {
                         "schema": _ERROR}}} if code >= "400" else {})} for code, text in responses.items()}}}


def webhook_paths() -> dict:
    source = _param("source_id", "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
                    "a configured stripe, shopify or hubspot source with `webhook_secret`")
    text = ("A vendor's signed delivery (Stripe-Signature, X-Shopify-Hmac-Sha256 or X-HubSpot-Signature-v3, checked "
            "on the raw body first), applied to `records` and `events` as a pull would, before the answer.")
    return {"/webhooks/{source_id}": _post(
        "webhooks", "A cloud app's signed webhook", text, [source],
        {"200": "applied: `{received, objects, changed}`", "400": "not the vendor's delivery shape",
         "401": "missing, wrong or stale signature; no webhook_secret; unknown, disabled or push source",
         "413": "bigger than any delivery", "503": "reading the object back from the vendor failed: deliver again"},
        {"application/json": {"schema": {}}})}


def tracking_paths() -> dict:
    calls = {"track": "t", "identify": "i", "page": "p", "screen": "s", "group": "g", "alias": "a", "batch": "b"}
    text = ("Segment-compatible: the write key as the Basic user name (or `writeKey` in the body); JSON as "
            "application/json or text/plain, gzip allowed. Answered once every message is durable.")
    responses = {"200": "stored: `{success: true}` (a batch lists the messages it refused)",
                 "400": "a message that breaks the spec (ids, fields, 32 KB)", "401": "missing or unknown write key",
                 "413": "a body over 500 KB", "415": "neither JSON nor text/plain",
                 "503": "the messages could not be made durable"}
    body = {"application/json": {"schema": {"type": "object"}}, "text/plain": {"schema": {"type": "string"}}}
    paths = {}
    for call, short in calls.items():
        op = _post("tracking", f"Tracking API: {call}", text, [], responses, body)
        paths[f"/v1/{call}"] = op
        paths[f"/v1/{short}"] = op
    return paths
