"""HubSpot's two spellings of an instant: ISO 8601 (`2019-12-07T16:50:06.678Z`) and epoch milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime


def to_ms(value: object) -> int | None:
    """Milliseconds since the epoch, or None for a missing or unreadable value."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
