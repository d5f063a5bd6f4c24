"""The generic paginators (declared REST sources) on bare responses, and the paging loop following whole next-page
URLs on the source's origin only."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import respx

from connectors.kit import PaginationError, PaginationLoop, SourceClient
from connectors.kit.pagination import AfterLastId, NextLinkHeader, NextToken, NextUrl, OffsetLimit, PageNumber

API = "https://api.example.com"


def page(body: object, url: str = f"{API}/items", **headers: str) -> httpx.Response:
    return httpx.Response(200, json=body, headers=headers, request=httpx.Request("GET", url))


def test_next_token_sends_the_token_back_and_stops_without_one():
    paginator = NextToken("meta.next", "cursor")
    assert paginator.first_request({"limit": 5}) == {"limit": 5}
    assert paginator.next_request(None, {"meta": {"next": "abc"}}) == {"limit": 5, "cursor": "abc"}
    assert paginator.next_request(None, {"meta": {"next": 42}}) == {"limit": 5, "cursor": "42"}
    for last in ({"meta": {"next": None}}, {"meta": {"next": ""}}, {"meta": {}}, {}):
        assert paginator.next_request(None, last) is None
    with pytest.raises(PaginationLoop, match="'abc' was already followed"):
        paginator.next_request(None, {"meta": {"next": "abc"}})
    with pytest.raises(PaginationError, match="not a string or number"):
        paginator.next_request(None, {"meta": {"next": {"a": 1}}})


def test_next_url_follows_relative_and_absolute_urls_on_the_origin_only():
    paginator = NextUrl("links.next", API)
    paginator.first_request({"limit": 5})
    assert paginator.next_request(page({}), {"links": {"next": f"{API}/v2/items?cursor=b&limit=5"}}) == \
        {"cursor": "b", "limit": "5"}
    assert paginator.next_path == "/v2/items"
    assert paginator.next_request(page({}, f"{API}/v2/items?cursor=b"), {"links": {"next": "?cursor=c&t=1&t=2"}}) \
        == {"cursor": "c", "t": ["1", "2"]}
    assert paginator.next_path == "/v2/items"
    assert paginator.next_request(page({}), {"links": {"next": None}}) is None
    for elsewhere in ("https://evil.example.com/items?cursor=d", "http://api.example.com/items?cursor=d",
                      "https://api.example.com:8443/items", "//evil.example.com/items"):
        with pytest.raises(PaginationError, match=r"another origin than https://api\.example\.com: not followed"):
            paginator.next_request(page({}), {"links": {"next": elsewhere}})
    with pytest.raises(PaginationLoop):
        paginator.next_request(page({}), {"links": {"next": f"{API}/v2/items?cursor=b&limit=5"}})
    with pytest.raises(PaginationError, match="is not a URL"):
        paginator.next_request(page({}), {"links": {"next": ["x"]}})


def test_next_link_header_reads_rel_next_among_others():
    paginator = NextLinkHeader(API)
    paginator.first_request({"per_page": 2})
    link = f'<{API}/repos/o/r/issues?page=1>; rel="prev", <{API}/repos/o/r/issues?per_page=2&page=3>; rel="next"'
    assert paginator.next_request(page([], Link=link)) == {"per_page": "2", "page": "3"}
    assert paginator.next_path == "/repos/o/r/issues"
    assert paginator.next_request(page([], Link=f'<{API}/x?page=1>; rel="first"')) is None
    assert paginator.next_request(page([])) is None
    with pytest.raises(PaginationError, match=r'rel="next" URL points at https://evil\.example\.com'):
        paginator.next_request(page([], Link='<https://evil.example.com/x?page=4>; rel="next"'))


def test_offset_stops_on_a_short_page_or_the_total_and_resumes_from_an_offset():
    paginator = OffsetLimit("data", 2, total_path="total")
    assert paginator.first_request({"q": "x"}) == {"q": "x", "limit": 2, "offset": 0}
    assert paginator.next_request(None, {"data": [1, 2], "total": 5}) == {"q": "x", "limit": 2, "offset": 2}
    assert paginator.next_request(None, {"data": [3, 4], "total": 5}) == {"q": "x", "limit": 2, "offset": 4}
    assert paginator.next_request(None, {"data": [5], "total": 5}) is None
    assert paginator.next_request(None, {"data": [7, 8], "total": 4}) is None  # offset 6 >= total 4
    no_total = OffsetLimit("data", 2)
    assert no_total.first_request({"offset": 10}) == {"limit": 2, "offset": 10}
    assert no_total.next_request(None, {"data": [1, 2]}) == {"limit": 2, "offset": 12}
    with pytest.raises(PaginationLoop, match="same page twice"):
        no_total.next_request(None, {"data": [1, 2]})
    with pytest.raises(PaginationError, match="no total count at 'total'"):
        paginator.first_request()
        paginator.next_request(None, {"data": [1, 2], "total": "many"})
    with pytest.raises(PaginationError, match="no list of records at 'data'"):
        paginator.next_request(None, {"data": {"a": 1}})


def test_page_number_counts_pages_and_stops_on_empty_short_or_last():
    paginator = PageNumber("", start=1, size=2, size_param="per_page")
    assert paginator.first_request() == {"page": 1, "per_page": 2}
    assert paginator.next_request(None, [1, 2]) == {"page": 2, "per_page": 2}
    assert paginator.next_request(None, [3]) is None
    unsized = PageNumber("items", page_param="p", start=0, total_pages_path="pages")
    assert unsized.first_request({"p": 4}) == {"p": 4}
    assert unsized.next_request(None, {"items": [1], "pages": 9}) == {"p": 5}
    assert unsized.next_request(None, {"items": [2], "pages": 6}) is None  # page 5 of 0..5
    unsized.first_request()
    assert unsized.next_request(None, {"items": [], "pages": 9}) is None


def test_after_last_id_takes_the_last_records_key_while_has_more():
    paginator = AfterLastId("result.items", "key.id", param="after", has_more_path="result.more")
    paginator.first_request({"limit": 2})
    body = {"result": {"items": [{"key": {"id": "a"}}, {"key": {"id": "b"}}], "more": True}}
    assert paginator.next_request(None, body) == {"limit": 2, "after": "b"}
    assert paginator.next_request(None, {"result": {"items": [{"key": {"id": "c"}}], "more": False}}) is None
    with pytest.raises(PaginationError, match="empty"):
        paginator.next_request(None, {"result": {"items": [], "more": True}})
    with pytest.raises(PaginationError, match=r"no id at 'key\.id'"):
        paginator.next_request(None, {"result": {"items": [{"id": "x"}], "more": True}})


@respx.mock
def test_the_paging_loop_follows_next_urls_and_never_sends_credentials_elsewhere():
    respx.get(f"{API}/items", params={"limit": "2"}).mock(return_value=httpx.Response(
        200, json={"items": [1, 2], "next": f"{API}/items/page2?after=2"}))
    respx.get(f"{API}/items/page2", params={"after": "2"}).mock(return_value=httpx.Response(
        200, json={"items": [3, 4], "next": "https://evil.example.com/steal?after=4"}))
    evil = respx.get("https://evil.example.com/steal").mock(return_value=httpx.Response(200, json={"items": []}))

    async def read() -> list:
        got = []
        async with SourceClient("src", API, headers={"Authorization": "Bearer secret-token-1"}) as client:
            async for records in client.pages(NextUrl("next", API), "/items", {"limit": 2}, object_name="items",
                                              records_path="items"):
                got += records
        return got

    with pytest.raises(PaginationError, match=r"source 'src', object 'items'.*evil\.example\.com.*not followed"):
        asyncio.run(read())
    assert not evil.called


def test_a_relative_next_url_of_a_bare_response_is_taken_from_the_origin():
    paginator = NextUrl("next", API)
    paginator.first_request()
    assert paginator.next_request(httpx.Response(200, json={}), {"next": "/items?page=2"}) == {"page": "2"}
    assert paginator.next_path == "/items"
