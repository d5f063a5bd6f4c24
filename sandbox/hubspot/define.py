"""`POST /crm/v3/properties/{objectType}`: a portal's own (custom) property, as a HubSpot admin or an app creates
one before values can be written to it. Required: `name`, `label`, `type`, `fieldType`, `groupName`
[OFFICIAL spec]; enumerations carry `options`. An existing name is a 409 [wording UNCONFIRMED]."""

from __future__ import annotations

import re

from sandbox.hubspot.errors import conflict, validation
from sandbox.hubspot.properties import BOOL, DATE, DATETIME, ENUM, NUMBER, STRING, Prop

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
_TYPES = (STRING, NUMBER, DATETIME, DATE, ENUM, BOOL)


def create_property(store, body: object) -> dict:
    if not isinstance(body, dict):
        raise validation("Invalid input JSON: a property definition must be an object")
    missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)]
    if missing:
        raise validation(f"Missing required fields: {', '.join(missing)}")
    name, kind = str(body["name"]), str(body["type"])
    if not _NAME.match(name) or name.startswith("hs_"):
        raise validation(f"Property name {name!r} is invalid: lower-case letters, digits and underscores, "
                         "starting with a letter, not hs_")
    if kind not in _TYPES:
        raise validation(f"Property type {kind!r} is invalid; valid types: {', '.join(_TYPES)}")
    options = tuple((str(o.get("value")), str(o.get("label") or o.get("value"))) for o in body.get("options") or []
                    if isinstance(o, dict) and o.get("value") is not None)
    if kind == ENUM and not options:
        raise validation("An enumeration property needs at least one option")
    schema = store.schema
    if name in schema.props:
        raise conflict(f"Property named '{name}' already exists.")
    prop = Prop(name, str(body["label"]), kind, str(body["groupName"]), str(body["fieldType"]),
                str(body.get("description") or ""), options, hubspot=False)
    schema.add(prop)
    return prop.as_api(len(schema.props) - 1)
