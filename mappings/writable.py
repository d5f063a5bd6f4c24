"""What each cloud-app bridge's objects are, and what inlet can write back to each vendor: the rules a mapping's
`two-way` and `out` fields are checked against, and that the connectors' writers can rely on. Each vendor package
declares its own (`writable` in its spec, connectors/<vendor>/spec.py); this module gathers them from the registry.
"""

from __future__ import annotations

from connectors.kit.writable import Writable
from connectors.registry import VENDORS

# the singular object types of each cloud-app bridge (records.object_type)
OBJECTS: dict[str, tuple[str, ...]] = {bridge: tuple(spec.objects.values()) for bridge, spec in VENDORS.items()}
EVENT_BRIDGES: frozenset[str] = frozenset({"webhook", "tracking", "redirect"})  # push bridges: `events:` only
WRITABLE: dict[tuple[str, str], Writable] = {(bridge, object_type): rule for bridge, spec in VENDORS.items()
                                             for object_type, rule in spec.writable.items()}


def write_problem(bridge: str, object_type: str, path: str, direction: str = "two-way") -> str | None:
    """Why a `direction` field (two-way or out) on `path` of a `bridge` `object_type` cannot be, or None."""
    rules = WRITABLE.get((bridge, object_type))
    if rules is None:
        groups: dict[str, list[str]] = {}
        for (b, o), w in WRITABLE.items():
            if b == bridge:
                groups.setdefault(w.summary(), []).append(o)
        writable = "; ".join(f"{bridge} {' and '.join(objs)}: {summary}" for summary, objs in groups.items())
        return (f"inlet does not write {bridge} {object_type} objects"
                + (f"; writable: {writable}" if writable else f"; nothing is written to {bridge}"))
    return rules.problem(path, direction)


def can_write(bridge: str, object_type: str, path: str, direction: str = "two-way") -> bool:
    return write_problem(bridge, object_type, path, direction) is None
