"""The Shopify sandbox's query cost figures, the single-query cost ceiling and the leaky-bucket throttle."""

from __future__ import annotations

from sandbox.shopify import SHOPIFY_TOKEN_RECENT_ORDERS, ShopifySandbox
from tests.clocks import Clock
from tests.shopify_sandbox import api, shop_sb_fixture  # noqa: F401 (the shop_sb fixture)

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
