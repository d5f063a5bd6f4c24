"""What inlet may write to one vendor object: the rule a mapping's `two-way` and `out` fields are checked against
(mappings/writable.py), declared by each vendor package in its spec."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Writable:
    """What inlet writes to one vendor object: exact `fields`; keys under `prefix` (each matching `key`, unless
    read-only), shown as `shown`; and keys under `out_prefix`, shown as `out_shown`, that only `out` fields write."""

    fields: tuple[str, ...] = ()
    prefix: str | None = None
    key: re.Pattern | None = None
    shown: str = ""
    read_only: frozenset[str] = frozenset()
    read_only_prefixes: tuple[str, ...] = ()
    out_prefix: str | None = None
    out_key: re.Pattern | None = None
    out_shown: str = ""
    out_only_why: str = ""

    def summary(self) -> str:
        parts = list(self.fields)
        if self.prefix:
            excluded = sorted(self.read_only) + [p + "*" for p in self.read_only_prefixes]
            parts.append(self.shown + (f" except {', '.join(excluded)}" if excluded else ""))
        if self.out_prefix:
            parts.append(f"{self.out_shown} (out only)")
        return ", ".join(parts)

    def problem(self, path: str, direction: str) -> str | None:
        """Why `path` cannot be written with `direction` (two-way or out), or None when it can."""
        if path in self.fields:
            return None
        if self.prefix and path.startswith(self.prefix):
            key = path[len(self.prefix):]
            if key in self.read_only or key.startswith(self.read_only_prefixes):
                return f"{path} is read-only (the vendor sets it); writable: {self.summary()}"
            if self.key is not None and not self.key.match(key):
                return f"{path} is not a valid {self.shown}"
            return None
        if self.out_prefix and path.startswith(self.out_prefix):
            key = path[len(self.out_prefix):]
            if self.out_key is not None and not self.out_key.match(key):
                return f"{path} is not a valid {self.out_shown}; writable: {self.summary()}"
            if direction != "out":
                return f"{path} can only be written with direction: out, because {self.out_only_why}"
            return None
        return f"{path} cannot be written; writable: {self.summary()}"
