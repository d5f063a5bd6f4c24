"""The console's pages: `/` (every source), `/sources/{id}` (one source, with its live debugger fed by
`/sources/{id}/events.json`), `/profiles?q=` (search) and `/profiles/{id}`, plus the admin sign-in. Server-rendered
with Jinja (autoescaped), no outside assets: CSS, the charts (SVG) and the debugger's script are in the page."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs

import orjson
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from engine.config import PullSource
from engine.console import queries, snippets, views
from engine.console.access import COOKIE, SIGN_IN, allowed, cookie_value, safe_next, token_matches
from engine.console.conflicts import conflicts
from engine.metrics import VENDOR_REQUESTS, VENDOR_THROTTLED
from engine.server.refusals import error_response
from engine.store import store_cursor

MAX_QUERY = 256  # characters of a profile search
MAX_FORM = 4096  # bytes of the sign-in form
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True,
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_env.filters.update(count=views.count, pretty=views.pretty_json, short=views.short_json, seconds=views.seconds)
NO_STORE = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
                                       "connect-src 'self'; img-src data:; form-action 'self'; "
                                       "frame-ancestors 'none'; base-uri 'none'"}


def console_routes() -> list[Route]:
    return [
        Route("/", overview, methods=["GET"]),
        Route("/sources/{source_id}", source_page, methods=["GET"]),
        Route("/sources/{source_id}/events.json", source_events, methods=["GET"]),
        Route("/profiles", profile_search, methods=["GET"]),
        Route("/profiles/{profile_id}", profile_page, methods=["GET"]),
        Route(SIGN_IN, sign_in, methods=["GET", "POST"]),
        Route("/signout", sign_out, methods=["POST"]),
    ]


def render(name: str, status: int = 200, **context) -> HTMLResponse:
    return HTMLResponse(_env.get_template(name).render(**context), status_code=status, headers=NO_STORE)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _read(request: Request, fn: Callable, *args):
    """`fn(cursor, *args)` in a thread, on a cursor of the server's connection."""
    con = request.app.state.inlet.con

    def run():
        with store_cursor(con) as cur:  # closed on the way out
            return fn(cur, *args)

    return await asyncio.to_thread(run)


def _not_found(what: str) -> HTMLResponse:
    return render("not_found.html", 404, what=what, signed_in=False)


def _guarded(request: Request) -> bool:
    """Whether pages ask for the admin token (they then offer to sign out)."""
    return request.app.state.inlet.config.server.admin_token is not None


# -- the overview ------------------------------------------------------------------------------------------------

async def overview(request: Request) -> Response:
    state = request.app.state.inlet
    now = _now()
    rows = await state.status()
    volumes, totals = await _read(request, lambda cur: (queries.hourly_volumes(cur, now), queries.totals(cur, now)))
    pull = {s.id for s in state.config.sources if isinstance(s, PullSource)}
    return render_overview(rows, volumes, {**totals, "spool": state.writer.pending_events()}, pull, now,
                           signed_in=_guarded(request))


def render_overview(rows: list[dict], volumes: dict, totals: dict, pull: set[str], now: dt.datetime, *,
                    signed_in: bool = False) -> HTMLResponse:
    """The overview of these `GET /status` rows, hourly volumes (source -> {hour: events}) and totals."""
    sources = [{**views.source_row(row, now), "chart": views.chart(volumes.get(row.get("source_id"), {}), now),
                "pull": row.get("source_id") in pull} for row in rows]
    return render("overview.html", sources=sources, totals=totals, generated=views.when(now, now),
                  signed_in=signed_in)


# -- a source ------------------------------------------------------------------------------------------------------

async def source_page(request: Request) -> Response:
    state = request.app.state.inlet
    source_id = request.path_params["source_id"]
    source = state.config.source(source_id)
    if source is None:
        return _not_found(f"No source {source_id!r} is configured.")
    now = _now()
    row = next((r for r in await state.status() if r["source_id"] == source_id), {"source_id": source_id})
    pull = isinstance(source, PullSource)

    def read(cur):
        return {"volume": queries.hourly_volumes(cur, now, source_id).get(source_id, {}),
                "events": queries.recent_events(cur, source_id, None),
                "rejections": queries.rejection_groups(cur, source_id, now),
                "runs": queries.sync_history(cur, source_id) if pull else [],
                "cursors": queries.cursors(cur, source_id) if pull else [],
                "records": queries.record_counts(cur, source_id) if pull else []}

    data = await _read(request, read)
    scheduler = state.scheduler
    next_runs = scheduler.next_runs_by_object() if scheduler is not None else {}
    objects = [{"name": name, "schedule": _object_schedule(source, name),
                "next": views.when(next_runs.get((source_id, name)), now)}
               for name in source.object_names] if pull else []
    base = state.config.server.public_url or str(request.base_url).rstrip("/")
    return render(
        "source.html", source=views.source_row(row, now), pull=pull, chart=views.chart(data["volume"], now),
        initial={"events": [_event_json(e) for e in data["events"]], "now": now.isoformat()},
        rejections=data["rejections"], runs=data["runs"], cursors=data["cursors"], objects=objects,
        records=data["records"], mapping=_mapping_rows(state.config.mappings.get(source_id)),
        vendor=_vendor_counts(source_id) if pull else None,
        snippet=snippets.for_source(source, base), now=now, fmt=lambda v: views.when(v, now),
        signed_in=_guarded(request))


async def source_events(request: Request) -> Response:
    """The live debugger's feed: the source's newest events, received at `since` (ISO) or later."""
    state = request.app.state.inlet
    source_id = request.path_params["source_id"]
    if state.config.source(source_id) is None:
        return error_response(404, "unknown_source", f"no source {source_id!r} is configured")
    since_text = request.query_params.get("since")
    since = None
    now = _now()
    if since_text:
        try:
            since = dt.datetime.fromisoformat(since_text)
        except ValueError:
            return error_response(400, "invalid_since", "since: an ISO 8601 time, e.g. 2026-01-02T03:04:05+00:00")
        if since.tzinfo is None:
            since = since.replace(tzinfo=dt.UTC)
        # no event is older than 1970 nor newer than now; and beyond them, UTC or a look-back may be no datetime
        since = min(max(since, EPOCH), now)
    events = await _read(request, queries.recent_events, source_id, since)
    return JSONResponse({"events": [_event_json(e) for e in events], "now": now.isoformat()},
                        headers={"Cache-Control": "no-store"})


def _event_json(e: dict) -> dict:
    return {"event_id": e["event_id"], "event_type": e["event_type"],
            "occurred_at": e["occurred_at"].astimezone(dt.UTC).isoformat(),
            "received_at": e["received_at"].astimezone(dt.UTC).isoformat(),
            "profile_id": e["profile_id"], "session_id": e["session_id"],
            "properties": views.pretty_json(e["properties"]), "context": views.pretty_json(e["context"])}


def _vendor_counts(source_id: str) -> dict:
    """Requests to the source's cloud app and 429s (or Shopify's THROTTLED) since this server started, from its
    metrics (syncs, webhook read-backs and write-backs alike; the sync history has each run's own)."""
    def total(metric) -> int:
        return int(sum(s.value for family in metric.collect() for s in family.samples
                       if s.name.endswith("_total") and s.labels.get("source_id") == source_id))

    return {"requests": total(VENDOR_REQUESTS), "throttled": total(VENDOR_THROTTLED)}


def _object_schedule(source: PullSource, name: str) -> str:
    if source.schedule is None:
        return "manual"
    rule = source.schedule.objects.get(name, source.schedule)
    return rule.describe()


def _mapping_rows(mapping) -> dict | None:
    if mapping is None:
        return None
    groups = [("object", name, rules) for name, rules in mapping.objects.items()] + \
             [("event", name, rules) for name, rules in mapping.events.items()]
    return {"file": str(mapping.file), "groups": [
        {"kind": kind, "name": name,
         "identities": [{"kind": i.kind, "path": i.path} for i in rules.identities],
         "fields": [{"path": f.path, "attribute": f.attribute, "direction": f.direction, "type": f.type or "any",
                     "conflict": f.conflict} for f in rules.fields]}
        for kind, name, rules in groups]}


# -- profiles ------------------------------------------------------------------------------------------------------

async def profile_search(request: Request) -> Response:
    state = request.app.state.inlet
    q = request.query_params.get("q", "").strip()
    if len(q) > MAX_QUERY:
        return render("profiles.html", 400, q=q[:MAX_QUERY], results=None,
                      error=f"A search is at most {MAX_QUERY} characters.", signed_in=_guarded(request))
    results = None
    if q:
        kinds = _identity_kinds(state.config)
        results = await _read(request, lambda cur: queries.find_profiles(cur, q, kinds, queries.record_types(cur)))
        now = _now()
        results = [{**r, "created": views.when(r["created_at"], now), "attributes": _attributes_text(r)}
                   for r in results]
    return render("profiles.html", q=q, results=results, error=None, signed_in=_guarded(request))


def _identity_kinds(config) -> list[str]:
    kinds = {"email", "phone", "user_id"}
    for mapping in config.mappings.values():
        for rules in (*mapping.objects.values(), *mapping.events.values()):
            kinds.update(i.kind for i in rules.identities)
    return sorted(kinds)


def _attributes_text(row: dict) -> str:
    try:
        attributes = orjson.loads(row["attributes"] or "{}")
    except orjson.JSONDecodeError:
        return ""
    if not isinstance(attributes, dict):
        return ""
    return ", ".join(f"{k}: {v}" for k, v in list(attributes.items())[:6])


async def profile_page(request: Request) -> Response:
    profile_id = queries.as_uuid(request.path_params["profile_id"])
    if profile_id is None:
        return _not_found("That is not a profile id.")

    def read(cur):
        live, merged = queries.live_profile(cur, profile_id)
        return live, merged, queries.profile(cur, live) if live is not None and not merged else None

    live, merged, data = await _read(request, read)
    if merged:
        return RedirectResponse(f"/profiles/{live}?merged={profile_id}", status_code=302)
    if data is None:
        return _not_found(f"No profile {profile_id}.")
    data["conflicts"] = conflicts(request.app.state.inlet.config.mappings, data["records"], data["attributes"])
    came_from = queries.as_uuid(request.query_params.get("merged", ""))  # None when absent or no id
    now = _now()
    return render("profile.html", p=data, fmt=lambda v: views.when(v, now), came_from=came_from,
                  signed_in=_guarded(request))


# -- signing in ------------------------------------------------------------------------------------------------------

async def sign_in(request: Request) -> Response:
    token = request.app.state.inlet.config.server.admin_token
    target = safe_next(request.query_params.get("next"))
    if token is None:
        return RedirectResponse(target, status_code=303)
    if request.method == "GET":
        if allowed(request, token):
            return RedirectResponse(target, status_code=303)
        return render("signin.html", target=target, error=None, signed_in=False)
    body = await request.body()
    if len(body) > MAX_FORM:
        return render("signin.html", 413, target=target, error="The form is too large.", signed_in=False)
    try:
        form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=4)
    except ValueError:
        return render("signin.html", 400, target=target, error="The form has too many fields.", signed_in=False)
    target = safe_next((form.get("next") or [target])[0])
    if not token_matches((form.get("token") or [""])[0], token):
        return render("signin.html", 401, target=target, error="That is not the admin token.", signed_in=False)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, cookie_value(token), httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")
    return response


async def sign_out(request: Request) -> Response:
    response = RedirectResponse(SIGN_IN, status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
