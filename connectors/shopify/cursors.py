"""Where a Shopify stream stands, one typed cursor per phase (stored as version 2; the untyped dicts of version 1
are upgraded on load). Times are ISO 8601 strings as Shopify's search syntax takes them.

    scan:      the complete read: the connection's endCursor, and when the read began
    changes:   objects updated since `since`: the endCursor, the newest `updatedAt` read, whether the window
               ended (the next one starts a lookback before `newest`), and where deletions look from
    deletions: the deletion events since `deleted_since`: the endCursor, when this pass began, and the changes
               position to go back to
"""

from __future__ import annotations

from typing import Any, Literal

from connectors.kit.phased import Cursor, CursorCodec


class ShopifyScan(Cursor):
    phase: Literal["scan"] = "scan"
    how: str
    scan: str
    after: str | None = None
    started: str


class ShopifyUpdated(Cursor):
    phase: Literal["changes"] = "changes"
    since: str
    after: str | None = None
    newest: str
    fresh: bool = False
    deleted_since: str


class ShopifyDeletions(Cursor):
    phase: Literal["deletions"] = "deletions"
    after: str | None = None
    deletions_started: str
    deleted_since: str
    since: str  # the changes position to go back to
    newest: str


def upgrade(raw: dict[str, Any], version: int) -> dict[str, Any]:
    """Version 1: {"mode": "scan", ...}, {"mode": "updated", "phase": "read"|"deletions", ...}; same keys but the
    deletions' page token, then `del_after`."""
    mode = raw["mode"]
    if mode == "scan":
        return {"phase": "scan", "how": raw.get("how", "list"), "scan": raw["scan"], "after": raw.get("after"),
                "started": raw["started"]}
    if mode != "updated":
        raise ValueError(f"unknown mode {mode!r}")
    if raw.get("phase") == "deletions":
        return {"phase": "deletions", "after": raw.get("del_after"), "deletions_started": raw["deletions_started"],
                "deleted_since": raw["deleted_since"], "since": raw["since"], "newest": raw["newest"]}
    return {"phase": "changes", "since": raw["since"], "after": raw.get("after"), "newest": raw["newest"],
            "fresh": bool(raw.get("fresh")), "deleted_since": raw["deleted_since"]}


CURSORS = CursorCodec(ShopifyScan, ShopifyUpdated, ShopifyDeletions, version=2, upgrade=upgrade)
