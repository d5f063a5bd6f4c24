"""The Shopify sandbox behaves as Shopify's GraphQL Admin API does (VENDOR_FACTS 2 and 4, shopify.dev), over HTTP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest

from sandbox.shopify import (
    API_VERSIONS,
    SHOPIFY_TOKEN,
    SHOPIFY_TOKEN_RECENT_ORDERS,
    ShopifySandbox,
    create_app,
)
from sandbox.shopify.app import _Documents, run_query
from sandbox.shopify.formats import iso
from sandbox.shopify.search import compile_query, parse
from sandbox.shopify.throttle import Unlimited

T0 = 1_790_000_000.0
DAY = 86_400
CUSTOMER_FIELDS = """id firstName lastName displayName email phone tags note state verifiedEmail taxExempt
  numberOfOrders createdAt updatedAt amountSpent { amount currencyCode }
  defaultEmailAddress { emailAddress marketingState }
  defaultAddress { id firstName lastName name company address1 address2 city province provinceCode country
                   countryCodeV2 zip phone }"""


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class Api:
    def __init__(self, client: httpx.AsyncClient, token: str, version: str) -> None:
        self.client, self.token, self.version = client, token, version

    async def post(self, query: str, variables: dict | None = None, *, token: str | None = None,
                   version: str | None = None) -> httpx.Response:
        return await self.client.post(f"/admin/api/{version or self.version}/graphql.json",
                                      json={"query": query, "variables": variables or {}},
                                      headers={"X-Shopify-Access-Token": self.token if token is None else token})

    async def gql(self, query: str, variables: dict | None = None, **kwargs: Any) -> dict:
        response = await self.post(query, variables, **kwargs)
        assert response.status_code == 200, response.text
        return orjson.loads(response.content)

    async def data(self, query: str, variables: dict | None = None, **kwargs: Any) -> dict:
        body = await self.gql(query, variables, **kwargs)
        assert "errors" not in body, body["errors"]
        return body["data"]


@asynccontextmanager
async def api(sb: ShopifySandbox, token: str = SHOPIFY_TOKEN, version: str = "2025-07",
              **app_args: Any) -> AsyncIterator[Api]:
    app_args.setdefault("throttle", False)
    transport = httpx.ASGITransport(app=create_app(sb, **app_args))
    async with httpx.AsyncClient(transport=transport, base_url="https://inlet-sandbox.myshopify.com") as client:
        yield Api(client, token, version)


async def walk(shop: Api, field: str, selection: str, page_size: int = 50, **args: Any) -> list[dict]:
    """Every node of a root connection, following endCursor as a connector does."""
    arguments = ", ".join(f"{k}: {v}" for k, v in args.items())
    query = f"""query($after: String) {{ {field}(first: {page_size}, after: $after{', ' if arguments else ''}
      {arguments}) {{ edges {{ cursor node {{ {selection} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"""
    nodes, after = [], None
    while True:
        conn = (await shop.data(query, {"after": after}))[field]
        nodes += [edge["node"] for edge in conn["edges"]]
        if not conn["pageInfo"]["hasNextPage"]:
            return nodes
        after = conn["pageInfo"]["endCursor"]


@pytest.fixture(scope="module")
def shop_sb() -> ShopifySandbox:
    """A read-only shop shared by the tests that do not change it."""
    return ShopifySandbox(seed=7, customers=150, now=Clock())


# -- auth, versions, transport ---------------------------------------------------------------------------------

async def test_unknown_or_missing_token_is_401_with_shopifys_body(shop_sb: ShopifySandbox) -> None:
    async with api(shop_sb) as shop:
        for token in ("shpat_wrong", ""):
            response = await shop.post("{ shop { name } }", token=token)
            assert response.status_code == 401
            assert response.json() == {
                "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
        assert shop_sb.tokens[SHOPIFY_TOKEN] - shop_sb.tokens[SHOPIFY_TOKEN_RECENT_ORDERS] == {"read_all_orders"}


async def test_versions_answer_with_the_version_used(shop_sb: ShopifySandbox) -> None:
    assert API_VERSIONS == ("2025-01", "2025-04", "2025-07", "2025-10", "2026-01", "2026-04", "2026-07", "2026-10")
    async with api(shop_sb) as shop:
        for asked, used in (("2026-04", "2026-04"), ("2019-10", "2025-01"), ("2027-01", "2025-01"),
                            ("unstable", "unstable"), ("banana", "2025-01")):
            response = await shop.post("{ shop { name myshopifyDomain ianaTimezone currencyCode } }", version=asked)
            assert response.status_code == 200
            assert response.headers["x-shopify-api-version"] == used
            assert response.json()["data"]["shop"] == {"name": "Inlet Sandbox",
                                                       "myshopifyDomain": "inlet-sandbox.myshopify.com",
                                                       "ianaTimezone": "UTC", "currencyCode": "USD"}
        missing = await shop.client.post("/admin/api/2025-07/graphql.json", content=b"{}",
                                         headers={"X-Shopify-Access-Token": SHOPIFY_TOKEN})
        assert missing.status_code == 400
        assert (await shop.client.get("/admin/api/2025-07/customers.json")).status_code == 404
        raw = await shop.client.post("/admin/api/2025-07/graphql.json", content=b"{ shop { name } }",
                                     headers={"X-Shopify-Access-Token": SHOPIFY_TOKEN,
                                              "Content-Type": "application/graphql"})
        assert raw.json()["data"] == {"shop": {"name": "Inlet Sandbox"}}


async def test_syntax_and_validation_errors_come_back_as_200_with_errors(shop_sb: ShopifySandbox) -> None:
    async with api(shop_sb) as shop:
        body = await shop.gql("{ customerz(first: 1) { nodes { id } } }")
        assert "data" not in body
        assert body["errors"] == [{"message": "Field 'customerz' doesn't exist on type 'QueryRoot'",
                                   "locations": [{"line": 1, "column": 3}],
                                   "extensions": {"code": "undefinedField", "typeName": "QueryRoot",
                                                  "fieldName": "customerz"}}]
        assert body["extensions"]["cost"]["requestedQueryCost"] == 0
        body = await shop.gql("{ customers(first: 1) { nodes { id }")
        assert body["errors"][0]["extensions"]["code"] == "PARSE_ERROR" and body["errors"][0]["locations"]
        body = await shop.gql("{ customer { id } }")
        assert body["errors"][0]["extensions"]["code"] == "missingRequiredArguments"
        body = await shop.gql("query($n: Int!) { customers(first: $n) { nodes { id } } }", {"n": "ten"})
        assert body["errors"][0]["message"] == "Variable $n of type Int! was provided invalid value"
        two = "query A { shop { name } } query B { shop { currencyCode } }"
        assert (await shop.gql(two))["errors"][0]["message"] == "An operation name is required"
        named = await shop.client.post("/admin/api/2025-07/graphql.json", json={"query": two, "operationName": "B"},
                                       headers={"X-Shopify-Access-Token": SHOPIFY_TOKEN})
        assert named.json()["data"] == {"shop": {"currencyCode": "USD"}}


async def test_a_connection_needs_first_or_last(shop_sb: ShopifySandbox) -> None:
    async with api(shop_sb) as shop:
        body = await shop.gql("{ products { edges { node { id } } } }")
        assert body["data"] is None
        assert body["errors"] == [{"message": "you must provide one of first or last",
                                   "locations": [{"line": 1, "column": 3}], "path": ["products"],
                                   "extensions": {"code": "BAD_REQUEST"}}]
        # Shopify charges the connection's 2 even so
        assert body["extensions"]["cost"]["requestedQueryCost"] == 2
        assert body["extensions"]["cost"]["actualQueryCost"] == 2


# -- connections -----------------------------------------------------------------------------------------------

async def test_walking_customers_gives_every_customer_with_every_field(shop_sb: ShopifySandbox) -> None:
    async with api(shop_sb) as shop:
        walked = await walk(shop, "customers", CUSTOMER_FIELDS, page_size=40)
    expected = [{k: v for k, v in c.items() if k != "metafields"} for c in shop_sb.objects("customers")]
    assert walked == expected
    assert len(walked) == 150
    assert all(len(c["id"].rsplit("/", 1)[1]) == 13 for c in walked)
    sample = next(c for c in walked if c["numberOfOrders"] != "0")
    assert isinstance(sample["numberOfOrders"], str) and isinstance(sample["amountSpent"]["amount"], str)
    assert sample["createdAt"].endswith("Z") and len(sample["createdAt"]) == 20


async def test_sort_keys_reverse_and_backward_paging(shop_sb: ShopifySandbox) -> None:
    async with api(shop_sb) as shop:
        by_updated = await walk(shop, "customers", "id updatedAt", page_size=60, sortKey="UPDATED_AT")
        stamps = [c["updatedAt"] for c in by_updated]
        assert stamps == sorted(stamps)
        newest_first = await walk(shop, "customers", "id updatedAt", page_size=60, sortKey="UPDATED_AT",
                                  reverse="true")
        assert newest_first == list(reversed(by_updated))
        by_name = await walk(shop, "customers", "displayName", page_size=100, sortKey="NAME")
        names = [c["displayName"].lower() for c in by_name]
        assert names == sorted(names)
        titles = [p["title"].lower() for p in await walk(shop, "products", "title", sortKey="TITLE")]
        assert titles == sorted(titles)
        totals = [int(o["name"][1:]) for o in await walk(shop, "orders", "name", page_size=100,
                                                         sortKey="ORDER_NUMBER", reverse="true")]
        assert totals == sorted(totals, reverse=True)

        # last/before walks the same list backwards; pageInfo says where the page sits
        query = """query($before: String) { customers(last: 35, before: $before) {
          nodes { id } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""
        backwards, before, first_page = [], None, True
        while True:
            conn = (await shop.data(query, {"before": before}))["customers"]
            assert conn["pageInfo"]["hasNextPage"] is not first_page
            backwards = conn["nodes"] + backwards
            first_page = False
            if not conn["pageInfo"]["hasPreviousPage"]:
                break
            before = conn["pageInfo"]["startCursor"]
        assert [c["id"] for c in backwards] == shop_sb.gids("customers")
        middle = (await shop.data("query($a: String) { customers(first: 5, after: $a) { pageInfo { hasPreviousPage"
                                  " } } }", {"a": conn["pageInfo"]["endCursor"]}))["customers"]
        assert middle["pageInfo"]["hasPreviousPage"] is True
        empty = (await shop.data("{ customers(first: 0) { nodes { id } pageInfo { hasNextPage startCursor } } }"))
        assert empty["customers"] == {"nodes": [], "pageInfo": {"hasNextPage": True, "startCursor": None}}
        bad = await shop.gql('{ customers(first: 5, after: "not-a-cursor") { nodes { id } } }')
        assert bad["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_query_filters(shop_sb: ShopifySandbox) -> None:
    customers = shop_sb.objects("customers")
    middle = sorted(c["updatedAt"] for c in customers)[75]
    async with api(shop_sb) as shop:
        async def ids(field: str, query: str, **args: Any) -> list[str]:
            escaped = query.replace('"', '\\"')
            return [n["id"] for n in await walk(shop, field, "id", page_size=100, query=f'"{escaped}"', **args)]

        since = [c["id"] for c in customers if c["updatedAt"] >= middle]
        assert await ids("customers", f"updated_at:>='{middle}'") == since
        assert await ids("customers", f"updated_at:>={middle}", sortKey="UPDATED_AT") == \
            [c["id"] for c in sorted(customers, key=lambda c: (c["updatedAt"], c["id"])) if c["updatedAt"] >= middle]
        assert await ids("customers", f'updated_at:>"{middle}"') == [c["id"] for c in customers
                                                                      if c["updatedAt"] > middle]
        assert await ids("customers", f"updated_at:<'{middle}'") == [c["id"] for c in customers
                                                                      if c["updatedAt"] < middle]
        assert await ids("customers", f"updated_at:<='{middle}'") == [c["id"] for c in customers
                                                                       if c["updatedAt"] <= middle]
        day = middle[:10]
        assert await ids("customers", f"created_at:{day}") == [c["id"] for c in customers
                                                               if c["createdAt"][:10] == day]
        enabled = [c["id"] for c in customers if c["state"] == "ENABLED"]
        vip = [c["id"] for c in customers if "vip" in c["tags"]]
        assert await ids("customers", "state:enabled") == enabled
        assert await ids("customers", "state:enabled AND tag:vip") == [i for i in enabled if i in vip]
        assert await ids("customers", "state:enabled tag:vip") == [i for i in enabled if i in vip]
        assert await ids("customers", "state:enabled OR tag:vip") == [c["id"] for c in customers
                                                                       if c["id"] in enabled or c["id"] in vip]
        assert await ids("customers", "-tag:vip") == [c["id"] for c in customers if c["id"] not in vip]
        assert await ids("customers", "NOT tag:vip") == [c["id"] for c in customers if c["id"] not in vip]
        email = customers[3]["email"]
        assert await ids("customers", f"email:{email.upper()}") == [customers[3]["id"]]
        products = shop_sb.objects("products")
        assert await ids("products", "status:active,draft") == [p["id"] for p in products
                                                                 if p["status"] in ("ACTIVE", "DRAFT")]
        orders = shop_sb.objects("orders")
        assert await ids("orders", "status:cancelled") == [o["id"] for o in orders if o["cancelledAt"]]

        # an unknown field is dropped, and said so in extensions.search
        body = await shop.gql('{ customers(first: 250, query: "state:enabled colour:blue") { nodes { id } } }')
        assert [n["id"] for n in body["data"]["customers"]["nodes"]] == enabled
        assert body["extensions"]["search"] == [{
            "path": ["customers"], "query": "state:enabled colour:blue",
            "warnings": [{"field": "colour", "message": "Invalid search field for this query.",
                          "code": "invalid_field"}]}]
        bad = await shop.gql('{ customers(first: 5, query: "updated_at:>yesterday-ish") { nodes { id } } }')
        assert bad["errors"][0]["message"] == "Invalid timestamp for query filter `updated_at`."


def test_search_syntax_parses_like_shopify() -> None:
    tree = parse("updated_at:>='2024-01-01T00:00:00Z' (status:open OR status:closed) -tag:x \"two words\"")
    assert tree is not None and tree.kind == "and" and len(tree.parts) == 4
    assert tree.parts[0].field == "updated_at" and tree.parts[0].op == ">=" and \
        tree.parts[0].value == "2024-01-01T00:00:00Z"
    assert tree.parts[1].kind == "or" and tree.parts[2].kind == "not" and tree.parts[3].value == "two words"
    assert parse("   ") is None
    negated = parse("-(state:enabled OR tag:vip)")
    assert negated.kind == "not" and negated.parts[0].kind == "or"
    compiled = compile_query("updated_at:>=2024-01-01 updated_at:<2024-02-01", {}, str)
    assert compiled.predicate is None and [w["field"] for w in compiled.warnings] == ["updated_at", "updated_at"]


async def test_cursors_stay_valid_while_objects_change() -> None:
    clock = Clock()
    sb = ShopifySandbox(seed=11, customers=300, now=clock)
    since = "2020-01-01T00:00:00Z"
    query = """query($after: String) { customers(first: 50, after: $after, sortKey: UPDATED_AT,
      query: "updated_at:>='SINCE'") { edges { node { id updatedAt } } pageInfo { hasNextPage endCursor } } }"""
    query = query.replace("SINCE", since)
    seen: dict[str, str] = {}
    async with api(sb) as shop:
        after, pages = None, 0
        while True:
            conn = (await shop.data(query, {"after": after}))["customers"]
            for edge in conn["edges"]:
                seen[edge["node"]["id"]] = edge["node"]["updatedAt"]
            pages += 1
            if pages in (2, 4):  # the shop changes under the walk: seen and unseen objects move to the end
                clock.advance(60)
                sb.mutate("customers", updates=40, deletes=10, creates=5)
            if not conn["pageInfo"]["hasNextPage"]:
                break
            after = conn["pageInfo"]["endCursor"]
        final_cursor = conn["pageInfo"]["endCursor"]
        # a page is at most 250, whatever `first` asks (and the cost is what was asked)
        big = await shop.gql("{ customers(first: 300) { nodes { id } } }")
        assert len(big["data"]["customers"]["nodes"]) == 250
        assert big["extensions"]["cost"]["requestedQueryCost"] == 302
        # every customer that exists now was seen in its current state
        current = {c["id"]: c["updatedAt"] for c in sb.objects("customers")}
        assert {k: seen[k] for k in current} == current

        # a stored cursor resumes later, after more changes: it continues after the stored position
        clock.advance(60)
        changed = sb.mutate("customers", updates=3)
        resumed = (await shop.data(query, {"after": final_cursor}))["customers"]
        # the three share one updatedAt second: id breaks the tie
        assert [e["node"]["id"] for e in resumed["edges"]] == sorted(changed["updated"])


async def test_nested_connections_page(shop_sb: ShopifySandbox) -> None:
    orders = {o["id"]: o for o in shop_sb.objects("orders")}
    big_order = next(o for o in orders.values() if len(o["lineItems"]) > 50)
    products = {p["id"]: p for p in shop_sb.objects("products")}
    big_product = next(p for p in products.values() if len(p["variants"]) > 100)
    async with api(shop_sb) as shop:
        query = """query($id: ID!, $after: String) { order(id: $id) { lineItems(first: 50, after: $after) {
          nodes { id title quantity sku originalUnitPriceSet { shopMoney { amount currencyCode } } }
          pageInfo { hasNextPage endCursor } } } }"""
        items, after = [], None
        while True:
            conn = (await shop.data(query, {"id": big_order["id"], "after": after}))["order"]["lineItems"]
            items += conn["nodes"]
            if not conn["pageInfo"]["hasNextPage"]:
                break
            after = conn["pageInfo"]["endCursor"]
        assert items == [{**{k: li[k] for k in ("id", "title", "quantity", "sku")},
                          "originalUnitPriceSet": {"shopMoney": li["originalUnitPriceSet"]["shopMoney"]}}
                         for li in big_order["lineItems"]]
        query = """query($id: ID!, $after: String) { product(id: $id) { totalInventory variants(first: 100,
          after: $after) { nodes { id title sku price inventoryQuantity } pageInfo { hasNextPage endCursor } } } }"""
        variants, after = [], None
        while True:
            product = (await shop.data(query, {"id": big_product["id"], "after": after}))["product"]
            variants += product["variants"]["nodes"]
            if not product["variants"]["pageInfo"]["hasNextPage"]:
                break
            after = product["variants"]["pageInfo"]["endCursor"]
        assert [v["id"] for v in variants] == [v["id"] for v in big_product["variants"]]
        assert product["totalInventory"] == sum(v["inventoryQuantity"] for v in variants)
        assert all(v["price"].count(".") == 1 and len(v["price"].split(".")[1]) == 2 for v in variants)

        customer = next(c for c in shop_sb.objects("customers") if len(c["metafields"]) > 50)
        query = """query($id: ID!) { customer(id: $id) { metafields(first: 25, namespace: "history") {
          nodes { key } pageInfo { hasNextPage } } metafield(namespace: "history", key: "visit_07") { value } } }"""
        found = (await shop.data(query, {"id": customer["id"]}))["customer"]
        assert len(found["metafields"]["nodes"]) == 25 and found["metafields"]["pageInfo"]["hasNextPage"]
        assert found["metafield"] == {"value": "visit 7"}


async def test_node_and_nodes(shop_sb: ShopifySandbox) -> None:
    customer, order, product = (shop_sb.objects(k)[-1] for k in ("customers", "orders", "products"))
    async with api(shop_sb) as shop:
        data = await shop.data("""query($ids: [ID!]!) { nodes(ids: $ids) { __typename id
          ... on Customer { email } ... on Order { name } ... on Product { handle } } }""",
                               {"ids": [customer["id"], order["id"], product["id"], "gid://shopify/Customer/1"]})
        assert data["nodes"] == [{"__typename": "Customer", "id": customer["id"], "email": customer["email"]},
                                 {"__typename": "Order", "id": order["id"], "name": order["name"]},
                                 {"__typename": "Product", "id": product["id"], "handle": product["handle"]},
                                 None]
        body = await shop.gql('{ node(id: "42") { id } }')
        assert body["errors"][0]["message"] == "Invalid global id '42'" and body["data"] == {"node": None}


# -- cost and throttling ---------------------------------------------------------------------------------------

async def test_cost_figures(shop_sb: ShopifySandbox) -> None:
    async with api(shop_sb, throttle=True) as shop:
        # the docs' own example: 2 + 10 × 1
        body = await shop.gql("{ products(first: 10) { edges { node { title } } } }")
        cost = body["extensions"]["cost"]
        assert (cost["requestedQueryCost"], cost["actualQueryCost"]) == (12, 12)
        assert cost["throttleStatus"] == {"maximumAvailable": 2000.0, "currentlyAvailable": 1988,
                                          "restoreRate": 100.0}
        # nested connections multiply; actual counts what came back
        body = await shop.gql("{ products(first: 10) { nodes { title variants(first: 5) { nodes { price } } } } }")
        returned = body["data"]["products"]["nodes"]
        assert body["extensions"]["cost"]["requestedQueryCost"] == 2 + 10 * (1 + 2 + 5)
        assert body["extensions"]["cost"]["actualQueryCost"] == \
            2 + sum(1 + 2 + len(p["variants"]["nodes"]) for p in returned)
        # objects cost 1 each, scalars and enums 0; a filter returning 3 customers is refunded the rest
        email = shop_sb.objects("customers")[0]["email"]
        body = await shop.gql("query($q: String) { customers(first: 50, query: $q) { nodes { id state amountSpent {"
                              " amount } defaultAddress { city } } } shop { name } }", {"q": f"email:{email}"})
        cost = body["extensions"]["cost"]
        assert cost["requestedQueryCost"] == 2 + 50 * 3 + 1
        assert cost["actualQueryCost"] == 2 + 1 * 3 + 1
        # a mutation is 10
        body = await shop.gql('mutation($id: ID!) { tagsAdd(id: $id, tags: ["x"]) { node { id } userErrors {'
                              " message } } }", {"id": "gid://shopify/Product/1"})
        assert body["data"]["tagsAdd"]["userErrors"] == [{"message": "Resource does not exist"}]
        assert (body["extensions"]["cost"]["requestedQueryCost"], body["extensions"]["cost"]["actualQueryCost"]) \
            == (10, 10)
        # deeper objects in a payload cost as usual: 10 + the metafields connection (2 + 5)
        body = await shop.gql("""mutation { customerUpdate(input: {id: "gid://shopify/Customer/1"}) {
          customer { metafields(first: 5) { nodes { id } } } userErrors { message } } }""")
        assert body["extensions"]["cost"]["requestedQueryCost"] == 17
        # introspection is answered too (graphql-core runs it)
        body = await shop.gql("{ __typename __schema { queryType { name } mutationType { name } } }")
        assert body["data"] == {"__typename": "QueryRoot", "__schema": {"queryType": {"name": "QueryRoot"},
                                                                         "mutationType": {"name": "Mutation"}}}


async def test_max_cost_exceeded() -> None:
    clock = Clock()
    sb = ShopifySandbox(seed=2, customers=20, now=clock)
    async with api(sb, throttle=True) as shop:
        body = await shop.gql("""{ customers(first: 250) { nodes { id amountSpent { amount }
          metafields(first: 5) { nodes { key } } } } }""")
        assert "data" not in body
        error = body["errors"][0]
        assert error["extensions"] == {"code": "MAX_COST_EXCEEDED", "cost": 2252, "maxCost": 1000,
                                       "documentation": "https://shopify.dev/api/usage/limits#rate-limits"}
        assert error["message"].startswith("Query cost is 2252, which exceeds the single query max cost limit (1000).")
        assert body["extensions"]["cost"]["actualQueryCost"] is None
        assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 2000  # not charged


async def test_throttled_with_a_fake_clock_then_refilled() -> None:
    clock = Clock()
    sb = ShopifySandbox(seed=2, customers=120, now=clock)
    query = "{ customers(first: 50) { nodes { id } } }"  # requested and actual 52
    async with api(sb, throttle=(100, 10)) as shop:
        first = await shop.gql(query)
        assert first["extensions"]["cost"]["throttleStatus"] == {"maximumAvailable": 100.0,
                                                                 "currentlyAvailable": 48, "restoreRate": 10.0}
        second = await shop.gql(query)
        assert second == {"errors": [{"message": "Throttled", "extensions": {
            "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
            "extensions": {"cost": {"requestedQueryCost": 52, "actualQueryCost": None, "throttleStatus": {
                "maximumAvailable": 100.0, "currentlyAvailable": 48, "restoreRate": 10.0}}}}
        assert (sb.requests, sb.throttled) == (2, 1)
        clock.advance(0.3)  # 51 available: still one short
        assert (await shop.gql(query))["errors"][0]["extensions"]["code"] == "THROTTLED"
        clock.advance(0.2)
        third = await shop.gql(query)
        assert "errors" not in third and third["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 1
        clock.advance(60)  # refills to the maximum, no further
        status = (await shop.gql("{ shop { name } }"))["extensions"]["cost"]["throttleStatus"]
        assert status["currentlyAvailable"] == 99
        # each token is its own app: its own bucket
        other = await shop.gql(query, token=SHOPIFY_TOKEN_RECENT_ORDERS)
        assert other["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 48
    async with api(sb, throttle=False) as shop:
        for _ in range(30):
            body = await shop.gql(query)
            assert "errors" not in body and body["extensions"]["cost"]["requestedQueryCost"] == 52


# -- deletions, windows, scopes --------------------------------------------------------------------------------

async def test_deletion_events_record_product_deletions() -> None:
    clock = Clock()
    sb = ShopifySandbox(seed=4, customers=60, now=clock)
    seeded = sb.objects("deletionEvents")
    assert len(seeded) >= 3
    clock.advance(3600)
    product = sb.objects("products")[5]
    sb.delete("products", product["id"])
    clock.advance(1)
    gone = sb.mutate("products", deletes=2)["deleted"]
    async with api(sb) as shop:
        assert (await shop.data("query($id: ID!) { product(id: $id) { id } }", {"id": product["id"]})) == \
            {"product": None}
        query = """query($q: String) { deletionEvents(first: 50, subjectTypes: [PRODUCT], query: $q,
          sortKey: CREATED_AT) { nodes { occurredAt subjectId subjectType } } }"""
        events = (await shop.data(query))["deletionEvents"]["nodes"]
        assert events[-3:] == [
            {"occurredAt": iso(T0 + 3600), "subjectId": product["id"], "subjectType": "PRODUCT"},
            *({"occurredAt": iso(T0 + 3601), "subjectId": g, "subjectType": "PRODUCT"} for g in gone)]
        recent = (await shop.data(query, {"q": f"occurred_at:>='{iso(T0 + 3601)}'"}))["deletionEvents"]["nodes"]
        assert [e["subjectId"] for e in recent] == gone
        none = await shop.data("{ deletionEvents(first: 5, subjectTypes: [COLLECTION]) { nodes { subjectId } } }")
        assert none == {"deletionEvents": {"nodes": []}}
        sb.mutate("customers", deletes=1)  # customers leave no deletion event (products and collections only)
        assert len((await shop.data(query))["deletionEvents"]["nodes"]) == len(seeded) + 3


async def test_orders_older_than_60_days_need_read_all_orders(shop_sb: ShopifySandbox) -> None:
    orders = shop_sb.objects("orders")
    cutoff = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 - 60 * DAY))
    recent = [o["id"] for o in orders if o["createdAt"] >= cutoff]
    old = next(o for o in orders if o["createdAt"] < cutoff)
    assert 0 < len(recent) < len(orders)
    async with api(shop_sb) as shop:
        all_ids = [o["id"] for o in await walk(shop, "orders", "id", page_size=250, sortKey="ID")]
        assert all_ids == [o["id"] for o in orders]
        limited = [o["id"] for o in await walk(shop, "orders", "id", page_size=250, sortKey="ID")]
        assert limited == all_ids
        shop.token = SHOPIFY_TOKEN_RECENT_ORDERS
        limited = [o["id"] for o in await walk(shop, "orders", "id", page_size=100, sortKey="ID")]
        assert limited == recent
        query = "query($id: ID!) { order(id: $id) { id } }"
        assert (await shop.data(query, {"id": old["id"]})) == {"order": None}
        assert (await shop.data(query, {"id": old["id"]}, token=SHOPIFY_TOKEN)) == {"order": {"id": old["id"]}}
        scopes = await shop.data("{ currentAppInstallation { accessScopes { handle } } }")
        assert "read_all_orders" not in [s["handle"] for s in scopes["currentAppInstallation"]["accessScopes"]]
        scopes = await shop.data("{ currentAppInstallation { accessScopes { handle } } }", token=SHOPIFY_TOKEN)
        assert {s["handle"] for s in scopes["currentAppInstallation"]["accessScopes"]} == {
            "read_customers", "write_customers", "read_orders", "write_orders", "read_all_orders",
            "read_products", "write_products"}


async def test_fields_without_the_scope_are_access_denied(shop_sb: ShopifySandbox) -> None:
    shop_sb.tokens["shpat_orders_only"] = {"read_orders", "read_all_orders"}
    async with api(shop_sb, token="shpat_orders_only") as shop:
        body = await shop.gql("{ customers(first: 1) { nodes { id } } }")
        assert body["data"] is None
        assert body["errors"] == [{
            "message": "Access denied for customers field. Required access: `read_customers` access scope.",
            "locations": [{"line": 1, "column": 3}], "path": ["customers"],
            "extensions": {"code": "ACCESS_DENIED", "documentation": "https://shopify.dev/api/usage/access-scopes",
                           "requiredAccess": "`read_customers` access scope."}}]
        body = await shop.gql("{ orders(first: 2) { nodes { name customer { id } } } }")
        assert [n["customer"] for n in body["data"]["orders"]["nodes"]] == [None, None]
        assert [e["path"] for e in body["errors"]] == [["orders", "nodes", 0, "customer"],
                                                       ["orders", "nodes", 1, "customer"]]
        body = await shop.gql('mutation($id: ID!) { tagsAdd(id: $id, tags: ["x"]) { userErrors { message } } }',
                              {"id": shop_sb.objects("orders")[0]["id"]})
        assert body["data"] == {"tagsAdd": None} and body["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"


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
