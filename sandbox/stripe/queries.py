"""List endpoints: Stripe's parameters checked as strictly as Stripe does, then one indexed page.

Each list takes `limit`, `starting_after`, `ending_before`, `created` and `expand` plus its own filters
(VENDOR_FACTS 3.2). Filters the sandbox cannot honour are not accepted silently: they are `parameter_unknown`,
so a connector never gets a wrong answer that looks right.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sandbox.stripe.data import RETENTION
from sandbox.stripe.errors import invalid, no_such, unknown_parameter
from sandbox.stripe.store import CreatedRange, Index, Key, page

if TYPE_CHECKING:
    from sandbox.stripe.data import StripeSandbox

COMMON = frozenset({"limit", "starting_after", "ending_before", "created", "expand"})
# Equality filters: query parameter → object field.
FILTERS: dict[str, dict[str, str]] = {
    "customers": {"email": "email", "test_clock": "test_clock"},
    "charges": {"customer": "customer", "payment_intent": "payment_intent"},
    "invoices": {"customer": "customer", "status": "status", "subscription": "subscription",
                 "collection_method": "collection_method"},
    "subscriptions": {"customer": "customer", "status": "status", "price": "price",
                      "collection_method": "collection_method", "test_clock": "test_clock"},
    "products": {"active": "active", "shippable": "shippable", "url": "url"},
    "prices": {"active": "active", "currency": "currency", "product": "product", "type": "type"},
}
SUBSCRIPTION_STATUSES = frozenset({"active", "all", "canceled", "ended", "incomplete", "incomplete_expired",
                                   "past_due", "paused", "trialing", "unpaid"})


def list_objects(sb: StripeSandbox, collection: str, params: dict[str, Any]) -> dict[str, Any]:
    """The list envelope for GET /v1/<collection>."""
    filters = FILTERS[collection]
    for name in params:
        if name not in COMMON and name not in filters:
            raise unknown_parameter(name)
    coll = sb.collections[collection]
    limit, created = parse_limit(params), parse_created(params.get("created"))
    after, before = _cursor(params, coll.key_of, coll.kind)
    index: Index = coll.index
    checks: list[Callable[[dict], bool]] = []
    for name in filters:
        if name not in params:
            continue
        value = _text(params, name)
        if name == "customer" and collection != "customers":
            index = coll.by_customer.get(value, Index())
        elif name == "status" and collection == "subscriptions":
            checks.append(_subscription_status(value))
        elif name == "price":
            checks.append(lambda o, v=value: any(i["price"]["id"] == v for i in o["items"]["data"]))
        elif name in ("active", "shippable"):
            if value not in ("true", "false"):
                raise invalid(f"Invalid boolean: {value}", param=name)
            checks.append(lambda o, f=filters[name], v=value == "true": o.get(f) is v)
        else:
            checks.append(lambda o, f=filters[name], v=value: o.get(f) == v)
    if collection == "subscriptions" and "status" not in params:
        checks.append(_subscription_status("default"))
    match = None if not checks else checks[0] if len(checks) == 1 else (lambda o: all(c(o) for c in checks))
    items, more = page(index, created, after=after, before=before, limit=limit, match=match)
    return {"object": "list", "data": items, "has_more": more, "url": coll.path}


def list_events(sb: StripeSandbox, params: dict[str, Any]) -> dict[str, Any]:
    """The list envelope for GET /v1/events: newest first, never older than 30 days."""
    for name in params:
        if name not in COMMON and name not in ("type", "types", "delivery_success"):
            raise unknown_parameter(name)
    if "type" in params and "types" in params:
        raise invalid("You may only specify one of these parameters: type, types.", param="types")
    limit, created = parse_limit(params), parse_created(params.get("created"))
    oldest = sb.clock() - RETENTION
    created = CreatedRange(oldest if created.low is None else max(oldest, created.low), created.high)
    after, before = _cursor(params, sb.event_keys, "event")
    match: Callable[[Any], bool] | None = None
    if "type" in params:
        wanted = _text(params, "type")
        if "*" in wanted:
            # `customer.*` matches every type under `customer.`, including `customer.subscription.created`.
            prefix = wanted.split("*", 1)[0]
            match = lambda e: e.type.startswith(prefix)  # noqa: E731
        else:
            match = lambda e: e.type == wanted  # noqa: E731
    elif "types" in params:
        types = params["types"]
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise invalid("Invalid array", param="types")
        if len(types) > 20:
            raise invalid("Invalid array: types must have at most 20 elements", param="types")
        wanted_types = frozenset(types)
        match = lambda e: e.type in wanted_types  # noqa: E731
    # The sandbox has no webhook endpoints, so every event counts as delivered.
    if "delivery_success" in params and _text(params, "delivery_success") == "false":
        return {"object": "list", "data": [], "has_more": False, "url": "/v1/events"}
    events, more = page(sb.events, created, after=after, before=before, limit=limit, match=match)
    return {"object": "list", "data": [e.as_dict() for e in events], "has_more": more, "url": "/v1/events"}


def parse_limit(params: dict[str, Any]) -> int:
    if "limit" not in params:
        return 10
    raw = _text(params, "limit")
    try:
        limit = int(raw)
    except ValueError:
        raise invalid(f"Invalid integer: {raw}", param="limit") from None
    if not 1 <= limit <= 100:
        raise invalid("Invalid limit: must be between 1 and 100", param="limit")
    return limit


def parse_created(value: Any) -> CreatedRange:
    """`created=<t>` or `created[gt|gte|lt|lte]=<t>` → inclusive bounds."""
    if value is None:
        return CreatedRange()
    if isinstance(value, str):
        t = _integer(value, "created")
        return CreatedRange(t, t)
    if not isinstance(value, dict):
        raise invalid("Invalid timestamp", param="created")
    low = high = None
    for op, raw in value.items():
        if op not in ("gt", "gte", "lt", "lte"):
            raise unknown_parameter(f"created[{op}]")
        t = _integer(raw, f"created[{op}]")
        bound = {"gt": t + 1, "gte": t, "lt": t - 1, "lte": t}[op]
        if op in ("gt", "gte"):
            low = bound if low is None else max(low, bound)
        else:
            high = bound if high is None else min(high, bound)
    return CreatedRange(low, high)


def _cursor(params: dict[str, Any], key_of: dict[str, Key], kind: str) -> tuple[Key | None, Key | None]:
    if "starting_after" in params and "ending_before" in params:
        raise invalid("You may only specify one of these parameters: ending_before, starting_after.",
                      param="ending_before")
    keys = []
    for name in ("starting_after", "ending_before"):
        if name not in params:
            keys.append(None)
            continue
        object_id = _text(params, name)
        if object_id not in key_of:
            raise no_such(kind, object_id, param=name)
        keys.append(key_of[object_id])
    return keys[0], keys[1]


def _subscription_status(value: str) -> Callable[[dict], bool]:
    """Stripe hides canceled subscriptions unless asked: `all` shows every one, `ended` the canceled and expired."""
    if value not in SUBSCRIPTION_STATUSES and value != "default":
        raise invalid(f"Invalid status: must be one of {', '.join(sorted(SUBSCRIPTION_STATUSES))}", param="status")
    if value == "all":
        return lambda s: True
    if value == "default":
        return lambda s: s["status"] not in ("canceled", "incomplete_expired")
    if value == "ended":
        return lambda s: s["status"] in ("canceled", "incomplete_expired")
    return lambda s: s["status"] == value


def _text(params: dict[str, Any], name: str) -> str:
    value = params[name]
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {name} must be a string", param=name)
    return value


def _integer(raw: Any, param: str) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise invalid(f"Invalid integer: {raw}", param=param) from None
