"""Mutations for two-way sync: `customerUpdate`, `tagsAdd`, `tagsRemove`, `metafieldsSet`.

Invalid input is answered the GraphQL way Shopify does: HTTP 200, the payload's object null and `userErrors`
`[{field: [...], message}]` (for metafieldsSet also `code` and `elementIndex`); nothing is changed when there is any
user error (metafieldsSet is atomic). A write that changes something bumps the owner's `updatedAt`; one that
changes nothing leaves it, as Rails does. Missing scopes are top-level ACCESS_DENIED errors; a malformed GID is a
top-level "Invalid global id" error. Wordings Shopify does not document ("Customer does not exist", "Owner does
not exist.") are the sandbox's choice.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import orjson

from sandbox.shopify import objects as o
from sandbox.shopify.data import APP_NAMESPACE, TYPES
from sandbox.shopify.errors import invalid_id
from sandbox.shopify.formats import iso, parse_gid
from sandbox.shopify.resolvers import Context

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()\-]{6,19}$")
KEY_RE = re.compile(r"^[A-Za-z0-9_\-]+$")
WRITE_SCOPES = {"customers": "write_customers", "orders": "write_orders", "products": "write_products"}
METAFIELD_TYPES = frozenset({"single_line_text_field", "multi_line_text_field", "rich_text_field", "number_integer",
                             "number_decimal", "boolean", "json", "date", "date_time", "url", "color", "weight",
                             "volume", "dimension", "rating", "money", "link", "id"})
MAX_METAFIELDS = 25


def _error(field: list[str], message: str) -> dict:
    return {"field": field, "message": message}


def _visible(ctx: Context, kind: str, obj: dict) -> bool:
    return kind != "orders" or ctx.sb.order_visible(obj, ctx.scopes)


# -- metafields ------------------------------------------------------------------------------------------------

def _namespace(value: str | None) -> str:
    if value is None or value == "$app":
        return APP_NAMESPACE
    if value.startswith("$app:"):
        return f"{APP_NAMESPACE}--{value[5:]}"
    return value


def _check_value(type_: str, value: str) -> str | None:
    """Why `value` is not a valid `type_` value, or None."""
    try:
        if type_ == "number_integer":
            int(value)
        elif type_ == "number_decimal":
            float(value)
        elif type_ == "boolean" and value not in ("true", "false"):
            return "Value must be true or false."
        elif type_ == "json":
            orjson.loads(value)
        elif type_ == "date":
            dt.date.fromisoformat(value)
        elif type_ == "date_time":
            dt.datetime.fromisoformat(value)
        elif type_ == "single_line_text_field" and "\n" in value:
            return "Value must be a single line text string."
    except ValueError:
        return {"number_integer": "Value must be an integer.", "number_decimal": "Value must be a decimal.",
                "json": "Value is invalid JSON.", "date": "Value must be in YYYY-MM-DD format.",
                "date_time": "Value must be in ISO 8601 date and time format."}[type_]
    return None


def _plan_metafield(owner: dict, spec: dict, where: list[str]) -> tuple[dict | None, list[dict]]:
    """Validate one metafield write; returns (plan, errors) where the plan is {"existing", "namespace", "key",
    "type", "value"}."""
    errors: list[dict] = []
    namespace = _namespace(spec.get("namespace"))
    key = spec.get("key")
    value = spec.get("value")
    existing = None
    if spec.get("id") is not None:  # MetafieldInput may name an existing metafield by id
        parsed = parse_gid(spec["id"])
        existing = next((m for m in owner["_metafields"] if parsed and m["_num"] == parsed[1]), None)
        if existing is None:
            return None, [dict(_error([*where, "id"], "Metafield does not exist"), code="INVALID")]
        namespace, key = existing["namespace"], existing["key"]
    if not key:
        errors.append(dict(_error([*where, "key"], "Key can't be blank"), code="BLANK"))
        return None, errors
    if len(namespace) < 3:
        errors.append(dict(_error([*where, "namespace"], "Namespace is too short (minimum is 3 characters)"),
                           code="TOO_SHORT"))
    if len(namespace) > 255:
        errors.append(dict(_error([*where, "namespace"], "Namespace is too long (maximum is 255 characters)"),
                           code="TOO_LONG"))
    if len(key) < 2:
        errors.append(dict(_error([*where, "key"], "Key is too short (minimum is 2 characters)"), code="TOO_SHORT"))
    elif len(key) > 64:
        errors.append(dict(_error([*where, "key"], "Key is too long (maximum is 64 characters)"), code="TOO_LONG"))
    elif not KEY_RE.match(key) or not KEY_RE.match(namespace.replace("--", "-")):
        errors.append(dict(_error([*where, "key"], "Key contains one or more invalid characters."), code="INVALID"))
    if existing is None:
        existing = next((m for m in owner["_metafields"] if m["namespace"] == namespace and m["key"] == key), None)
    type_ = spec.get("type") or (existing["type"] if existing else None)
    if type_ is None:
        errors.append(dict(_error([*where, "type"], "Type can't be blank"), code="BLANK"))
    elif type_ not in METAFIELD_TYPES and not type_.startswith("list."):
        errors.append(dict(_error([*where, "type"], f"Type '{type_}' is not a valid type."), code="INVALID_TYPE"))
    if value is None:
        errors.append(dict(_error([*where, "value"], "Value can't be blank"), code="BLANK"))
    elif type_ in METAFIELD_TYPES:
        problem = _check_value(type_, value)
        if problem:
            errors.append(dict(_error([*where, "value"], problem), code="INVALID_VALUE"))
    if errors:
        return None, errors
    return {"existing": existing, "namespace": namespace, "key": key, "type": type_, "value": value}, []


def _apply_metafield(ctx: Context, owner: dict, plan: dict, now: int) -> tuple[dict, bool]:
    existing = plan["existing"]
    if existing is None:
        existing = next((m for m in owner["_metafields"]
                         if m["namespace"] == plan["namespace"] and m["key"] == plan["key"]), None)
    if existing is not None:
        if existing["value"] == plan["value"] and existing["type"] == plan["type"]:
            return existing, False
        existing["value"], existing["type"], existing["updatedAt"] = plan["value"], plan["type"], iso(now)
        return existing, True
    created = o.metafield(ctx.sb.new_id("Metafield"), now, plan["namespace"], plan["key"], plan["type"],
                          plan["value"])
    owner["_metafields"].append(created)
    return created, True


# -- mutations -------------------------------------------------------------------------------------------------

def customer_update(src: Any, args: dict, ctx: Context, path: list) -> dict:
    ctx.require("write_customers", "customerUpdate")
    sb = ctx.sb
    data = args["input"]
    if data.get("id") is None:
        return {"customer": None, "userErrors": [_error(["id"], "Customer does not exist")]}
    parsed = parse_gid(data["id"])
    if parsed is None:
        raise invalid_id(data["id"])
    obj = sb.customers.by_id.get(parsed[1]) if parsed[0] == "Customer" else None
    if obj is None:
        return {"customer": None, "userErrors": [_error(["id"], "Customer does not exist")]}
    errors: list[dict] = []
    changes: dict[str, Any] = {}
    for name in ("firstName", "lastName", "note", "taxExempt"):
        if name in data:
            changes[name] = data[name]
    if "email" in data:
        email = (data["email"] or "").strip() or None
        if email is not None and not EMAIL_RE.match(email):
            errors.append(_error(["email"], "Email is invalid"))
        elif email is not None and sb.emails.get(email.lower(), obj["_num"]) != obj["_num"]:
            errors.append(_error(["email"], "Email has already been taken"))
        changes["email"] = email
    if "phone" in data:
        phone = (data["phone"] or "").strip() or None
        if phone is not None and not PHONE_RE.match(phone):
            errors.append(_error(["phone"], "Phone is invalid"))
        elif phone is not None and sb.phones.get(phone, obj["_num"]) != obj["_num"]:
            errors.append(_error(["phone"], "Phone has already been taken"))
        changes["phone"] = phone
    if "tags" in data and data["tags"] is not None:
        changes["tags"] = _clean_tags(data["tags"])
    plans = []
    for i, spec in enumerate(data.get("metafields") or []):
        plan, problems = _plan_metafield(obj, spec, ["metafields", str(i)])
        errors += [{"field": e["field"], "message": e["message"]} for e in problems]
        plans.append(plan)
    if errors:
        return {"customer": None, "userErrors": errors}
    changed = False
    for name, value in changes.items():
        if obj.get(name) == value:
            continue
        changed = True
        if name == "email":
            sb.set_email(obj, value)
        elif name == "phone":
            sb.set_phone(obj, value)
        else:
            obj[name] = value
    now = sb.clock()
    for plan in plans:
        changed = _apply_metafield(ctx, obj, plan, now)[1] or changed
    if changed:
        o.refresh_customer(obj)
        sb.touch("customers", obj, now)
    return {"customer": obj, "userErrors": []}


def _clean_tags(tags: list[str]) -> list[str]:
    """Tags as Shopify keeps them: comma-separated entries split, trimmed, empty ones dropped, duplicates (case-
    insensitive) dropped."""
    out: list[str] = []
    seen: set[str] = set()
    for raw in tags:
        for tag in raw.split(","):
            tag = tag.strip()
            if tag and tag.lower() not in seen:
                seen.add(tag.lower())
                out.append(tag)
    return out


def _taggable(ctx: Context, value: Any, field: str) -> tuple[str | None, dict | None]:
    parsed = parse_gid(value)
    if parsed is None:
        raise invalid_id(value)
    kind = TYPES.get(parsed[0])
    if kind is None:
        return None, None
    ctx.require(WRITE_SCOPES[kind], field)
    obj = ctx.sb.collections[kind].by_id.get(parsed[1])
    if obj is None or not _visible(ctx, kind, obj):
        return kind, None
    return kind, obj


def tags_add(src: Any, args: dict, ctx: Context, path: list) -> dict:
    kind, obj = _taggable(ctx, args["id"], "tagsAdd")
    if obj is None:
        return {"node": None, "userErrors": [_error(["id"], "Resource does not exist")]}
    assert kind is not None
    merged = _clean_tags(obj["tags"] + _clean_tags(args["tags"]))
    if merged != obj["tags"]:
        obj["tags"] = merged
        ctx.sb.touch(kind, obj)
    return {"node": obj, "userErrors": []}


def tags_remove(src: Any, args: dict, ctx: Context, path: list) -> dict:
    kind, obj = _taggable(ctx, args["id"], "tagsRemove")
    if obj is None:
        return {"node": None, "userErrors": [_error(["id"], "Resource does not exist")]}
    assert kind is not None
    gone = {tag.lower() for tag in _clean_tags(args["tags"])}
    kept = [tag for tag in obj["tags"] if tag.lower() not in gone]
    if kept != obj["tags"]:
        obj["tags"] = kept
        ctx.sb.touch(kind, obj)
    return {"node": obj, "userErrors": []}


def metafields_set(src: Any, args: dict, ctx: Context, path: list) -> dict:
    specs = args["metafields"]
    if len(specs) > MAX_METAFIELDS:
        return {"metafields": None, "userErrors": [{
            "field": ["metafields"], "message": f"Exceeded the maximum metafields input limit of {MAX_METAFIELDS}.",
            "code": "LESS_THAN_OR_EQUAL_TO", "elementIndex": None}]}
    errors: list[dict] = []
    plans: list[tuple[str, dict, dict]] = []
    for i, spec in enumerate(specs):
        where = ["metafields", str(i)]
        parsed = parse_gid(spec["ownerId"])
        kind = TYPES.get(parsed[0]) if parsed else None
        if kind in ("customers", "products"):
            ctx.require(WRITE_SCOPES[kind], "metafieldsSet")
        owner = ctx.sb.collections[kind].by_id.get(parsed[1]) if kind in ("customers", "products") and parsed \
            else None
        if owner is None:
            errors.append({"field": [*where, "ownerId"], "message": "Owner does not exist.", "code": "INVALID",
                           "elementIndex": i})
            continue
        plan, problems = _plan_metafield(owner, {k: v for k, v in spec.items() if k != "id"}, where)
        errors += [dict(e, elementIndex=i) for e in problems]
        if plan is not None:
            plans.append((kind, owner, plan))
    if errors:
        return {"metafields": None, "userErrors": errors}
    now = ctx.sb.clock()
    written, touched = [], {}
    for kind, owner, plan in plans:
        metafield, changed = _apply_metafield(ctx, owner, plan, now)
        written.append(metafield)
        if changed:
            touched[id(owner)] = (kind, owner)
    for kind, owner in touched.values():
        ctx.sb.touch(kind, owner, now)
    return {"metafields": written, "userErrors": []}


MUTATIONS = {"customerUpdate": customer_update, "tagsAdd": tags_add, "tagsRemove": tags_remove,
             "metafieldsSet": metafields_set}
