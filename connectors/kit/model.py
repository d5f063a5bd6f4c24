"""What a connector hands the sync runner: pages of object versions, each with the cursor that covers it.

A stream reads one object type of one source. It yields `Page`s in the order they must be applied; each
carries the stream's whole position after it (`cursor`, any JSON), which the runner commits in the same
transaction as the page's rows. Resuming after a crash is then just calling `read` again with the last
committed cursor: the stream never needs to know whether the previous run ended well.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(slots=True)
class RecordIn:
    """One version of a remote object. `data` None on a delete keeps the last state stored; the runner turns
    a dict into its JSON text (sorted keys) as soon as the page is read."""

    external_id: str
    data: dict[str, Any] | str | None
    deleted: bool = False
    updated_at_us: int | None = None  # when this version was current (vendor time); None: when it was read
    vendor_event_id: str | None = None  # the vendor's event that carried it, if any


@dataclass(slots=True)
class Page:
    records: list[RecordIn]
    cursor: Any  # the stream's position after this page (JSON-ready); committed with the records
    scan_id: str | None = None  # set while a complete read runs: the ids met count as "still there"
    scan_complete: bool = False  # the complete read `scan_id` has ended: what it did not meet is deleted
    # only within what the read could see: (top-level data key, minimum ISO value), e.g. orders created in the
    # last 60 days when older ones are outside the token's scope. None: the read saw every object of the type.
    scan_scope: tuple[str, str] | None = None
    requests: int = 1  # HTTP requests this page took
    mode: str | None = None  # list, events, full refresh: how the stream is reading
    note: str | None = None  # something the stream decided on its own, for the run log
    size: int = 0  # bytes of record JSON, set by the runner: transactions are bounded by it
    # a vendor's push (a webhook delivery), not a read: no cursor is saved, and a version older than the one
    # stored is ignored (deliveries come late, twice, or out of order)
    push: bool = False


class Stream(Protocol):
    name: str  # plural, as in `objects:` and `--object`: customers
    object_type: str  # singular, as in records.object_type: customer

    def read(self, cursor: Any, *, full_refresh: bool) -> AsyncIterator[Page]: ...


class Connector(Protocol):
    """One source's streams and the client they share. `aclose` ends the client; `http_stats` says how many
    requests were sent and how many were answered 429."""

    def streams(self) -> list[Stream]: ...

    def http_stats(self) -> dict[str, int]: ...

    async def aclose(self) -> None: ...
