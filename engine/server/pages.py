"""The human status page at `/`: the same rows as `GET /status`, as one self-contained HTML page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

# The keys a status row may carry; any of them may be missing or None and the page still renders.
ROW_KEYS = ("source_id", "name", "bridge", "channel", "enabled", "events", "last_event_at", "rejections",
            "schema_violations", "throttled", "records", "schedule", "last_sync_at", "last_sync",
            "last_sync_finished_at", "last_sync_read", "last_sync_changed", "last_sync_error", "next_sync_at")

OUTCOMES = ("running", "succeeded", "failed", "skipped")

_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True,
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_template = _env.get_template("status.html")


def add_status_page(app: FastAPI, rows: Callable[[], Awaitable[list[dict]]]) -> None:
    """Serve the status page at `GET /`; `rows()` gives the rows of `GET /status` afresh on every request."""

    async def status_page() -> HTMLResponse:
        return HTMLResponse(render_status(await rows()), headers={"Cache-Control": "no-store"})

    app.add_api_route("/", status_page, methods=["GET"], response_class=HTMLResponse, include_in_schema=False)


def render_status(rows: list[dict], now: dt.datetime | None = None) -> str:
    """The page for these rows, as of `now` (UTC; the current time when not given)."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return _template.render(rows=[_view(row, now) for row in rows], generated=_when(now.isoformat(), now))


def _view(row: dict, now: dt.datetime) -> dict:
    r = {key: row.get(key) for key in ROW_KEYS}
    outcome = r["last_sync"]
    return {
        "id": _text(r["source_id"]),
        "name": _text(r["name"]),
        "bridge": _text(r["bridge"]),
        "channel": _text(r["channel"]),
        "enabled": r["enabled"],
        "schedule": _text(r["schedule"]) or "manual",
        "manual": not r["schedule"],
        "events": _count(r["events"]),
        "records": _count(r["records"]),
        "rejections": _count(r["rejections"]),
        "rejected": bool(r["rejections"]),
        "violations": _count(r["schema_violations"]) if r["schema_violations"] else None,
        "throttled": _count(r["throttled"]) if r["throttled"] else None,
        "last_event": _when(r["last_event_at"], now),
        "synced": bool(r["last_sync_at"] or outcome),
        "started": _when(r["last_sync_at"], now),
        "finished": _when(r["last_sync_finished_at"], now),
        "outcome": _text(outcome),
        "badge": outcome if outcome in OUTCOMES else "other",
        "read": _count(r["last_sync_read"]) if r["last_sync_read"] is not None else None,
        "changed": _count(r["last_sync_changed"]) if r["last_sync_changed"] is not None else None,
        "error": _text(r["last_sync_error"]),
        "next": _when(r["next_sync_at"], now),
    }


def _text(value) -> str:
    return "" if value is None else str(value)


def _count(value) -> str:
    if value is None:
        return "—"
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def _when(value, now: dt.datetime) -> dict | None:
    """An ISO time as `{"iso", "text", "ago"}`: shortened to seconds with 'UTC' or its offset, and how long ago
    (or ahead) it is; None when there is no time. A string that is not ISO is shown as it is."""
    if value is None or value == "":
        return None
    iso = value if isinstance(value, str) else value.isoformat()
    try:
        t = dt.datetime.fromisoformat(iso)
    except ValueError:
        return {"iso": iso, "text": iso, "ago": ""}
    text = t.strftime("%Y-%m-%d %H:%M:%S")
    if t.tzinfo is None:
        return {"iso": iso, "text": text, "ago": ""}
    offset = t.utcoffset()
    if offset == dt.timedelta(0):
        text += " UTC"
    else:
        sign, offset = ("-", -offset) if offset < dt.timedelta(0) else ("+", offset)
        minutes = int(offset.total_seconds()) // 60
        text += f" {sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return {"iso": iso, "text": text, "ago": _relative(t - now)}


def _relative(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    span = abs(seconds)
    if span < 5:
        return "now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if span >= size:
            amount = f"{span // size}{unit}"
            break
    return f"in {amount}" if seconds > 0 else f"{amount} ago"
