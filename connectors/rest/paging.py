"""A `rest` resource's `paginator`: the kinds it may declare, and each as the kit's paginator
(connectors/kit/pagination.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

import httpx
from pydantic import Field

from connectors.kit.pagination import (
    AfterLastId,
    NextLinkHeader,
    NextToken,
    NextUrl,
    OffsetLimit,
    PageNumber,
    Paginator,
    Params,
)
from connectors.rest.fields import Dotted, ParamName, StrictModel


class CursorPaging(StrictModel):
    """A token at the dotted path `cursor`, sent back in `param` (a query parameter; a body field for POST)."""

    type: Literal["cursor"]
    cursor: Dotted
    param: ParamName


class NextUrlPaging(StrictModel):
    """A full next-page URL at the dotted path `url`."""

    type: Literal["next_url"]
    url: Dotted = "next"


class LinkHeaderPaging(StrictModel):
    """RFC 8288 `Link: <...>; rel="next"`."""

    type: Literal["link_header"]


class OffsetPaging(StrictModel):
    type: Literal["offset"]
    limit: Annotated[int, Field(ge=1, le=100_000)] = 100
    limit_param: ParamName = "limit"
    offset_param: ParamName = "offset"
    total: Dotted | None = None  # where the answer says how many there are


class PageNumberPaging(StrictModel):
    type: Literal["page_number"]
    page_param: ParamName = "page"
    start: Annotated[int, Field(ge=0)] = 1
    size: Annotated[int, Field(ge=1, le=100_000)] | None = None
    size_param: ParamName | None = None
    total_pages: Dotted | None = None


class StartingAfterPaging(StrictModel):
    """Stripe style: `param` = the last record's primary key while `has_more` is true."""

    type: Literal["starting_after"]
    param: ParamName = "starting_after"
    has_more: Dotted = "has_more"


PagingConfig = Annotated[Union[CursorPaging, NextUrlPaging, LinkHeaderPaging, OffsetPaging,  # noqa: UP007
                               PageNumberPaging, StartingAfterPaging], Field(discriminator="type")]


class OnePage(Paginator):
    """No paginator declared: one request answers the whole list."""

    def next_request(self, response: httpx.Response | None, body: Any = None) -> Params | None:
        return None


def records_path(records: str) -> tuple[str, ...]:
    """The dotted `records` path as keys; () is the whole answer."""
    return tuple(records.split(".")) if records else ()


def paginator_for(config: PagingConfig | None, records: tuple[str, ...], primary_key: str, base_url: str) -> Paginator:
    """A new paginator of the declared kind (each read has its own: a paginator holds the tokens it followed)."""
    match config:
        case None:
            return OnePage()
        case CursorPaging():
            return NextToken(config.cursor, config.param)
        case NextUrlPaging():
            return NextUrl(config.url, base_url)
        case LinkHeaderPaging():
            return NextLinkHeader(base_url)
        case OffsetPaging():
            return OffsetLimit(records, config.limit, limit_param=config.limit_param,
                               offset_param=config.offset_param, total_path=config.total)
        case PageNumberPaging():
            return PageNumber(records, page_param=config.page_param, start=config.start, size=config.size,
                              size_param=config.size_param, total_pages_path=config.total_pages)
        case StartingAfterPaging():
            return AfterLastId(records, primary_key, param=config.param, has_more_path=config.has_more)
    raise TypeError(f"no paginator for {config!r}")
