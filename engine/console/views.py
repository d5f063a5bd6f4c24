"""Turning store rows into what the templates show: times as text with how long ago, counts with separators, the
volume chart's bars, JSON pretty-printed. The templates escape every value; nothing here builds markup."""

from __future__ import annotations

import datetime as dt

import orjson

from engine.console.queries import CHART_HOURS, utc_hour
from engine.status import COLUMNS

CHART_WIDTH, CHART_HEIGHT = 252, 48  # one and a half pixels per hour over a week
JSON_SHOWN = 20_000  # characters of a JSON value shown on a page; more is cut, saying so

OUTCOMES = ("running", "succeeded", "failed", "skipped")


def source_row(row: dict, now: dt.datetime) -> dict:
    """A `GET /status` row as the overview shows it; any of its columns may be missing or None."""
    r = {key: row.get(key) for key in COLUMNS}
    outcome = r["last_sync"]
    return {
        "id": text(r["source_id"]),
        "name": text(r["name"]),
        "bridge": text(r["bridge"]),
        "channel": text(r["channel"]),
        "enabled": r["enabled"],
        "schedule": text(r["schedule"]) or "manual",
        "manual": not r["schedule"],
        "events": count(r["events"]),
        "records": count(r["records"]),
        "rejections": count(r["rejections"]),
        "rejected": bool(r["rejections"]),
        "violations": count(r["schema_violations"]) if r["schema_violations"] else None,
        "throttled": count(r["throttled"]) if r["throttled"] else None,
        "last_event": when(r["last_event_at"], now),
        "synced": bool(r["last_sync_at"] or outcome),
        "started": when(r["last_sync_at"], now),
        "outcome": text(outcome),
        "badge": badge(outcome),
        "read": count(r["last_sync_read"]) if r["last_sync_read"] is not None else None,
        "changed": count(r["last_sync_changed"]) if r["last_sync_changed"] is not None else None,
        "error": text(r["last_sync_error"]),
        "next": when(r["next_sync_at"], now),
    }


def badge(outcome) -> str:
    return outcome if outcome in OUTCOMES else "other"


def chart(hours: dict[dt.datetime, int], now: dt.datetime) -> dict:
    """The bars of an events-per-hour chart over the last CHART_HOURS hours ending with the current one."""
    end = utc_hour(now)
    slots = [end - dt.timedelta(hours=CHART_HOURS - 1 - i) for i in range(CHART_HOURS)]
    values = [hours.get(slot, 0) for slot in slots]
    top = max(values) or 1
    step = CHART_WIDTH / CHART_HOURS
    bars = []
    for i, (slot, value) in enumerate(zip(slots, values, strict=True)):
        if value:
            h = max(1.0, round(value / top * (CHART_HEIGHT - 2), 1))
            bars.append({"x": round(i * step, 2), "y": round(CHART_HEIGHT - h, 1), "w": round(step, 2), "h": h,
                         "title": f"{slot:%Y-%m-%d %H:00} UTC: {value:,} events"})
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "bars": bars, "total": f"{sum(values):,}",
            "peak": f"{max(values):,}"}


def pretty_json(raw: str | None) -> str:
    """A stored JSON text indented for reading (cut past JSON_SHOWN characters)."""
    if raw is None:
        return ""
    try:
        out = orjson.dumps(orjson.loads(raw), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        out = raw
    return out if len(out) <= JSON_SHOWN else out[:JSON_SHOWN] + f"\n… ({len(out) - JSON_SHOWN:,} more characters)"


def short_json(raw: str | None, limit: int = 120) -> str:
    if raw is None:
        return "null"
    return raw if len(raw) <= limit else raw[: limit - 1] + "…"


def text(value) -> str:
    return "" if value is None else str(value)


def count(value) -> str:
    if value is None:
        return "—"
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def seconds(value) -> str:
    if value is None:
        return "—"
    return f"{float(value):,.1f} s"


def when(value, now: dt.datetime) -> dict | None:
    """A time (ISO text or datetime) as `{"iso", "text", "ago"}`: shortened to seconds with 'UTC' or its offset,
    and how long ago (or ahead) it is; None when there is no time. A string that is not ISO is shown as it is."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    iso = value if isinstance(value, str) else value.isoformat()
    try:
        t = dt.datetime.fromisoformat(iso)
    except ValueError:
        return {"iso": iso, "text": iso, "ago": ""}
    shown = t.strftime("%Y-%m-%d %H:%M:%S")
    if t.tzinfo is None:
        return {"iso": iso, "text": shown, "ago": ""}
    offset = t.utcoffset()
    if offset == dt.timedelta(0):
        shown += " UTC"
    else:
        sign, offset = ("-", -offset) if offset < dt.timedelta(0) else ("+", offset)
        minutes = int(offset.total_seconds()) // 60
        shown += f" {sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return {"iso": iso, "text": shown, "ago": relative(t - now)}


def relative(delta: dt.timedelta) -> str:
    total = int(delta.total_seconds())
    span = abs(total)
    if span < 5:
        return "now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if span >= size:
            amount = f"{span // size}{unit}"
            break
    return f"in {amount}" if total > 0 else f"{amount} ago"
