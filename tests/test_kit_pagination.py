"""Each paginator on bare responses: first request, following pages, the last page, and repeated tokens."""

from __future__ import annotations

import httpx
import pytest

from connectors.kit import AfterCursor, ConnectionCursor, PaginationError, PaginationLoop, StartingAfter

SHOP = "https://acme.myshopify.com/admin/api/2024-01/customers.json"


def page(body: object, **headers: str) -> httpx.Response:
    return httpx.Response(200, json=body, headers=headers)


def test_starting_after_follows_the_last_id_until_has_more_is_false() -> None:
    paginator = StartingAfter(limit=2)
    assert paginator.first_request({"created[gte]": 1}) == {"created[gte]": 1, "limit": 2}
    nxt = paginator.next_request(page({"object": "list", "data": [{"id": "cus_3"}, {"id": "cus_2"}],
                                       "has_more": True}))
    assert nxt == {"created[gte]": 1, "limit": 2, "starting_after": "cus_2"}
    assert paginator.next_request(page({"data": [{"id": "cus_1"}], "has_more": False})) is None


def test_starting_after_uses_an_already_decoded_body() -> None:
    paginator = StartingAfter()
    paginator.first_request()
    body = {"data": [{"id": "cus_9"}], "has_more": True}
    assert paginator.next_request(httpx.Response(200, text="not read"), body)["starting_after"] == "cus_9"


def test_starting_after_raises_on_a_repeated_id() -> None:
    paginator = StartingAfter()
    paginator.first_request()
    same = page({"data": [{"id": "cus_1"}], "has_more": True})
    paginator.next_request(same)
    with pytest.raises(PaginationLoop, match="cus_1"):
        paginator.next_request(same)


def test_starting_after_refuses_an_empty_page_that_claims_more() -> None:
    paginator = StartingAfter()
    paginator.first_request()
    with pytest.raises(PaginationError):
        paginator.next_request(page({"data": [], "has_more": True}))


def test_first_request_resets_the_seen_tokens() -> None:
    paginator = StartingAfter()
    same = page({"data": [{"id": "cus_1"}], "has_more": True})
    paginator.first_request()
    paginator.next_request(same)
    paginator.first_request()  # a new walk (e.g. the next sync) may meet the same ids again
    assert paginator.next_request(same) is not None


def test_after_cursor_reads_paging_next_after_and_stops_without_paging() -> None:
    paginator = AfterCursor(limit=100)
    assert paginator.first_request({"properties": "email"}) == {"properties": "email", "limit": 100}
    body = {"results": [{"id": "1"}], "paging": {"next": {"after": "NTI1Cg%3D%3D", "link": "?after=NTI1Cg%3D%3D"}}}
    assert paginator.next_request(page(body)) == {"properties": "email", "limit": 100, "after": "NTI1Cg%3D%3D"}
    assert paginator.next_request(page({"results": [{"id": "2"}]})) is None
    with pytest.raises(PaginationLoop):
        paginator.next_request(page(body))


def graphql(has_next: bool, cursor: str | None) -> dict:
    return {"data": {"customers": {"edges": [{"cursor": "c", "node": {"id": "gid://shopify/Customer/1"}}],
                                   "pageInfo": {"hasNextPage": has_next, "endCursor": cursor}}}}


def test_connection_cursor_reads_page_info_at_the_configured_path() -> None:
    paginator = ConnectionCursor("data.customers", page_size=250)
    assert paginator.first_request({"query": "updated_at:>'2024-01-01'"}) == {
        "query": "updated_at:>'2024-01-01'", "first": 250, "after": None}
    assert paginator.next_request(page(graphql(True, "eyJ9"))) == {
        "query": "updated_at:>'2024-01-01'", "first": 250, "after": "eyJ9"}
    assert paginator.next_request(page(graphql(False, "eyJ9"))) is None
    with pytest.raises(PaginationLoop):
        paginator.next_request(page(graphql(True, "eyJ9")))


def test_connection_cursor_refuses_a_missing_connection() -> None:
    paginator = ConnectionCursor(("data", "orders"))
    paginator.first_request()
    with pytest.raises(PaginationError, match="pageInfo"):
        paginator.next_request(page(graphql(True, "x")))
