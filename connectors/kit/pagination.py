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

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from connectors.kit.errors import PaginationError, PaginationLoop

__all__ = ["AfterCursor", "AfterLastId", "ConnectionCursor", "EndingBefore", "NextLinkHeader",
           "NextToken", "NextUrl", "OffsetLimit", "PageNumber", "Paginator", "StartingAfter", "dig"]

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
    """Base: the parameters every page repeats, and the set of tokens seen so far. `next_path` is None, or the
    path the next page is read from when the API hands out whole next-page URLs (`NextUrl`, `NextLinkHeader`);
    the paging loop then requests it, with `next_request`'s answer as the query, instead of the first page's path."""

    next_path: str | None = None

    def __init__(self) -> None:
        self._base: Params = {}
        self._seen: set[str] = set()
        self.next_path = None

    def first_request(self, params: Mapping[str, Any] | None = None) -> Params:
        self._base, self._seen, self.next_path = dict(params or {}), set(), None
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
        """The first page: from the start, or from the cursor `params` carries (a resumed read)."""
        return {self.cursor_variable: None, **super().first_request(params), self.size_variable: self.page_size}

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


# -- generic schemes, declared by configuration (the `rest` bridge) ---------------------------------------------------
def _records(body: Any, records_path: str | Sequence[str]) -> list[Any]:
    records = body if records_path in ("", ()) else dig(body, records_path)
    if not isinstance(records, list):
        raise PaginationError("", "", None, f"no list of records at {records_path!r} to page through")
    return records


class NextToken(Paginator):
    """An opaque token at a dotted path of the body (`paging.next.after`), sent back in `param` (a query parameter
    of a GET, a field of a POST's body); no token, an empty one or null ends the list."""

    def __init__(self, token_path: str | Sequence[str], param: str) -> None:
        super().__init__()
        self.token_path, self.param = token_path, param

    def next_request(self, response: httpx.Response | None, body: Any = _MISSING) -> Params | None:
        token = dig(self._json(response, body), self.token_path)
        if token in (None, "", False):
            return None
        if isinstance(token, (dict, list)):
            raise PaginationError("", "", None, f"the page token at {self.token_path!r} is not a string or number")
        return {**self._base, self.param: self._token(token)}


class _NextLocation(Paginator):
    """A whole next-page URL, relative or absolute, followed only to the origin it was made for: the request carries
    the source's credentials, which must never go to another host. The next request is the URL's own query (the API
    put every parameter it needs in it) and `next_path` its path."""

    def __init__(self, origin: str) -> None:
        super().__init__()
        parts = urlsplit(origin)
        self._origin = (parts.scheme, parts.netloc.lower())
        self._root = f"{parts.scheme}://{parts.netloc}/"

    def _follow(self, url: Any, response: httpx.Response | None) -> Params:
        if not isinstance(url, str):
            raise PaginationError("", "", None, f"{self._where} is not a URL: {url!r:.100}")
        here = self._root  # a relative URL is relative to the page it came with, when known
        if response is not None:
            with contextlib.suppress(RuntimeError):  # a bare response, without its request
                here = str(response.url)
        absolute = urljoin(here, url.strip())
        parts = urlsplit(absolute)
        if (parts.scheme, parts.netloc.lower()) != self._origin:
            shown = f"{parts.scheme}://{parts.hostname}" if parts.hostname else repr(url[:100])
            raise PaginationError("", "", None, f"{self._where} points at {shown}, another origin than "
                                                f"{self._root.rstrip('/')}: not followed (the source's credentials "
                                                "are sent only to its base_url)")
        self._token(absolute)
        self.next_path = parts.path or "/"
        return {key: values if len(values) > 1 else values[0]
                for key, values in parse_qs(parts.query, keep_blank_values=True).items()}

    _where = "the next page's URL"


class NextUrl(_NextLocation):
    """A full URL of the next page at a dotted path of the body (`next`, `links.next`); absent, empty or null on the
    last page."""

    def __init__(self, url_path: str | Sequence[str], origin: str) -> None:
        super().__init__(origin)
        self.url_path = url_path
        self._where = f"the next page's URL at {url_path!r}"

    def next_request(self, response: httpx.Response | None, body: Any = _MISSING) -> Params | None:
        url = dig(self._json(response, body), self.url_path)
        if url in (None, ""):
            return None
        return self._follow(url, response)


class NextLinkHeader(_NextLocation):
    """RFC 8288: the `Link` header's rel="next" URL (GitHub, GitLab and most REST APIs), followed whole."""

    _where = 'the Link header\'s rel="next" URL'

    def next_request(self, response: httpx.Response | None, body: Any = _MISSING) -> Params | None:
        if response is None:
            raise TypeError("NextLinkHeader reads the response's headers: pages fetched without one cannot use it")
        url = response.links.get("next", {}).get("url")
        if not url:
            return None
        return self._follow(url, response)


class _Numbered(Paginator):
    """Pages addressed by a number the client counts (an offset, a page number). Nothing comes back to tell a loop
    from progress, so a page equal to the one before (an API that ignores the parameter) raises `PaginationLoop`."""

    def __init__(self, records_path: str | Sequence[str]) -> None:
        super().__init__()
        self.records_path = records_path
        self._last: list[Any] | None = None

    def first_request(self, params: Mapping[str, Any] | None = None) -> Params:
        self._last = None
        return super().first_request(params)

    def _page(self, response: httpx.Response | None, body: Any) -> tuple[Any, list[Any]]:
        body = self._json(response, body)
        records = _records(body, self.records_path)
        if records and records == self._last:
            raise PaginationLoop("", "", None, f"{type(self).__name__}: the API answered the same page twice "
                                               "(does it ignore the paging parameter?)")
        self._last = records
        return body, records


class OffsetLimit(_Numbered):
    """`limit`/`offset` parameters: the next offset is this one plus the page's length; a page shorter than `limit`
    (or an offset reaching the `total` at a dotted path, when given) ends the list. Resumes from an `offset` given
    in the first request's parameters."""

    def __init__(self, records_path: str | Sequence[str], limit: int = 100, *, limit_param: str = "limit",
                 offset_param: str = "offset", total_path: str | Sequence[str] | None = None) -> None:
        super().__init__(records_path)
        self.limit, self.limit_param, self.offset_param, self.total_path = limit, limit_param, offset_param, total_path
        self._offset = 0

    def first_request(self, params: Mapping[str, Any] | None = None) -> Params:
        params = dict(params or {})
        self._offset = int(params.pop(self.offset_param, 0) or 0)
        base = super().first_request(params)
        return {**base, self.limit_param: self.limit, self.offset_param: self._offset}

    def next_request(self, response: httpx.Response | None, body: Any = _MISSING) -> Params | None:
        body, records = self._page(response, body)
        self._offset += len(records)
        if len(records) < self.limit:
            return None
        if self.total_path is not None:
            total = dig(body, self.total_path)
            if not isinstance(total, int) or isinstance(total, bool):
                raise PaginationError("", "", None, f"no total count at {self.total_path!r}: {total!r:.50}")
            if self._offset >= total:
                return None
        return {**self._base, self.limit_param: self.limit, self.offset_param: self._offset}


class PageNumber(_Numbered):
    """A page number in `page_param`, from `start`: an empty page ends the list, so does a page shorter than `size`
    (when the page size is known) or the last of `total_pages` at a dotted path (when given). Resumes from a page
    number given in the first request's parameters."""

    def __init__(self, records_path: str | Sequence[str], *, page_param: str = "page", start: int = 1,
                 size: int | None = None, size_param: str | None = None,
                 total_pages_path: str | Sequence[str] | None = None) -> None:
        super().__init__(records_path)
        self.page_param, self.start, self.size, self.size_param = page_param, start, size, size_param
        self.total_pages_path = total_pages_path
        self._page_number = start

    def _sized(self, params: Params) -> Params:
        if self.size_param and self.size is not None:
            params[self.size_param] = self.size
        return params

    def first_request(self, params: Mapping[str, Any] | None = None) -> Params:
        params = dict(params or {})
        self._page_number = int(params.pop(self.page_param, self.start) or self.start)
        base = super().first_request(params)
        return self._sized({**base, self.page_param: self._page_number})

    def next_request(self, response: httpx.Response | None, body: Any = _MISSING) -> Params | None:
        body, records = self._page(response, body)
        if not records or (self.size is not None and len(records) < self.size):
            return None
        if self.total_pages_path is not None:
            total = dig(body, self.total_pages_path)
            if not isinstance(total, int) or isinstance(total, bool):
                raise PaginationError("", "", None, f"no page count at {self.total_pages_path!r}: {total!r:.50}")
            if self._page_number - self.start + 1 >= total:
                return None
        self._page_number += 1
        return self._sized({**self._base, self.page_param: self._page_number})


class AfterLastId(Paginator):
    """Stripe-style lists of any shape: `param` (`starting_after`) = the id (at `id_path`) of the page's last record,
    while the flag at `has_more_path` is true."""

    def __init__(self, records_path: str | Sequence[str], id_path: str | Sequence[str], *,
                 param: str = "starting_after", has_more_path: str | Sequence[str] = "has_more") -> None:
        super().__init__()
        self.records_path, self.id_path, self.param, self.has_more_path = records_path, id_path, param, has_more_path

    def next_request(self, response: httpx.Response | None, body: Any = _MISSING) -> Params | None:
        body = self._json(response, body)
        records = _records(body, self.records_path)
        if dig(body, self.has_more_path) is not True:
            return None
        if not records:
            raise PaginationError("", "", None, f"{self.has_more_path!r} is true but the page is empty: no id for "
                                                f"{self.param}")
        last = dig(records[-1], self.id_path)
        if last in (None, "") or isinstance(last, (dict, list, bool)):
            raise PaginationError("", "", None, f"the page's last record has no id at {self.id_path!r}")
        return {**self._base, self.param: self._token(last)}
