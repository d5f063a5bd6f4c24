"""Per connection: the values behind each `sortKey`, and the fields its `query:` argument searches.

Sort and filter names are Shopify's (CustomerSortKeys, OrderSortKeys, ProductSortKeys, DeletionEventSortKeys and
the filter lists on each query's reference page). RELEVANCE ranks by search relevance at Shopify; the sandbox has no
ranking, so it orders like ID. PO_NUMBER is always null here (no purchase orders), so it orders like ID too.
"""

from __future__ import annotations

from typing import Any

from sandbox.shopify.search import Field

NUM = "_num"


def _get(key: str) -> Any:
    return lambda obj: obj[key]


def _lower(key: str) -> Any:
    return lambda obj: (obj[key] or "").lower() or None


def _location(obj: dict) -> str | None:
    address = obj.get("defaultAddress")
    if not address:
        return None
    return f"{address['country']}|{address['province']}|{address['city']}".lower()


CUSTOMER_SORTS = {"ID": _get(NUM), "RELEVANCE": _get(NUM), "CREATED_AT": _get("_created"),
                  "UPDATED_AT": _get("_updated"), "NAME": _lower("displayName"), "LOCATION": _location}
ORDER_SORTS = {"ID": _get(NUM), "RELEVANCE": _get(NUM), "PO_NUMBER": lambda obj: None,
               "CREATED_AT": _get("_created"), "UPDATED_AT": _get("_updated"), "PROCESSED_AT": _get("_processed"),
               "ORDER_NUMBER": _get("_number"), "TOTAL_PRICE": _get("_total"), "CURRENT_TOTAL_PRICE": _get("_total"),
               "TOTAL_ITEMS_QUANTITY": _get("_qty"), "CUSTOMER_NAME": _get("_customer_name"),
               "DESTINATION": lambda obj: (obj["_destination"] or "").lower() or None,
               "FINANCIAL_STATUS": _get("displayFinancialStatus"),
               "FULFILLMENT_STATUS": _get("displayFulfillmentStatus")}
PRODUCT_SORTS = {"ID": _get(NUM), "RELEVANCE": _get(NUM), "CREATED_AT": _get("_created"),
                 "UPDATED_AT": _get("_updated"), "PUBLISHED_AT": _get("_published"), "TITLE": _lower("title"),
                 "VENDOR": _lower("vendor"), "PRODUCT_TYPE": _lower("productType"),
                 "INVENTORY_TOTAL": _get("totalInventory")}
EVENT_SORTS = {"ID": _get(NUM), "CREATED_AT": _get("_at")}

# sort keys whose values are strings (the rest are numbers), for checking a cursor against its sort
STRING_SORTS = frozenset({"NAME", "LOCATION", "CUSTOMER_NAME", "DESTINATION", "FINANCIAL_STATUS",
                          "FULFILLMENT_STATUS", "TITLE", "VENDOR", "PRODUCT_TYPE"})

# the field a sort key orders by, so a range filter on it (`updated_at:>…` with sortKey UPDATED_AT) bisects
SORT_FIELDS = {"ID": "id", "RELEVANCE": "id", "CREATED_AT": "created_at", "UPDATED_AT": "updated_at",
               "PROCESSED_AT": "processed_at", "PUBLISHED_AT": "published_at"}
EVENT_SORT_FIELDS = {"ID": "id", "CREATED_AT": "occurred_at"}


def _tag_not(obj: dict, value: str) -> bool:
    wanted = value.lower()
    return all(tag.lower() != wanted for tag in obj["tags"])


def _order_status(obj: dict, value: str) -> bool:
    result = False
    for option in value.lower().split(","):
        option = option.strip()
        if option == "any":
            result = True
        elif option == "open":
            result = result or (obj["_closed"] is None and obj["_cancelled"] is None)
        elif option == "closed":
            result = result or obj["_closed"] is not None
        elif option == "cancelled":
            result = result or obj["_cancelled"] is not None
        elif option == "not_closed":
            result = result or obj["_closed"] is None
    return result


_FULFILLMENT = {"shipped": {"FULFILLED"}, "fulfilled": {"FULFILLED"}, "partial": {"PARTIALLY_FULFILLED"},
                "unshipped": {"UNFULFILLED"}, "unfulfilled": {"UNFULFILLED", "PARTIALLY_FULFILLED"},
                "on_hold": {"ON_HOLD"}, "scheduled": {"SCHEDULED"}, "restocked": {"RESTOCKED"}}


def _fulfillment(obj: dict, value: str) -> bool:
    options = [o.strip() for o in value.lower().split(",")]
    if "any" in options:
        return True
    status = obj["displayFulfillmentStatus"]
    return any(status in _FULFILLMENT.get(o, {o.upper()}) for o in options)


def _financial(obj: dict, value: str) -> bool:
    options = {o.strip() for o in value.lower().split(",")}
    return "any" in options or (obj["displayFinancialStatus"] or "").lower() in options


def _order_name(obj: dict, value: str) -> bool:
    return obj["name"] == value or obj["name"] == f"#{value.lstrip('#')}"


def _any_sku(key: str) -> Any:
    return lambda obj, value: any((item["sku"] or "").lower() == value.lower() for item in obj[key])


def _country(obj: dict) -> str | None:
    address = obj.get("defaultAddress")
    return address["country"] if address else None


CUSTOMER_FIELDS = {
    "id": Field("id", _get(NUM)),
    "created_at": Field("time", _get("_created")),
    "customer_date": Field("time", _get("_created")),
    "updated_at": Field("time", _get("_updated")),
    "email": Field("text", _get("email")),
    "first_name": Field("text", _get("firstName")),
    "last_name": Field("text", _get("lastName")),
    "phone": Field("text", _get("phone")),
    "state": Field("enum", _get("state")),
    "tag": Field("tags", _get("tags")),
    "tag_not": Field("custom", _tag_not),
    "accepts_marketing": Field("bool", lambda obj: obj["_marketing"] == "SUBSCRIBED"),
    "country": Field("text", _country),
    "orders_count": Field("number", _get("_orders")),
    "number_of_orders": Field("number", _get("_orders")),
    "total_spent": Field("number", lambda obj: obj["_spent"] / 100),
    "amount_spent": Field("number", lambda obj: obj["_spent"] / 100),
}
ORDER_FIELDS = {
    "id": Field("id", _get(NUM)),
    "created_at": Field("time", _get("_created")),
    "updated_at": Field("time", _get("_updated")),
    "processed_at": Field("time", _get("_processed")),
    "status": Field("custom", _order_status),
    "financial_status": Field("custom", _financial),
    "fulfillment_status": Field("custom", _fulfillment),
    "email": Field("text", _get("email")),
    "name": Field("custom", _order_name),
    "tag": Field("tags", _get("tags")),
    "tag_not": Field("custom", _tag_not),
    "test": Field("bool", _get("test")),
    "customer_id": Field("id", _get("_customer")),
    "sku": Field("custom", _any_sku("_lineItems")),
}
PRODUCT_FIELDS = {
    "id": Field("id", _get(NUM)),
    "created_at": Field("time", _get("_created")),
    "updated_at": Field("time", _get("_updated")),
    "published_at": Field("time", _get("_published")),
    "status": Field("enum", _get("status")),
    "title": Field("words", _get("title")),
    "vendor": Field("text", _get("vendor")),
    "product_type": Field("text", _get("productType")),
    "handle": Field("text", _get("handle")),
    "tag": Field("tags", _get("tags")),
    "tag_not": Field("custom", _tag_not),
    "inventory_total": Field("number", _get("totalInventory")),
    "sku": Field("custom", _any_sku("_variants")),
}
EVENT_FIELDS = {
    "id": Field("id", _get(NUM)),
    "occurred_at": Field("time", _get("_at")),
    "subject_type": Field("enum", _get("subjectType")),
}


def customer_text(obj: dict) -> str:
    return f"{obj['displayName']} {obj['email'] or ''} {obj['phone'] or ''}"


def order_text(obj: dict) -> str:
    return f"{obj['name']} {obj['email'] or ''} {obj['_customer_name'] or ''}"


def product_text(obj: dict) -> str:
    return f"{obj['title']} {obj['vendor']} {obj['productType']} {' '.join(obj['tags'])}"


def event_text(obj: dict) -> str:
    return obj["subjectId"]
