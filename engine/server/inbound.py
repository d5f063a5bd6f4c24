"""What every inbound route (collect, redirect links, the pixel) reads from a request the same way: the
headers, the query string as properties, the `context` kept with an event, and the id patterns."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from starlette.requests import Request

from engine.jsonio import dumps

EVENT_TYPE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
SESSION_ID = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")
EVENT_TYPE_RULE = "the event type must be 1-64 characters of A-Z a-z 0-9 _ . : -"
SESSION_ID_RULE = "the session id must be 1-128 characters of A-Z a-z 0-9 _ . : @ -"
_DROPPED_HEADERS = frozenset({"authorization", "cookie"})
# What one event's `context` may hold of the request headers, whatever the server's limits let in
CONTEXT_HEADERS = 50
CONTEXT_NAME_CHARS = 128
CONTEXT_VALUE_CHARS = 1024


def decode_headers(request: Request) -> dict[str, str]:
    """Decoded once: Starlette's Headers would scan and decode the raw list again on every lookup."""
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"]}


def multi(pairs) -> dict:
    """Query or form pairs as a dict; a repeated name keeps all its values, in order, as a list."""
    out: dict = {}
    for name, value in pairs:
        if name in out:
            prev = out[name]
            out[name] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            out[name] = value
    return out


def query_pairs(request: Request) -> list[tuple[str, str]]:
    query = request.scope["query_string"]
    return parse_qsl(query.decode("latin-1"), keep_blank_values=True) if query else []


def context_json(request: Request, headers: dict[str, str], extra: dict | None = None) -> str:
    """The client IP, user agent, referer and the request headers but Authorization and Cookie: at most
    CONTEXT_HEADERS of them (the first ones), names and values cut to CONTEXT_NAME_CHARS and CONTEXT_VALUE_CHARS,
    whatever the server's limits let in. When anything was left out, `truncated` is true. `extra`: more keys
    (an event's `schema_violations`)."""
    client = request.scope.get("client")
    kept: dict[str, str] = {}
    truncated = False
    for name, value in headers.items():
        if name in _DROPPED_HEADERS:
            continue
        if len(kept) == CONTEXT_HEADERS:
            truncated = True
            break
        if len(name) > CONTEXT_NAME_CHARS or len(value) > CONTEXT_VALUE_CHARS:
            name, value, truncated = name[:CONTEXT_NAME_CHARS], value[:CONTEXT_VALUE_CHARS], True
        kept[name] = value
    context = {
        "ip": client[0] if client else None,
        "user_agent": _cut(headers.get("user-agent")),
        "referer": _cut(headers.get("referer")),
        "headers": kept,
    }
    if truncated:
        context["truncated"] = True
    if extra:
        context.update(extra)
    return dumps(context)


def _cut(value: str | None) -> str | None:
    return value[:CONTEXT_VALUE_CHARS] if value is not None else None
