"""The Shopify sandbox's GraphQL Admin API over HTTP (VENDOR_FACTS 2 and 4): auth, versions, errors, connections,
paging, filters, deletion events and access scopes."""

from __future__ import annotations

import time
from typing import Any

from sandbox.shopify import API_VERSIONS, SHOPIFY_TOKEN, SHOPIFY_TOKEN_RECENT_ORDERS, ShopifySandbox
from sandbox.shopify.formats import iso
from sandbox.shopify.search import compile_query, parse
from tests.clocks import T0, Clock
from tests.shopify_sandbox import Api, api, shop_sb_fixture  # noqa: F401 (the shop_sb fixture)

DAY = 86_400
CUSTOMER_FIELDS = """id firstName lastName displayName email phone tags note state verifiedEmail taxExempt
  numberOfOrders createdAt updatedAt amountSpent { amount currencyCode }
  defaultEmailAddress { emailAddress marketingState }
  defaultAddress { id firstName lastName name company address1 address2 city province provinceCode country
                   countryCodeV2 zip phone }"""


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
