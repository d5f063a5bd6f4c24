"""End to end: `inlet sync` against the Shopify sandbox on loopback, for what is Shopify's own: deletes of
customers and orders found by a full refresh (the GraphQL API has no deletion events for them), the 60-day
order window of a token without `read_all_orders`, and pacing by query cost without a THROTTLED answer."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sandbox.shopify import SHOPIFY_TOKEN_RECENT_ORDERS
from tests.conftest import inlet, write_config
from tests.sandbox_api import SandboxAPI
from tests.stores import events, store


def sync(config: Path, *args: str):
    return inlet("sync", "shop", *args, config=config, timeout=240)


def live(config: Path, object_type: str) -> set[str]:
    return {i for (i,) in store(config, f"SELECT external_id FROM records WHERE object_type = '{object_type}' "
                                        "AND NOT deleted")}


def test_deleted_customers_and_orders_are_found_by_a_full_refresh(tmp_path):
    with SandboxAPI(vendors=("shopify",), customers=120, rate_limit=False) as api:
        config = write_config(tmp_path, [api.shopify_source()])
        assert sync(config).returncode == 0
        gone_customers = api.shopify.mutate("customers", deletes=3)["deleted"]
        gone_orders = api.shopify.mutate("orders", deletes=2)["deleted"]
        gone_products = api.shopify.mutate("products", deletes=1)["deleted"]
        before = events(config)
        assert sync(config).returncode == 0
        # products come with deletion events; customers and orders cannot be known gone by an incremental read
        assert events(config) - before == Counter({"product.deleted": 1})
        assert not set(gone_products) & live(config, "product")
        refresh = sync(config, "--full-refresh")
        assert refresh.returncode == 0, refresh.stdout + refresh.stderr
        assert events(config) - before == Counter({"product.deleted": 1, "customer.deleted": 3, "order.deleted": 2})
        assert live(config, "customer") == {o["id"] for o in api.shopify.objects("customers")}
        assert live(config, "order") == {o["id"] for o in api.shopify.objects("orders")}
        assert not (set(gone_customers) | set(gone_orders)) & (live(config, "customer") | live(config, "order"))


def test_without_read_all_orders_old_orders_are_outside_the_read_not_deleted(tmp_path):
    with SandboxAPI(vendors=("shopify",), customers=150, rate_limit=False) as api:
        config = write_config(tmp_path, [api.shopify_source(objects=["orders"])])
        assert sync(config).returncode == 0
        everything = live(config, "order")
        edge = (datetime.now(UTC) - timedelta(days=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
        recent = {o["id"] for o in api.shopify.objects("orders") if o["createdAt"] >= edge}
        assert recent and everything - recent  # the seed spreads orders over two years
        gone = max((o for o in api.shopify.objects("orders") if o["id"] in recent), key=lambda o: o["createdAt"])["id"]
        api.shopify.delete("orders", gone)
        # the same shop, now read with a token that sees only the last 60 days of orders
        config = write_config(tmp_path, [api.shopify_source(objects=["orders"],
                                                            access_token=SHOPIFY_TOKEN_RECENT_ORDERS)])
        refresh = sync(config, "--full-refresh")
        assert refresh.returncode == 0, refresh.stdout + refresh.stderr
        assert "read_all_orders" in refresh.stdout
        assert live(config, "order") == everything - {gone}
        assert store(config, "SELECT count(*) FROM events WHERE event_type = 'order.deleted'")[0][0] == 1


def test_queries_are_paced_by_cost_and_never_throttled(tmp_path):
    # a small plan's bucket (1,000 points, 500 restored per second): 1,000 customers cost about 4,000 points
    with SandboxAPI(vendors=("shopify",), customers=1_000, rate_limit=True,
                    shopify_app_options={"throttle": (1000.0, 500.0)}) as api:
        config = write_config(tmp_path, [api.shopify_source(objects=["customers", "products"])])
        result = sync(config)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "0 THROTTLED" in result.stdout and api.shopify.throttled == 0
        assert live(config, "customer") == {o["id"] for o in api.shopify.objects("customers")}
        assert float(result.stdout.rsplit("done in ", 1)[1].split()[0]) >= 5  # it did have to wait
