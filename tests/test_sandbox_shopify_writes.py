"""The Shopify sandbox's mutations and write helpers, seed reproducibility, and the fast executor's equivalence."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from sandbox.shopify import SHOPIFY_TOKEN, ShopifySandbox
from sandbox.shopify.app import _Documents, run_query
from sandbox.shopify.formats import iso
from sandbox.shopify.throttle import Unlimited
from tests.clocks import T0, Clock
from tests.shopify_sandbox import api

# -- writes ----------------------------------------------------------------------------------------------------

CUSTOMER_UPDATE = """mutation($input: CustomerInput!) { customerUpdate(input: $input) {
  customer { id firstName email tags note updatedAt metafield(namespace: "crm", key: "external_id") { value } }
  userErrors { field message } } }"""


async def test_customer_update_and_user_errors() -> None:
    clock = Clock()
    sb = ShopifySandbox(seed=5, customers=40, now=clock)
    first, second = sb.objects("customers")[:2]
    async with api(sb) as shop:
        async def update(**fields: Any) -> dict:
            return (await shop.data(CUSTOMER_UPDATE, {"input": fields}))["customerUpdate"]

        clock.advance(120)
        taken = await update(id=first["id"], email=second["email"].upper())
        assert taken == {"customer": None, "userErrors": [{"field": ["email"],
                                                            "message": "Email has already been taken"}]}
        assert (await update(id=first["id"], email="not an email"))["userErrors"] == [
            {"field": ["email"], "message": "Email is invalid"}]
        assert (await update(id="gid://shopify/Customer/12"))["userErrors"] == [
            {"field": ["id"], "message": "Customer does not exist"}]
        bad = await shop.gql(CUSTOMER_UPDATE, {"input": {"id": "12"}})
        assert bad["errors"][0]["message"] == "Invalid global id '12'"
        assert sb.objects("customers")[0] == first  # nothing changed by the failures

        done = await update(id=first["id"], firstName="Ada", email="ada@example.org", note="from inlet",
                            tags=["synced", "vip, gold"], metafields=[{
                                "namespace": "crm", "key": "external_id", "type": "single_line_text_field",
                                "value": "crm-9"}])
        assert done["userErrors"] == []
        assert done["customer"] == {"id": first["id"], "firstName": "Ada", "email": "ada@example.org",
                                    "tags": ["synced", "vip", "gold"], "note": "from inlet",
                                    "updatedAt": iso(T0 + 120), "metafield": {"value": "crm-9"}}
        stored = sb.objects("customers")[0]
        assert stored["displayName"] == f"Ada {first['lastName']}"
        assert stored["defaultEmailAddress"]["emailAddress"] == "ada@example.org"
        clock.advance(60)
        same = await update(id=first["id"], firstName="Ada")  # no change, no bump
        assert same["customer"]["updatedAt"] == iso(T0 + 120)
        # the old email is free again
        assert (await update(id=second["id"], email=first["email"]))["userErrors"] == []


async def test_tags_add_and_remove() -> None:
    clock = Clock()
    sb = ShopifySandbox(seed=5, customers=30, now=clock)
    product = sb.objects("products")[0]
    clock.advance(10)
    mutation = """mutation($id: ID!, $tags: [String!]!) { %s(id: $id, tags: $tags) {
      node { id ... on Product { tags updatedAt } } userErrors { field message } } }"""
    async with api(sb) as shop:
        added = (await shop.data(mutation % "tagsAdd", {"id": product["id"], "tags": ["Summer", "new,sale"]}))
        tags = added["tagsAdd"]["node"]["tags"]
        assert {"Summer", "new", "sale"} <= set(tags) and len(tags) == len(set(t.lower() for t in tags))
        assert added["tagsAdd"]["node"]["updatedAt"] == iso(T0 + 10)
        removed = await shop.data(mutation % "tagsRemove", {"id": product["id"], "tags": ["summer"]})
        assert "Summer" not in removed["tagsRemove"]["node"]["tags"]
        assert sb.objects("products")[0]["tags"] == removed["tagsRemove"]["node"]["tags"]
        missing = await shop.data(mutation % "tagsAdd", {"id": "gid://shopify/Product/3", "tags": ["x"]})
        assert missing["tagsAdd"] == {"node": None, "userErrors": [{"field": ["id"],
                                                                    "message": "Resource does not exist"}]}


async def test_metafields_set() -> None:
    clock = Clock()
    sb = ShopifySandbox(seed=6, customers=30, now=clock)
    customer = sb.objects("customers")[0]
    mutation = """mutation($m: [MetafieldsSetInput!]!) { metafieldsSet(metafields: $m) {
      metafields { namespace key value type } userErrors { field message code elementIndex } } }"""
    async with api(sb) as shop:
        clock.advance(5)
        ok = (await shop.data(mutation, {"m": [
            {"ownerId": customer["id"], "namespace": "inlet", "key": "score", "type": "number_integer", "value": "7"},
            {"ownerId": customer["id"], "key": "seen", "type": "boolean", "value": "true"}]}))["metafieldsSet"]
        assert ok == {"metafields": [
            {"namespace": "inlet", "key": "score", "value": "7", "type": "number_integer"},
            {"namespace": "app--7001234", "key": "seen", "value": "true", "type": "boolean"}], "userErrors": []}
        stored = sb.objects("customers")[0]
        assert stored["updatedAt"] == iso(T0 + 5)
        assert {(m["namespace"], m["key"], m["value"]) for m in stored["metafields"]} >= {
            ("inlet", "score", "7"), ("app--7001234", "seen", "true")}
        # atomic: one bad element and nothing is written
        failed = (await shop.data(mutation, {"m": [
            {"ownerId": customer["id"], "namespace": "inlet", "key": "score", "value": "8"},
            {"ownerId": customer["id"], "namespace": "inlet", "key": "score2", "type": "number_integer",
             "value": "eight"}]}))["metafieldsSet"]
        assert failed == {"metafields": None, "userErrors": [
            {"field": ["metafields", "1", "value"], "message": "Value must be an integer.", "code": "INVALID_VALUE",
             "elementIndex": 1}]}
        assert sb.objects("customers")[0]["metafields"] == stored["metafields"]
        too_many = [{"ownerId": customer["id"], "namespace": "inlet", "key": f"k{n:02d}", "type":
                     "single_line_text_field", "value": "x"} for n in range(26)]
        errors = (await shop.data(mutation, {"m": too_many}))["metafieldsSet"]["userErrors"]
        assert errors[0]["code"] == "LESS_THAN_OR_EQUAL_TO"


async def test_mutate_changes_the_shop() -> None:
    clock = Clock()
    sb = ShopifySandbox(seed=8, customers=2000, now=clock)
    clock.advance(100)
    before = {c["id"] for c in sb.objects("customers")}
    started = time.perf_counter()
    changes = sb.mutate(kind="customers", updates=1500, deletes=50, creates=20)
    assert time.perf_counter() - started < 2.0
    assert (len(changes["updated"]), len(changes["deleted"]), len(changes["created"])) == (1500, 50, 20)
    now = {c["id"]: c for c in sb.objects("customers")}
    assert set(changes["deleted"]).isdisjoint(now) and set(changes["deleted"]) <= before
    assert set(changes["created"]) <= set(now) and not set(changes["created"]) & before
    stamp = iso(T0 + 100)
    assert all(now[g]["updatedAt"] == stamp for g in changes["updated"] + changes["created"])
    assert sum(c["updatedAt"] == stamp for c in now.values()) == 1520  # many objects share one second

    orders = sb.mutate(kind="orders", updates=300)
    by_id = {o["id"]: o for o in sb.objects("orders")}
    touched = [by_id[g] for g in orders["updated"]]
    assert any(o["cancelledAt"] == stamp for o in touched) and any(o["closedAt"] == stamp for o in touched)
    placed = sb.mutate(kind="orders", creates=3)["created"]
    by_id = {o["id"]: o for o in sb.objects("orders")}
    assert [by_id[g]["createdAt"] for g in placed] == [stamp] * 3
    assert sb.mutate(kind="products", deletes=2)["deleted"] == [e["subjectId"]
                                                               for e in sb.objects("deletionEvents")[-2:]]
    with pytest.raises(ValueError):
        sb.mutate(kind="refunds", updates=1)



def test_same_seed_clock_and_calls_give_the_same_shop() -> None:
    one, two = (ShopifySandbox(seed=8, customers=150, now=Clock()) for _ in range(2))
    assert one.mutate("orders", updates=20, creates=2) == two.mutate("orders", updates=20, creates=2)
    for kind in ("customers", "orders", "products", "deletionEvents"):
        assert one.objects(kind) == two.objects(kind)
    assert ShopifySandbox(seed=9, customers=150, now=Clock()).objects("customers") != one.objects("customers")


def test_update_and_delete_helpers() -> None:
    clock = Clock()
    sb = ShopifySandbox(seed=9, customers=20, now=clock)
    customer, order = sb.objects("customers")[0], sb.objects("orders")[-1]
    clock.advance(30)
    changed = sb.update("customers", customer["id"], firstName="Grace", tags=["a"])
    assert changed["displayName"].startswith("Grace") and changed["updatedAt"] == iso(T0 + 30)
    cancelled = sb.update("orders", order["id"], cancelReason="CUSTOMER")
    assert cancelled["cancelReason"] == "CUSTOMER" and cancelled["cancelledAt"] and cancelled["closed"]
    with pytest.raises(ValueError):
        sb.update("customers", customer["id"], id="gid://shopify/Customer/1")
    with_orders = next(c["id"] for c in sb.objects("customers") if c["numberOfOrders"] not in (0, "0"))
    with pytest.raises(ValueError, match="has orders"):
        sb.delete("customers", with_orders)
    without = next(c["id"] for c in sb.objects("customers") if c["numberOfOrders"] in (0, "0"))
    sb.delete("customers", without)
    assert without not in sb.gids("customers")
    with pytest.raises(KeyError):
        sb.delete("customers", without)


# -- the fast executor answers exactly as graphql-core does ----------------------------------------------------

EQUIVALENCE = [
    ("""{ customers(first: 6, reverse: true, sortKey: UPDATED_AT) { edges { cursor node { ...C } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }
        fragment C on Customer { id displayName tags amountSpent { amount } defaultAddress { city }
        mf: metafields(first: 3) { nodes { key } } }""", {}),
    ("""query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Order { name lineItems(first: 2) { edges { node {
        title quantity } } } customer { id } } ... on Product { title variants(last: 2) { nodes { sku price } } } }
        }""",
     "ids"),
    ("""query($skip: Boolean!) { products(first: 3, sortKey: TITLE) { nodes { id title @skip(if: $skip)
        handle @include(if: $skip) __typename } } a: shop { name } b: shop { ianaTimezone } }""", {"skip": True}),
    ('{ customer(id: "nope") { id } product(id: "gid://shopify/Product/1") { id } }', {}),
    ("{ customers { nodes { id } } shop { name } }", {}),
    ('{ orders(first: 4, query: "status:closed", sortKey: TOTAL_PRICE) { nodes { id closedAt totalPriceSet {'
     " shopMoney { amount } } } } }", {}),
    ('mutation { customerUpdate(input: {id: "gid://shopify/Customer/1"}) { customer { id } userErrors { field '
     "message } } }", {}),
]


def test_fast_executor_matches_graphql_core() -> None:
    sb = ShopifySandbox(seed=3, customers=80, now=Clock())
    ids = [sb.objects("orders")[-1]["id"], sb.objects("products")[0]["id"], sb.objects("customers")[0]["id"]]
    documents = _Documents()
    for query, variables in EQUIVALENCE:
        variables = {"ids": ids} if variables == "ids" else variables
        fast = run_query(sb, documents, Unlimited(), set(sb.tokens[SHOPIFY_TOKEN]), query, variables, None)
        core = run_query(sb, documents, Unlimited(), set(sb.tokens[SHOPIFY_TOKEN]), query, variables, None,
                         executor="graphql-core")
        assert orjson.dumps(fast) == orjson.dumps(core), query
