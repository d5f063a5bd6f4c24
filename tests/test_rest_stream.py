"""A declared resource's stream with respx: its cursors (resuming at the next page, handing over to the changes),
the incremental position in the value's own format, POST bodies with `{{ cursor }}`, soft deletions."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
import pytest
import respx

from connectors.kit.phased import UnreadableCursor
from connectors.rest.connector import RestConnector
from connectors.rest.fields import singular
from connectors.rest.settings import RestSettings
from connectors.rest.stream import CURSORS, RestStream
from connectors.rest.values import less, newest, to_us

API = "https://api.example.com"


def stream(**resource) -> RestStream:
    settings = RestSettings.model_validate({"bridge": "rest", "base_url": API, "rate_limit": {"requests": 1000},
                                            "resources": {"contacts": {"path": "/contacts", **resource}}})
    return RestConnector("src", settings).streams()[0]


def read(s: RestStream, cursor=None, *, full_refresh: bool = False, pages: int | None = None) -> list:
    async def run() -> list:
        out = []
        async for page in s.read(cursor, full_refresh=full_refresh):
            out.append(page)
            if pages is not None and len(out) == pages:
                break
        await s.client.aclose()
        return out

    return asyncio.run(run())


CURSOR_LIST = {"records": "results", "params": {"limit": 2},
               "paginator": {"type": "cursor", "cursor": "next", "param": "after"}}


def mock_list(route: respx.Route) -> None:
    pages = {None: ({"results": [{"id": 1, "t": "2024-05-01T10:00:00Z"}, {"id": 2, "t": "2024-05-01T12:00:00Z"}],
                     "next": "p2"}),
             "p2": {"results": [{"id": 3, "t": "2024-05-01T11:00:00Z"}]}}
    route.mock(side_effect=lambda request: httpx.Response(200, json=pages[request.url.params.get("after")]))


@respx.mock
def test_a_complete_read_resumes_at_the_next_page_and_without_incremental_starts_over_next_time():
    mock_list(respx.get(f"{API}/contacts"))
    first = read(stream(**CURSOR_LIST), pages=1)
    cursor = first[0].cursor
    assert cursor["phase"] == "scan" and cursor["page"] == {"path": "/contacts", "request": {"limit": 2,
                                                                                             "after": "p2"}}
    assert [r.external_id for r in first[0].records] == ["1", "2"] and first[0].scan_id == cursor["scan"]
    rest = read(stream(**CURSOR_LIST), cursor)  # after a kill: the page after the last committed one
    assert [r.external_id for r in rest[0].records] == ["3"]
    assert rest[0].scan_id == cursor["scan"] and rest[0].scan_complete and rest[0].cursor is None
    assert respx.calls.last.request.url.params["after"] == "p2"


@respx.mock
def test_incremental_hands_over_the_newest_value_and_asks_for_it_less_the_overlap():
    mock_list(respx.get(f"{API}/contacts"))
    s = dict(CURSOR_LIST, incremental={"param": "since", "field": "t", "overlap": "90s"}, updated_at="t")
    pages = read(stream(**s))
    assert pages[-1].scan_complete and pages[-1].cursor == {"v": 1, "phase": "changes", "since":
                                                            "2024-05-01T12:00:00Z", "page": None, "newest": None}
    assert pages[0].records[1].updated_at_us == to_us("2024-05-01T12:00:00Z")
    later = read(stream(**s), pages[-1].cursor)
    assert respx.calls.last.request.url.params["since"] == "2024-05-01T11:58:30Z"
    assert later[-1].scan_id is None and later[-1].cursor["since"] == "2024-05-01T12:00:00Z"
    assert read(stream(**s), later[-1].cursor, full_refresh=True)[0].scan_id is not None


@respx.mock
def test_a_post_search_puts_the_position_and_the_page_token_in_its_body():
    bodies = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        if body.get("after") is None:
            return httpx.Response(200, json={"results": [{"id": "a", "ts": 1714557600123}], "next": "n2"})
        return httpx.Response(200, json={"results": [{"id": "b", "ts": 1714557600999}], "next": None})

    respx.post(f"{API}/contacts", params={"portal": "7"}).mock(side_effect=answer)
    s = stream(method="POST", params={"portal": 7}, records="results",
               json={"filter": {"gte": "{{ cursor }}", "label": "since {{ cursor }}"}, "limit": 1},
               paginator={"type": "cursor", "cursor": "next", "param": "after"},
               incremental={"field": "ts", "overlap": "1s", "start": 0})
    pages = read(s)
    assert bodies == [{"filter": {"gte": 0, "label": "since 0"}, "limit": 1},
                      {"filter": {"gte": 0, "label": "since 0"}, "limit": 1, "after": "n2"}]
    assert pages[-1].cursor["since"] == 1714557600999
    read(stream(method="POST", params={"portal": 7}, records="results",
                json={"filter": {"gte": "{{ cursor }}"}, "limit": 1},
                paginator={"type": "cursor", "cursor": "next", "param": "after"},
                incremental={"field": "ts", "overlap": "1s", "start": 0}), pages[-1].cursor)
    assert bodies[-2] == {"filter": {"gte": 1714557599999}, "limit": 1}  # milliseconds, less 1 s


@respx.mock
def test_a_soft_delete_flag_marks_a_record_deleted_only_for_the_same_value_and_type():
    respx.get(f"{API}/contacts").mock(return_value=httpx.Response(200, json=[
        {"id": 1, "archived": True}, {"id": 2, "archived": 1}, {"id": 3, "archived": False}, {"id": 4}]))
    [page] = read(stream(deleted={"field": "archived", "equals": True}))
    assert [r.deleted for r in page.records] == [True, False, False, False]
    assert page.scan_complete  # one request, the whole list


def test_cursors_of_another_shape_start_a_complete_read():
    with pytest.raises(UnreadableCursor):
        CURSORS.load({"v": 1, "phase": "changes", "since": {"a": 1}})
    with pytest.raises(UnreadableCursor):
        CURSORS.load({"v": 2, "phase": "scan", "scan": "x"})


def test_values_keep_their_format_and_names_become_singular():
    assert less("2024-05-01T10:00:00.123Z", timedelta(minutes=1)) == "2024-05-01T09:59:00.123Z"
    assert less("2024-05-01T10:00:00+02:00", timedelta(hours=1)) == "2024-05-01T09:00:00+02:00"
    assert less("2024-05-01", timedelta(minutes=1)) == "2024-04-30"
    assert less(1714557600, timedelta(seconds=60)) == 1714557540
    assert less("v-000123", timedelta(minutes=1)) == "v-000123"  # not a time: sent as it is
    assert newest("2024-05-01T10:00:00Z", "2024-05-01T09:00:00-02:00") == "2024-05-01T09:00:00-02:00"
    assert newest(None, "x") == "x" and newest("x", None) == "x" and newest(5, {"a": 1}) == 5
    assert [singular(n) for n in ("contacts", "companies", "addresses", "boxes", "status", "people", "deal-stages")] \
        == ["contact", "company", "address", "box", "status", "people", "deal_stage"]


@respx.mock
def test_a_stored_next_page_the_api_refuses_starts_the_list_again_at_its_first_page():
    def answer(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("after")
        if after == "expired":
            return httpx.Response(400, json={"message": "page token expired"})
        if after is None:
            return httpx.Response(200, json={"results": [{"id": 1}, {"id": 2}], "next": "p2"})
        return httpx.Response(200, json={"results": [{"id": 3}]})

    respx.get(f"{API}/contacts").mock(side_effect=answer)
    stored = {"v": 1, "phase": "scan", "scan": "s1", "how": "list",
              "page": {"path": "/contacts", "request": {"limit": 2, "after": "expired"}}}
    pages = read(stream(**CURSOR_LIST), stored)
    assert [[r.external_id for r in p.records] for p in pages] == [["1", "2"], ["3"]]
    assert pages[0].scan_id == "s1" and pages[-1].scan_complete  # the same complete read, which saw everything
    assert "refused (HTTP 400): the list is read again from its first page" in pages[0].note
    assert pages[1].note is None


@respx.mock
def test_a_next_url_echoing_a_query_api_key_leaves_it_out_of_the_cursor():
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.params["api_key"] == "k-secret-99"
        if request.url.params.get("page") == "2":
            return httpx.Response(200, json={"items": [{"id": 2}], "next": None})
        return httpx.Response(200, json={"items": [{"id": 1}], "next": f"{API}/contacts?api_key=k-secret-99&page=2"})

    respx.get(f"{API}/contacts").mock(side_effect=answer)
    settings = RestSettings.model_validate({
        "bridge": "rest", "base_url": API, "auth": {"type": "api_key", "name": "api_key", "value": "k-secret-99",
                                                    "in": "query"},
        "resources": {"contacts": {"path": "/contacts", "records": "items",
                                   "paginator": {"type": "next_url", "url": "next"}}}})
    pages = read(RestConnector("src", settings).streams()[0], pages=1)
    assert pages[0].cursor["page"] == {"path": "/contacts", "request": {"page": "2"}}
    rest = read(RestConnector("src", settings).streams()[0], pages[0].cursor)
    assert [r.external_id for r in rest[0].records] == ["2"]
