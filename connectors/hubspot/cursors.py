"""Where a HubSpot stream stands, one typed cursor per phase (stored as version 2; the untyped dicts of version 1
are upgraded on load).

    scan:      the list endpoint's complete read: the next page token, and when the read began (less the lookback)
    changes:   the search window: the last modified time read, the ids read at that millisecond, the last id of a
               millisecond read in id order, whether the window ended (the next one starts a lookback before)
    deletions: the archived list: the next page token, when this pass began, and the search position to go back to
"""

from __future__ import annotations

from typing import Any, Literal

from connectors.kit.phased import Cursor, CursorCodec


class HubSpotScan(Cursor):
    phase: Literal["scan"] = "scan"
    how: str
    scan: str
    after: str | None = None  # the next page's token
    since: int  # ms: when the read began, less the lookback; the search starts there


class HubSpotSearch(Cursor):
    phase: Literal["changes"] = "changes"
    since: int  # ms: the last modified time read
    seen: tuple[str, ...] = ()  # the ids read at `since` exactly
    group: str | None = None  # reading `since` in id order: the last id read
    fresh: bool = False  # the window ended: the next one starts a lookback before `since`
    archived_since: int  # ms: records archived from then on (less the lookback) are deleted by the next pass


class HubSpotArchived(Cursor):
    phase: Literal["deletions"] = "deletions"
    after: str | None = None  # the next page's token
    archived_started: int  # ms: when this pass began; the next one looks from there
    archived_since: int
    since: int  # the search position to go back to


def upgrade(raw: dict[str, Any], version: int) -> dict[str, Any]:
    """Version 1: {"mode": "list", ...}, {"mode": "search", "phase": "search"|"archived", ...}; same keys."""
    mode = raw["mode"]
    if mode == "list":
        return {"phase": "scan", "how": raw.get("how", "list"), "scan": raw["scan"], "after": raw.get("after"),
                "since": raw["since"]}
    if mode != "search":
        raise ValueError(f"unknown mode {mode!r}")
    if raw.get("phase") == "archived":
        return {"phase": "deletions", "after": raw.get("after"), "archived_started": raw["archived_started"],
                "archived_since": raw["archived_since"], "since": raw["since"]}
    return {"phase": "changes", "since": raw["since"], "seen": raw.get("seen") or [], "group": raw.get("group"),
            "fresh": bool(raw.get("fresh")), "archived_since": raw["archived_since"]}


CURSORS = CursorCodec(HubSpotScan, HubSpotSearch, HubSpotArchived, version=2, upgrade=upgrade)


class OwnersScan(Cursor):
    """Owners are read whole every run: a read under way, or none (stored as null) between runs."""

    phase: Literal["scan"] = "scan"
    scan: str
    after: str | None = None


def upgrade_owners(raw: dict[str, Any], version: int) -> dict[str, Any]:
    """Version 1: {"scan": ..., "after": ...} while a read was under way."""
    return {"phase": "scan", "scan": raw["scan"], "after": raw.get("after")}


OWNER_CURSORS = CursorCodec(OwnersScan, version=2, upgrade=upgrade_owners)
