"""A connector with one stream, `things` (object type `thing`), that reads one page: for tests of what happens
around a sync (its logs, its metrics), not of a vendor."""

from __future__ import annotations

from collections.abc import Callable

from connectors.kit import Page, RecordIn


def one_page(records: list[RecordIn], cursor: object, on_read: Callable[[], None] | None = None):
    class Things:
        name, object_type = "things", "thing"

        async def read(self, cursor_in, *, full_refresh):
            if on_read is not None:
                on_read()
            yield Page(records, cursor=cursor)

    class Connector:
        def streams(self):
            return [Things()]

        def http_stats(self):
            return {}

        async def aclose(self):
            pass

    return Connector()
