"""A resource's declared `paginator` as the kit's paginator (connectors/kit/pagination.py)."""

from __future__ import annotations

from typing import Any

import httpx

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
from connectors.rest.settings import (
    CursorPaging,
    LinkHeaderPaging,
    NextUrlPaging,
    OffsetPaging,
    PageNumberPaging,
    Resource,
    StartingAfterPaging,
)


class OnePage(Paginator):
    """No paginator declared: one request answers the whole list."""

    def next_request(self, response: httpx.Response | None, body: Any = None) -> Params | None:
        return None


def records_path(resource: Resource) -> tuple[str, ...]:
    """The dotted `records` path as keys; () is the whole answer."""
    return tuple(resource.records.split(".")) if resource.records else ()


def paginator_for(resource: Resource, base_url: str) -> Paginator:
    config, records = resource.paginator, records_path(resource)
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
            return AfterLastId(records, resource.primary_key, param=config.param, has_more_path=config.has_more)
    raise TypeError(f"no paginator for {config!r}")
