"""The object, properties and owners endpoints (VENDOR_FACTS 1.2, 1.5, 1.7): each takes parsed input and returns
a body for the app to render."""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_left
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sandbox.hubspot.errors import HubSpotError, object_not_found, validation
from sandbox.hubspot.records import Rec, Store, render, render_set
from sandbox.hubspot.writes import normalize

if TYPE_CHECKING:
    from starlette.datastructures import QueryParams

    from sandbox.hubspot.data import HubSpotSandbox

LIST_MAX = 100  # list endpoints: larger limits are clamped to 100 (VENDOR_FACTS 1.2: clamping is the safe choice)
OWNERS_MAX = 500
NO_PROPERTIES = "No properties found to update, please provide at least one."


# -- query parameters ----------------------------------------------------------------------------------------

def flag(params: Mapping[str, str], name: str) -> bool:
    value = params.get(name)
    if value is None or value == "":
        return False
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise validation(f"Invalid value for query parameter {name}: {value!r} is not a boolean")  # [UNCONFIRMED]


def limit_of(params: Mapping[str, str], default: int, most: int) -> int:
    value = params.get("limit")
    if value is None or value == "":
        return default
    try:
        limit = int(value)
    except ValueError:
        raise validation(f"Invalid value for query parameter limit: {value!r} is not an integer") from None
    if limit < 1:
        raise validation(f"limit must be at least 1; got {limit}")  # [UNCONFIRMED]
    return min(limit, most)


def names_of(params: QueryParams) -> list[str] | None:
    """`properties` as a comma list, repeated, or both; None when absent."""
    values = params.getlist("properties")
    if not values:
        return None
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def encode_after(next_id: int) -> str:
    """An opaque cursor like HubSpot's (`NTI1Cg==` is base64 of "525\\n"): the id the next page starts at."""
    return base64.b64encode(f"{next_id}\n".encode()).decode()


def decode_after(token: str) -> int:
    if token.isdigit():  # a plain id, as some HubSpot list responses carry
        return int(token)
    try:
        text = base64.b64decode(token, validate=True).decode().strip()
    except (binascii.Error, UnicodeDecodeError):
        text = ""
    if not text.isdigit():
        raise validation(f"Invalid value for query parameter after: {token!r}")  # [UNCONFIRMED]
    return int(text)


def next_link(base: str, params: QueryParams, token: str) -> str:
    items = [(k, v) for k, v in params.multi_items() if k != "after"] + [("after", token)]
    return f"{base}?{urlencode(items)}"


# -- records -------------------------------------------------------------------------------------------------

def list_records(store: Store, params: QueryParams, base: str) -> dict:
    """One keyset page in ascending id order: `after` names the id to start at, so a stored cursor resumes at
    the right place whatever was created, changed or archived meanwhile."""
    limit = limit_of(params, 10, LIST_MAX)
    ids = store.archived if flag(params, "archived") else store.live
    after = params.get("after")
    start = bisect_left(ids, decode_after(after)) if after else 0
    names = store.schema.requested(names_of(params))
    by_id, lastmod = store.by_id, store.kind.lastmod
    out: dict[str, Any] = {"results": [render(by_id[i], names, lastmod) for i in ids[start:start + limit]]}
    if start + limit < len(ids):
        token = encode_after(ids[start + limit])
        out["paging"] = {"next": {"after": token, "link": next_link(base, params, token)}}
    return out


def find(store: Store, key: str, id_property: str | None, archived: bool | None = False) -> Rec | None:
    """The record `key` names: an id, or with `idProperty=email` (contacts) an email address."""
    if id_property in (None, "", "hs_object_id"):
        return store.current(int(key), archived=archived) if key.isdigit() else None
    if id_property == "email" and store.kind.name == "contacts":
        email = key.strip().lower()
        if archived is not True and email in store.emails:
            return store.by_id[store.emails[email]]
        if archived is not False:
            for i in store.archived:
                if store.by_id[i].props.get("email") == email:
                    return store.by_id[i]
        return None
    # Only properties with unique values can identify records; the sandbox's types have none besides these.
    raise validation(f"{id_property} is not a unique identifier property for {store.kind.name}")  # [UNCONFIRMED]


def get_record(store: Store, key: str, params: QueryParams) -> dict:
    # With archived=true only an archived record is found, without it only a live one (VENDOR_FACTS 1.7).
    rec = find(store, key, params.get("idProperty"), flag(params, "archived"))
    if rec is None:
        raise object_not_found(key)
    return render(rec, store.schema.requested(names_of(params)), store.kind.lastmod)


def properties_of(body: object, *, required: bool = False) -> object:
    if not isinstance(body, dict):
        raise validation("Invalid input JSON on line 1, column 1: the request body must be a JSON object")
    if "properties" not in body and required:
        raise validation(NO_PROPERTIES)
    return body.get("properties") or {}


def create_record(sb: HubSpotSandbox, store: Store, body: object) -> dict:
    changes = normalize(store.schema, properties_of(body))
    return render_set(sb.create_record(store, changes), store.kind.lastmod)


def update_record(sb: HubSpotSandbox, store: Store, key: str, params: QueryParams, body: object) -> dict:
    rec = find(store, key, params.get("idProperty"))
    if rec is None:
        raise object_not_found(key)
    values = properties_of(body, required=True)
    if not values:
        raise validation(NO_PROPERTIES)
    return render_set(sb.apply(store, rec, normalize(store.schema, values)), store.kind.lastmod)


def archive_record(sb: HubSpotSandbox, store: Store, key: str) -> None:
    """DELETE archives; an unknown or already archived id is also a 204 (archiving is idempotent)."""
    rec = find(store, key, None)
    if rec is not None:
        stamp = sb.stamp()
        sb.apply(store, rec, {}, archived_at=stamp[1], stamp=stamp)


# -- properties and owners ------------------------------------------------------------------------------------

def get_property(store: Store, name: str) -> dict:
    prop = store.schema.props.get(name)
    if prop is None:
        # Wording [UNCONFIRMED].
        raise HubSpotError(404, f'Property "{name}" does not exist for object type {store.kind.type_id}',
                           "OBJECT_NOT_FOUND", context={"propertyName": [name]})
    return prop.as_api(list(store.schema.props).index(name))


def list_owners(sb: HubSpotSandbox, params: QueryParams, base: str) -> dict:
    """`GET /crm/v3/owners`: `limit` (default 100, at most 500), `after`, `archived` (only deactivated owners),
    `email`; in ascending id order with the same kind of cursor as the object lists."""
    limit = limit_of(params, 100, OWNERS_MAX)
    archived = flag(params, "archived")
    owners = [o for o in sb.owners if o["archived"] == archived]
    email = params.get("email")
    if email:
        owners = [o for o in owners if o["email"] == email.lower()]
    after = params.get("after")
    start = bisect_left([int(o["id"]) for o in owners], decode_after(after)) if after else 0
    out: dict[str, Any] = {"results": owners[start:start + limit]}
    if start + limit < len(owners):
        token = encode_after(int(owners[start + limit]["id"]))
        out["paging"] = {"next": {"after": token, "link": next_link(base, params, token)}}
    return out


def get_owner(sb: HubSpotSandbox, key: str, params: QueryParams) -> dict:
    field = params.get("idProperty") or "id"
    if field not in ("id", "userId"):
        raise validation(f"idProperty must be one of [id, userId]; got {field}")  # [UNCONFIRMED]
    archived = flag(params, "archived")
    for owner in sb.owners:
        if str(owner[field]) == key and owner["archived"] == archived:
            return owner
    raise object_not_found(key)
