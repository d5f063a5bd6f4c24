"""`inlet sync SOURCE --dry-run`: the first pages a fresh read of each object would store, read through the source's
own connector (its auth, limiter, paginator and parsing) and printed, with nothing written: no store is opened, no
cursor moves. For any pull source; most useful while declaring a `rest` source's resources."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import orjson

from connectors.kit.errors import ConnectorError
from connectors.kit.model import RecordIn
from engine.config import PullSource
from engine.sync.service import build_connector


@dataclass
class Preview:
    name: str
    object_type: str
    pages: list[list[RecordIn]] = field(default_factory=list)
    more: bool = False  # the read had pages left when the preview stopped
    error: str | None = None


async def preview(source: PullSource, names: list[str], max_pages: int,
                  transport: httpx.AsyncBaseTransport | None = None) -> list[Preview]:
    """Up to `max_pages` pages of a complete read of each of `names`; a stream's failure is its preview's `error`."""
    connector = build_connector(source, transport=transport)
    out = []
    try:
        for stream in connector.streams():
            if stream.name not in names:
                continue
            shown = Preview(stream.name, stream.object_type)
            out.append(shown)
            try:
                async with contextlib.aclosing(stream.read(None, full_refresh=True)) as pages:
                    async for page in pages:
                        if len(shown.pages) == max_pages:
                            shown.more = True
                            break
                        shown.pages.append(page.records)
            except ConnectorError as exc:
                shown.error = str(exc)
    finally:
        await connector.aclose()
    return out


def run_preview(source: PullSource, names: list[str], max_pages: int) -> list[Preview]:
    return asyncio.run(preview(source, names, max_pages))


def print_preview(source_id: str, previews: list[Preview], echo: Callable[[str], None]) -> None:
    """Each record as one JSON line, as records would hold it: external_id, deleted, updated_at, data."""
    for shown in previews:
        count = sum(len(p) for p in shown.pages)
        echo(f"# {source_id} {shown.name} (records.object_type {shown.object_type}): {count} record"
             f"{'' if count == 1 else 's'} in {len(shown.pages)} page{'' if len(shown.pages) == 1 else 's'}"
             f"{', more pages follow' if shown.more else ''}; dry run, nothing stored")
        for records in shown.pages:
            for record in records:
                echo(orjson.dumps({"external_id": record.external_id, "deleted": record.deleted,
                                   "updated_at": _time(record.updated_at_us), "data": record.data},
                                  option=orjson.OPT_SORT_KEYS).decode())
        if shown.error:
            echo(f"# {shown.name}: failed: {shown.error}")


def _time(us: int | None) -> str | None:
    return None if us is None else datetime.fromtimestamp(us / 1e6, UTC).isoformat()
