"""One small class per pagination scheme, chosen explicitly by each stream; nothing here guesses.

A paginator only holds state: `first_request(params)` gives the first page's parameters (and resets the
state), `next_request(response, body)` reads one page and gives the next page's parameters, or None after the
last page. The loop itself lives in `SourceClient.pages`, the only one in the code base. `body` is the page's
decoded JSON when the caller already has it (the client decodes once); alone, a bare `httpx.Response` works;
a page a vendor fetched its own way (`SourceClient.pages(fetch=...)`) comes with its body and no response.

Every paginator remembers the tokens it handed out and raises `PaginationLoop` when one comes back: a vendor
bug (or a wrong paginator) then fails the run instead of fetching the same page forever.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from connectors.kit.errors import PaginationError, PaginationLoop

__all__ = ["AfterCursor", "ConnectionCursor", "EndingBefore", "LinkHeader", "Paginator", "StartingAfter", "dig"]

Params = dict[str, Any]
_MISSING: Any = object()


def dig(body: Any, path: str | Sequence[str]) -> Any:
    """`body["a"]["b"]` for the path "a.b" (or ("a", "b")); None when any step is missing."""
    for key in path.split(".") if isinstance(path, str) else path:
        if not isinstance(body, Mapping):
            return None
        body = body.get(key)
    return body


class Paginator:
    """Base: the parameters every page repeats, and the set of tokens seen so far."""

    def __init__(self) -> None:
        self._base: Params = {}
        self._seen: set[str] = set()

    def first_request(self, params: Mapping[str, Any] | None = None) -> Params:
        self._base, self._seen = dict(params or {}), set()
        return dict(self._base)

    def next_request(self, response: httpx.Response | None, body: Any = _MISSING) -> Params | None:
        raise NotImplementedError

    def _token(self, token: Any) -> str:
        token = str(token)
        if token in self._seen:
            raise PaginationLoop("", "", None, f"{type(self).__name__}: page token {token!r} was already followed")
        self._seen.add(token)
        return token

    @staticmethod
    def _json(response: httpx.Response | None, body: Any) -> Any:
        if body is _MISSING:
            if response is None:
                raise TypeError("a paginator needs the page's response or its body")
            return response.json()
        return body


class _PageSize(Paginator):
    """A scheme whose every request carries `limit` (the page size)."""

    DEFAULT_LIMIT = 100

    def __init__(self, limit: int | None = None) -> None:
        super().__init__()
        self.limit = self.DEFAULT_LIMIT if limit is None else limit

    def first_request(self, params: Mapping[str, Any] | None = None) -> Params:
        return {**super().first_request(params), "limit": self.limit}


class _StripeCursor(_PageSize):
    """Stripe lists: `limit` per page, an object id of the page as the next cursor, stop when `has_more` is
    false. Subclasses name the parameter and the end of the page it takes its id from."""

    PARAM = ""
    END = -1  # index into the page's `data`

    def next_request(self, response: httpx.Response | None, body: Any = _MISSING) -> Params | None:
        page = self._json(response, body)
        if not page.get("has_more"):
            return None
        data = page.get("data") or []
        if not data:
            raise PaginationError("", "", None, f"has_more is true but the page is empty: no id for {self.PARAM}")
        return {**self._base, "limit": self.limit, self.PARAM: self._token(data[self.END]["id"])}


class StartingAfter(_StripeCursor):
    """Stripe lists, newest first: `starting_after` = the page's last (oldest) id gives the next older page."""

    PARAM, END = "starting_after", -1


class EndingBefore(_StripeCursor):
    """Stripe lists read forwards in time (events since a cursor): `ending_before` = the page's first (newest)
    id gives the page just newer than it; `has_more` says whether newer ones remain. Each page is still newest
    first, so callers reverse it to apply events in order."""

    PARAM, END = "ending_before", 0


class AfterCursor(_PageSize):
    """HubSpot CRM: `paging.next.after`, omitted on the last page."""

    def next_request(self, response: httpx.Response | None, body: Any = _MISSING) -> Params | None:
        after = dig(self._json(response, body), ("paging", "next", "after"))
        if after in (None, ""):
            return None
        return {**self._base, "limit": self.limit, "after": self._token(after)}


class LinkHeader(_PageSize):
    """Shopify REST: the `Link` header's rel="next" URL. Only its query is used (the request keeps the
    source's base_url, so the sandbox can stand in), and only `page_info`, `limit` and `fields` are kept:
    Shopify rejects any other parameter next to `page_info`; the filters are baked into the cursor."""

    KEPT = ("page_info", "limit", "fields")
    DEFAULT_LIMIT = 250

    def next_request(self, response: httpx.Response | None, body: Any = _MISSING) -> Params | None:
        if response is None:
            raise TypeError("LinkHeader reads the response's headers: pages fetched without one cannot use it")
        url = response.links.get("next", {}).get("url")
        if not url:
            return None
        query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
        if not query.get("page_info"):
            raise PaginationError("", "", None, "the Link rel=next URL carries no page_info")
        query["page_info"] = self._token(query["page_info"])
        return {key: query[key] for key in self.KEPT if key in query}


class ConnectionCursor(Paginator):
    """GraphQL (Relay) connections: `pageInfo.hasNextPage` and `endCursor` of the connection at
    `connection_path` (e.g. "data.customers"); the cursor goes into the variable `cursor_variable`.
    The returned params are the query's variables."""

    def __init__(self, connection_path: str | Sequence[str], page_size: int = 250, *,
                 size_variable: str = "first", cursor_variable: str = "after") -> None:
        super().__init__()
        self.connection_path = connection_path
        self.page_size, self.size_variable, self.cursor_variable = page_size, size_variable, cursor_variable

    def first_request(self, params: Mapping[str, Any] | None = None) -> Params:
        return {**super().first_request(params), self.size_variable: self.page_size, self.cursor_variable: None}

    def next_request(self, response: httpx.Response | None, body: Any = _MISSING) -> Params | None:
        info = dig(dig(self._json(response, body), self.connection_path), ("pageInfo",))
        if not isinstance(info, Mapping):
            raise PaginationError("", "", None, f"no pageInfo at {self.connection_path!r}")
        if not info.get("hasNextPage"):
            return None
        cursor = info.get("endCursor")
        if not cursor:
            raise PaginationError("", "", None, "hasNextPage is true but endCursor is empty")
        return {**self._base, self.size_variable: self.page_size, self.cursor_variable: self._token(cursor)}
