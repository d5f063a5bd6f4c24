"""HubSpot's search API paged by keyset, as a paginator of the kit's one paging loop.

Filtered on the object's last-modified property and sorted ascending, each request starts again at the last
modified time read (`GTE`) and leaves out the ids already read at that exact millisecond. `after` stays 0, so the
search API's 10,000-result cap never applies however many records changed, and a record modified while the run
pages cannot shift the pages and be skipped. When one millisecond holds a whole page (a bulk import), that
millisecond is read in id order (`EQ` the time, `hs_object_id GT` the last id), then the run goes on after it.

The request is the JSON body. After each page the paginator holds the position after it (`since`, `seen`,
`group`) and the page's records not read before (`new`); the window is read when it gives no next request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from connectors.kit import Paginator
from connectors.kit.pagination import dig

SEARCH_PAGE = 200  # the search endpoints' maximum


class SearchKeyset(Paginator):
    def __init__(self, modified_property: str, modified: Callable[[dict], int], *, since: int,
                 seen: Sequence[str], group: str | None) -> None:
        super().__init__()
        self.prop, self.modified = modified_property, modified
        self.since, self.seen, self.group = since, list(seen), group
        self.new: list[dict] = []

    def first_request(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        super().first_request(params)
        return self._body()

    def _body(self) -> dict[str, Any]:
        if self.group is not None:
            filters = [{"propertyName": self.prop, "operator": "EQ", "value": str(self.since)},
                       {"propertyName": "hs_object_id", "operator": "GT", "value": str(self.group)}]
            sort = "hs_object_id"
        else:
            filters = [{"propertyName": self.prop, "operator": "GTE", "value": str(self.since)}]
            sort = self.prop
        return {**self._base, "filterGroups": [{"filters": filters}],
                "sorts": [{"propertyName": sort, "direction": "ASCENDING"}], "limit": SEARCH_PAGE, "after": "0"}

    def next_request(self, response: httpx.Response | None, body: Any = None) -> dict[str, Any] | None:
        body = self._json(response, body)
        results: list[dict] = dig(body, "results") or []
        more = bool(dig(body, ("paging", "next"))) or len(results) >= SEARCH_PAGE
        if self.group is not None:
            self.new = results
            if more and results:  # the rest of this millisecond
                self.group = str(results[-1]["id"])
            else:  # then everything after it
                self.group, self.since, self.seen = None, self.since + 1, []
        else:
            seen, since = set(self.seen), self.since
            self.new = [r for r in results if not (str(r["id"]) in seen and self.modified(r) == since)]
            if more and results:
                last = self.modified(results[-1])
                if last <= since:  # a whole page in one millisecond: read it by id
                    self.group = "0"
                else:
                    self.since, self.seen = last, [str(r["id"]) for r in results if self.modified(r) == last]
            else:  # the window is read: the newest change read is where the next one starts (less a lookback)
                self.since = max(max((self.modified(r) for r in results), default=since), since)
                self.seen = []
                return None
        self._token(f"{self.since}/{self.group}/{','.join(self.seen)}")  # a position met twice is a loop
        return self._body()
