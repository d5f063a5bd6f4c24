"""Email and campaign tracking for `redirect` sources: redirect links and the open pixel.

`GET /r/{source_id}/{link_id}[/{session_id}]` records a click and answers 302 to the link's configured URL,
with the request's query parameters passed on. The target is only ever a configured URL: nothing in the
request can change its scheme, host or path (no open redirect); an unknown link is a plain 404 page.
A session (from the path, else the first-party cookie this route sets) ties one person's clicks together.

`GET /pixel/{event_type}/{source_id}[/{session_id}][.gif]` records an open and answers a 1x1 transparent
GIF that no cache keeps. It answers the GIF even when it refuses the request (mail clients show a broken
image otherwise); the refusal goes to `rejections` and no event is stored.
"""

from __future__ import annotations

import base64
import logging
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from connectors.kit.ids import new_id
from engine import metrics
from engine.config import RedirectSource
from engine.jsonio import dumps
from engine.server.admission import admitted, checked
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
from engine.server.refusals import Refusal, record_refusal
from engine.server.state import InletState
from engine.store import EventIn, StoreUnavailable

log = logging.getLogger("inlet.links")

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")  # 1x1, transparent
NO_CACHE = {"Cache-Control": "no-cache, no-store, must-revalidate, private, max-age=0", "Pragma": "no-cache",
            "Expires": "0"}
SESSION_COOKIE = "inlet_session"
COOKIE_MAX_AGE = 365 * 24 * 3600


async def redirect_endpoint(request: Request) -> Response:
    state: InletState = request.app.state.inlet
    p = request.path_params
    source_id, link_id = p["source_id"], p["link_id"]
    source = state.config.source(source_id)
    link = source.links.get(link_id) if isinstance(source, RedirectSource) else None
    if link is None:
        await record_refusal(state.writer, request, Refusal(404, "unknown_link", "no such link"), source_id)
        return PlainTextResponse("Link not found.\n", status_code=404, headers=NO_CACHE)

    pairs = query_pairs(request)
    session_id = p.get("session_id")
    if session_id is not None and not SESSION_ID.fullmatch(session_id):
        await record_refusal(state.writer, request, Refusal(400, "invalid_session_id", SESSION_ID_RULE), source_id)
        session_id = None  # the click still goes through: a person is waiting for the page
    if session_id is None:
        cookie = request.cookies.get(SESSION_COOKIE, "")
        session_id = cookie if SESSION_ID.fullmatch(cookie) else new_id()

    if source.enabled:
        properties = {**multi(pairs), **link.properties, "link_id": link_id}
        await _store(state, request, source_id, link.event_type, session_id, properties)
    else:
        await record_refusal(state.writer, request, Refusal(403, "source_disabled", "source disabled"), source_id)

    # Written by hand: the id only holds cookie-safe characters, and SimpleCookie costs ~13 us a click.
    cookie = f"{SESSION_COOKIE}={session_id}; Max-Age={COOKIE_MAX_AGE}; Path=/; HttpOnly; SameSite=Lax"
    if request.scope.get("scheme") == "https":
        cookie += "; Secure"
    return RedirectResponse(_target(link.url, pairs), status_code=302, headers={**NO_CACHE, "Set-Cookie": cookie})


async def unknown_link_endpoint(request: Request) -> Response:
    """Any other path under /r/: a plain 404 page, never a redirect."""
    state: InletState = request.app.state.inlet
    await record_refusal(state.writer, request, Refusal(404, "unknown_link", "no such link"), None)
    return PlainTextResponse("Link not found.\n", status_code=404, headers=NO_CACHE)


async def pixel_endpoint(request: Request) -> Response:
    state: InletState = request.app.state.inlet
    p = dict(request.path_params)
    last = "session_id" if "session_id" in p else "source_id"
    p[last] = p[last].removesuffix(".gif")
    event_type, source_id, session_id = p["event_type"], p["source_id"], p.get("session_id")
    source = state.config.source(source_id)
    refusal = None
    if not isinstance(source, RedirectSource):
        refusal = Refusal(401, "unknown_source", "no redirect source with that id")
    elif not source.enabled:
        refusal = Refusal(401, "source_disabled", "source disabled")
    elif not EVENT_TYPE.fullmatch(event_type):
        refusal = Refusal(400, "invalid_event_type", EVENT_TYPE_RULE)
    elif session_id is not None and not SESSION_ID.fullmatch(session_id):
        refusal = Refusal(400, "invalid_session_id", SESSION_ID_RULE)
    if refusal is not None:
        await record_refusal(state.writer, request, refusal, source_id)
    else:
        await _store(state, request, source_id, event_type, session_id, multi(query_pairs(request)))
    return Response(PIXEL, media_type="image/gif", headers=NO_CACHE)


async def _store(state: InletState, request: Request, source_id: str, event_type: str, session_id: str | None,
                 properties: dict) -> None:
    """Store the event; the answer (302 or GIF) goes out once it is durable. If the store cannot take it,
    the person still gets their page or image, and the failure is logged. Over the source's rate limit, or
    refused by its schemas, nothing is stored and the answer goes out all the same."""
    if not admitted(state, request, source_id):
        return
    try:
        extra = checked(state, source_id, event_type, properties)
    except Refusal as refusal:
        await record_refusal(state.writer, request, refusal, source_id)
        return
    now = time.time_ns() // 1000
    event = EventIn(new_id(), source_id, event_type, now, now, session_id, dumps(properties),
                    context_json(request, decode_headers(request), extra))
    try:
        await state.writer.write(event)
        metrics.acknowledged(source_id, now)
    except StoreUnavailable as exc:
        log.error("a %s event for %s was not stored: %s", event_type, source_id, exc)


def _target(url: str, pairs: list[tuple[str, str]]) -> str:
    """The configured URL with the request's query parameters added (replacing ones of the same name).
    Only the query changes: scheme, host and path are the configured ones."""
    if not pairs:
        return url
    parts = urlsplit(url)
    names = {name for name, _ in pairs}
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in names]
    return urlunsplit(parts._replace(query=urlencode(kept + pairs)))
