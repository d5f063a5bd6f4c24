"""Typed cursors and the one stream shape every pulled object follows: a complete read, then changes, then deletions.

A stream's position is a pydantic model per phase (`Cursor` subclasses told apart by `phase`). It is stored as
JSON with the version of its shape (`v`); `CursorCodec` reads it back, first upgrading a cursor an older release
wrote (version 1: the untyped dicts inlet stored before cursors were typed) through the stream's `upgrade`.

`PhasedStream.read` runs the phases in order, from wherever the stored cursor stands:

    scan ──(complete: what it did not meet is deleted)──▶ changes ──▶ deletions ──▶ changes (next run) …

A vendor writes the three readers; each yields `Page`s whose `cursor` is the typed position after the page, and
the last page of a phase carries the next phase's cursor. A run ends when a phase hands over to itself or to an
earlier phase (the round is done), or when a reader hands over `None` (start over with a new complete read next
time). A reader that finds its cursor can no longer be followed (events expired) raises `Rescan`: the run starts a
complete read instead, with the reason in the run log.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import operator
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from connectors.kit.model import Page

__all__ = ["Cursor", "CursorCodec", "PhasedStream", "Rescan", "UnreadableCursor"]

Phase = Literal["scan", "changes", "deletions"]
ORDER: dict[str, int] = {phase: n for n, phase in enumerate(get_args(Phase))}  # the phases' order in a round


class Cursor(BaseModel):
    """Base of a stream's position: immutable (`model_copy(update=...)` makes the next one), strict about keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    phase: Phase


class UnreadableCursor(ValueError):
    """A stored cursor this release cannot follow: the run starts a complete read and says why."""


class Rescan(Exception):
    """Raised by the reader of changes or deletions: its position cannot be followed (e.g. the vendor no longer
    keeps events that old), so a complete read starts, labelled `how`; `reason` goes to the run log. What the
    reader yielded before is committed already and stays (a complete read only repeats it)."""

    def __init__(self, reason: str, *, how: str = "list") -> None:
        super().__init__(reason)
        self.reason, self.how = reason, how


class CursorCodec:
    """Stored JSON <-> a stream's typed cursors. `models` are the phase models (each with a distinct `phase`);
    `version` the current shape; `upgrade(raw, version)` turns a cursor of an older `version` into the current
    shape's JSON (it is called only for versions below the current one)."""

    def __init__(self, *models: type[Cursor], version: int,
                 upgrade: Callable[[dict[str, Any], int], dict[str, Any]] | None = None) -> None:
        self.version, self._upgrade = version, upgrade
        union: Any = models[0] if len(models) == 1 else Annotated[functools.reduce(operator.or_, models),
                                                                  Field(discriminator="phase")]
        self._adapter: TypeAdapter[Any] = TypeAdapter(union)

    def load(self, raw: Any) -> Cursor | None:
        """The typed cursor of `raw`, None when there is none (first run); UnreadableCursor when it is not one."""
        if raw is None or raw == {}:
            return None
        if not isinstance(raw, dict):
            raise UnreadableCursor(f"the stored cursor is a {type(raw).__name__}, not an object")
        version = raw.get("v", 1)
        if not isinstance(version, int) or isinstance(version, bool):
            raise UnreadableCursor(f"the stored cursor's version {version!r} is not a number")
        if version > self.version:
            raise UnreadableCursor(f"the stored cursor has version {version}, written by a newer inlet "
                                   f"(this one reads up to {self.version})")
        body = {key: value for key, value in raw.items() if key != "v"}
        if version < self.version:
            if self._upgrade is None:
                raise UnreadableCursor(f"cursors of version {version} cannot be upgraded")
            try:
                body = self._upgrade(body, version)
            except (KeyError, TypeError, ValueError) as exc:
                raise UnreadableCursor(f"the stored cursor (version {version}) cannot be upgraded: {exc!r}") from None
        try:
            return self._adapter.validate_python(body)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(cursor)'}: {e['msg']}" for e in exc.errors())
            raise UnreadableCursor(f"the stored cursor is not valid: {problems}") from None

    def dump(self, cursor: Cursor | None) -> dict[str, Any] | None:
        return None if cursor is None else {"v": self.version, **cursor.model_dump(mode="json")}


class PhasedStream:
    """The shape of a pulled object. Subclasses set `name`, `object_type`, `cursors`, and write `begin_scan` plus
    the readers of the phases they have; `scan_then_changes = False` ends the run after a complete read (its
    changes start from the handover next time)."""

    name: str
    object_type: str
    cursors: CursorCodec
    scan_then_changes: ClassVar[bool] = True

    async def begin_scan(self, how: str) -> tuple[Cursor, int]:
        """The cursor a new complete read starts from (`how`: "list" or "full refresh"), and the requests it took."""
        raise NotImplementedError

    def scan(self, cursor: Any) -> AsyncIterator[Page]:
        raise NotImplementedError

    def changes(self, cursor: Any) -> AsyncIterator[Page]:
        raise NotImplementedError

    def deletions(self, cursor: Any) -> AsyncIterator[Page]:
        raise NotImplementedError

    async def read(self, cursor: Any, *, full_refresh: bool) -> AsyncIterator[Page]:
        note: str | None = None
        try:
            position = None if full_refresh else self.cursors.load(cursor)
        except UnreadableCursor as exc:
            position, note = None, f"{exc}: a complete read starts"
        requests = 0
        if position is None:
            position, requests = await self.begin_scan("full refresh" if full_refresh and cursor else "list")
        readers = {"scan": self.scan, "changes": self.changes, "deletions": self.deletions}
        while True:
            phase = position.phase
            try:
                async with contextlib.aclosing(readers[phase](position)) as pages:  # closed if the caller stops
                    async for page in pages:
                        position = page.cursor
                        yield dataclasses.replace(page, cursor=self.cursors.dump(position),
                                                  requests=page.requests + requests, note=_join(note, page.note))
                        requests, note = 0, None
            except Rescan as exc:
                if phase == "scan":  # a complete read that cannot go on must fail, not start itself again
                    raise
                position, spent = await self.begin_scan(exc.how)
                requests, note = requests + spent, _join(note, exc.reason)
                continue
            if position is None or ORDER[position.phase] <= ORDER[phase] or (
                    phase == "scan" and not self.scan_then_changes):
                if requests or note:  # a phase that yielded nothing still reports what it cost and why it ran
                    yield Page([], self.cursors.dump(position), requests=requests, note=note)
                return


def _join(first: str | None, second: str | None) -> str | None:
    return "; ".join(text for text in (first, second) if text) or None
