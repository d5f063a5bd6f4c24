"""Resolvers: the fields that are more than a dict lookup (root fields, connections, scope-guarded links).

Each is `fn(source, args, ctx, path) -> value` and is shared by both executors (graphql-core's, and the sandbox's
fast one in `execute.py`), so the two give the same answers by construction. Every other field is the key of the
same name in the source dict.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sandbox.shopify import kinds, search
from sandbox.shopify.data import APP_NAMESPACE, ORDER_WINDOW, SCOPES
from sandbox.shopify.errors import access_denied, bad_request, invalid_id
from sandbox.shopify.formats import gid, parse_gid
from sandbox.shopify.store import Collection, CursorError, decode_cursor, encode_cursor, page, window

if TYPE_CHECKING:
    from sandbox.shopify.data import ShopifySandbox

MAX_PAGE = 250
Resolver = Callable[[Any, dict, "Context", list], Any]


class Context:
    """Per request: the shop, the calling token's scopes, and the search warnings to report."""

    def __init__(self, sb: ShopifySandbox, scopes: set[str]) -> None:
        self.sb = sb
        self.scopes = scopes
        self.search: list[dict] = []

    def require(self, scope: str, field: str) -> None:
        if scope not in self.scopes:
            raise access_denied(field, scope)


# -- connections -----------------------------------------------------------------------------------------------

def page_size(args: dict) -> tuple[int | None, int | None]:
    first, last = args.get("first"), args.get("last")
    if first is None and last is None:
        raise bad_request("you must provide one of first or last")
    if first is not None and last is not None:
        raise bad_request("providing both first and last is not supported")
    size = first if first is not None else last
    if size < 0:
        raise bad_request(f"Argument '{'first' if first is not None else 'last'}' must be a non-negative integer")
    # graphql-ruby's max_page_size: a larger page is cut to 250 (and costed as asked)
    return (None if first is None else min(first, MAX_PAGE)), (None if last is None else min(last, MAX_PAGE))


def _cursor(value: str | None, numeric: bool) -> tuple | None:
    if value is None:
        return None
    try:
        return decode_cursor(value, numeric)
    except CursorError:
        raise bad_request("Invalid cursor for current pagination sort.") from None


def connection(pairs: list[tuple[tuple, Any]], has_previous: bool, has_next: bool) -> dict:
    edges = [{"cursor": encode_cursor(key), "node": item} for key, item in pairs]
    return {"edges": edges, "nodes": [item for _, item in pairs],
            "pageInfo": {"hasNextPage": has_next, "hasPreviousPage": has_previous,
                         "startCursor": edges[0]["cursor"] if edges else None,
                         "endCursor": edges[-1]["cursor"] if edges else None}}


def search_connection(ctx: Context, coll: Collection, args: dict, path: list, *, fields: dict, text: Callable,
                      sort_fields: dict, visible: Callable[[dict], bool] | None = None,
                      extra: Callable[[dict], bool] | None = None) -> dict:
    first, last = page_size(args)
    sort = args.get("sortKey") or "ID"
    query = args.get("query")
    try:
        compiled = search.compile_query(query, fields, text)
    except search.SearchError as exc:
        raise bad_request(str(exc)) from None
    if compiled.warnings:
        # Shopify also reports a `parsed` form of the query here; the sandbox reports the warnings only
        ctx.search.append({"path": list(path), "query": query, "warnings": compiled.warnings})
    tests = [t for t in (visible, extra, compiled.predicate) if t is not None]
    predicate = None if not tests else tests[0] if len(tests) == 1 else (lambda obj: all(t(obj) for t in tests))
    keys, items = coll.ordered(sort)
    span = window(keys, compiled.bounds.get(sort_fields.get(sort, "")))
    numeric = sort not in kinds.STRING_SORTS
    after, before = _cursor(args.get("after"), numeric), _cursor(args.get("before"), numeric)
    pairs, has_previous, has_next = page(keys, items, first=first, last=last, after=after, before=before,
                                         reverse=bool(args.get("reverse")), predicate=predicate, span=span)
    return connection(pairs, has_previous, has_next)


def list_connection(items: list[dict], args: dict) -> dict:
    """A connection over an object's own list (line items, variants, metafields), in id order."""
    first, last = page_size(args)
    keys = [(1, item["_num"], item["_num"]) for item in items]
    after, before = _cursor(args.get("after"), True), _cursor(args.get("before"), True)
    pairs, has_previous, has_next = page(keys, items, first=first, last=last, after=after, before=before,
                                         reverse=bool(args.get("reverse")))
    return connection(pairs, has_previous, has_next)


# -- root fields -----------------------------------------------------------------------------------------------

def customers(src: Any, args: dict, ctx: Context, path: list) -> dict:
    ctx.require("read_customers", "customers")
    return search_connection(ctx, ctx.sb.customers, args, path, fields=kinds.CUSTOMER_FIELDS,
                             text=kinds.customer_text, sort_fields=kinds.SORT_FIELDS)


def orders(src: Any, args: dict, ctx: Context, path: list) -> dict:
    ctx.require("read_orders", "orders")
    visible = None
    if "read_all_orders" not in ctx.scopes:
        cutoff = ctx.sb.clock() - ORDER_WINDOW

        def visible(obj: dict) -> bool:
            return obj["_created"] >= cutoff

    return search_connection(ctx, ctx.sb.orders, args, path, fields=kinds.ORDER_FIELDS, text=kinds.order_text,
                             sort_fields=kinds.SORT_FIELDS, visible=visible)


def products(src: Any, args: dict, ctx: Context, path: list) -> dict:
    ctx.require("read_products", "products")
    return search_connection(ctx, ctx.sb.products, args, path, fields=kinds.PRODUCT_FIELDS,
                             text=kinds.product_text, sort_fields=kinds.SORT_FIELDS)


def deletion_events(src: Any, args: dict, ctx: Context, path: list) -> dict:
    ctx.require("read_products", "deletionEvents")
    subject_types = args.get("subjectTypes")
    extra = None
    if subject_types is not None:
        wanted = set(subject_types)

        def extra(obj: dict) -> bool:
            return obj["subjectType"] in wanted

    return search_connection(ctx, ctx.sb.deletion_events, args, path, fields=kinds.EVENT_FIELDS,
                             text=kinds.event_text, sort_fields=kinds.EVENT_SORT_FIELDS, extra=extra)


def _lookup(ctx: Context, type_name: str, value: Any, field: str) -> dict | None:
    parsed = parse_gid(value)
    if parsed is None:
        raise invalid_id(value)
    kind = {"Customer": "customers", "Order": "orders", "Product": "products"}.get(parsed[0])
    scope = {"customers": "read_customers", "orders": "read_orders", "products": "read_products"}.get(kind or "")
    if scope is not None:
        ctx.require(scope, field)
    if parsed[0] != type_name or kind is None:
        return None
    obj = ctx.sb.collections[kind].by_id.get(parsed[1])
    if obj is not None and kind == "orders" and not ctx.sb.order_visible(obj, ctx.scopes):
        return None  # outside the 60-day window: as if it did not exist
    return obj


def customer(src: Any, args: dict, ctx: Context, path: list) -> dict | None:
    return _lookup(ctx, "Customer", args["id"], "customer")


def order(src: Any, args: dict, ctx: Context, path: list) -> dict | None:
    return _lookup(ctx, "Order", args["id"], "order")


def product(src: Any, args: dict, ctx: Context, path: list) -> dict | None:
    return _lookup(ctx, "Product", args["id"], "product")


def node_by_id(ctx: Context, value: Any, field: str) -> dict | None:
    """`node`: customers, orders and products (other node types resolve to null in the sandbox)."""
    parsed = parse_gid(value)
    if parsed is None:
        raise invalid_id(value)
    if parsed[0] in ("Customer", "Order", "Product"):
        return _lookup(ctx, parsed[0], value, field)
    if parsed[0] == "Shop" and parsed[1] == SHOP_NUM:
        return shop(None, {}, ctx, [])
    return None


def node(src: Any, args: dict, ctx: Context, path: list) -> dict | None:
    return node_by_id(ctx, args["id"], "node")


def nodes(src: Any, args: dict, ctx: Context, path: list) -> list:
    # one lookup per id; an error on one id (scope, malformed) fails the field, as a resolver error does
    return [node_by_id(ctx, value, "nodes") for value in args["ids"]]


SHOP_NUM = 68_719_476_736


def shop(src: Any, args: dict, ctx: Context, path: list) -> dict:
    return {"_type": "Shop", "id": gid("Shop", SHOP_NUM), "name": "Inlet Sandbox",
            "email": f"owner@{ctx.sb.shop.split('.')[0]}.example.com", "myshopifyDomain": ctx.sb.shop,
            "ianaTimezone": "UTC", "currencyCode": "USD"}


def current_app_installation(src: Any, args: dict, ctx: Context, path: list) -> dict:
    return {"_type": "AppInstallation", "id": gid("AppInstallation", 512_000_001),
            "accessScopes": [{"handle": s, "description": SCOPES.get(s, s)} for s in sorted(ctx.scopes)]}


# -- object fields ---------------------------------------------------------------------------------------------

def metafields(src: dict, args: dict, ctx: Context, path: list) -> dict:
    items = src["_metafields"]
    namespace = args.get("namespace")
    keys = args.get("keys")
    if namespace is not None:
        namespace = APP_NAMESPACE if namespace == "$app" else namespace
        items = [m for m in items if m["namespace"] == namespace]
    if keys is not None:
        wanted = set(keys)
        items = [m for m in items if f"{m['namespace']}.{m['key']}" in wanted]
    return list_connection(items, args)


def metafield(src: dict, args: dict, ctx: Context, path: list) -> dict | None:
    namespace = args.get("namespace")
    key = args["key"]
    if namespace is None and "." in key:  # `key: "custom.loyalty_tier"` names both
        namespace, key = key.split(".", 1)
    if namespace is None or namespace == "$app":
        namespace = APP_NAMESPACE
    for item in src["_metafields"]:
        if item["namespace"] == namespace and item["key"] == key:
            return item
    return None


def line_items(src: dict, args: dict, ctx: Context, path: list) -> dict:
    return list_connection(src["_lineItems"], args)


def variants(src: dict, args: dict, ctx: Context, path: list) -> dict:
    return list_connection(src["_variants"], args)


def order_customer(src: dict, args: dict, ctx: Context, path: list) -> dict | None:
    ctx.require("read_customers", "customer")
    num = src["_customer"]
    return None if num is None else ctx.sb.customers.by_id.get(num)


QUERY: dict[str, Resolver] = {
    "customers": customers, "customer": customer, "orders": orders, "order": order, "products": products,
    "product": product, "node": node, "nodes": nodes, "shop": shop,
    "currentAppInstallation": current_app_installation, "deletionEvents": deletion_events,
}
FIELDS: dict[tuple[str, str], Resolver] = {
    ("Customer", "metafields"): metafields, ("Customer", "metafield"): metafield,
    ("Product", "metafields"): metafields, ("Product", "metafield"): metafield,
    ("Product", "variants"): variants, ("Order", "lineItems"): line_items, ("Order", "customer"): order_customer,
}
