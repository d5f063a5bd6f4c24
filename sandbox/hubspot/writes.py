"""Checking and normalising property values sent to the API, and recomputing calculated properties.

"Provided property values will be overwritten. Read-only and non-existent properties will result in an error."
(VENDOR_FACTS 1.5.) Values become the strings the API renders: numbers as text, booleans "true"/"false", dates
in the property's own representation; `""` or null clears a property [UNCONFIRMED, as VENDOR_FACTS notes].
"""

from __future__ import annotations

import re

from sandbox.hubspot.errors import property_errors, validation
from sandbox.hubspot.objects import Schema
from sandbox.hubspot.properties import BOOL, DATE, DATETIME, ENUM, NUMBER, STAGES, Prop
from sandbox.hubspot.records import day, instant, iso

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PROBABILITY = {value: p for value, _, p in STAGES}


class _Invalid(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def normalize(schema: Schema, values: object, *, internal: bool = False) -> dict[str, str | None]:
    """The changes a `properties` object asks for, or 400 VALIDATION_ERROR naming every bad property.
    `internal` (the sandbox's own API, as a HubSpot user or workflow would) may set read-only values."""
    if not isinstance(values, dict):
        raise validation("Invalid input JSON: `properties` must be an object of property names to values")
    problems: list[tuple[str, str, str]] = []
    out: dict[str, str | None] = {}
    for name, value in values.items():
        prop = schema.props.get(name)
        if prop is None:
            problems.append((name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'))
        elif prop.read_only and not internal:
            # Code and wording recalled from HubSpot responses [UNCONFIRMED].
            problems.append((name, "READ_ONLY_VALUE", f'"{name}" is a read only property; its value cannot be set.'))
        else:
            try:
                out[name] = _coerce(prop, value)
            except _Invalid as exc:
                problems.append((name, exc.code, exc.message))
    if problems:
        raise property_errors(problems)
    return out


def _coerce(prop: Prop, value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dict | list):
        raise _Invalid("INVALID_VALUE", f"{value!r} is not a valid value for {prop.name}")  # [UNCONFIRMED]
    kind = prop.type
    if kind == BOOL:
        text = str(value).lower()
        if text not in ("true", "false"):
            raise _Invalid("INVALID_BOOLEAN", f"{value} is not a valid boolean value")  # [UNCONFIRMED]
        return text
    if kind == NUMBER:
        if isinstance(value, bool):
            raise _Invalid("INVALID_DOUBLE", f"{value} is not a valid number")  # [UNCONFIRMED]
        if isinstance(value, int | float):
            return str(int(value)) if float(value).is_integer() else repr(float(value))
        try:
            float(str(value))
        except ValueError:
            raise _Invalid("INVALID_DOUBLE", f"{value} is not a valid number") from None
        return str(value).strip()
    if kind in (DATETIME, DATE):
        ms = instant(value)
        if ms is None:
            raise _Invalid("INVALID_DATE", f"{value} is not a valid date")  # [UNCONFIRMED]
        if kind == DATE:
            return day(ms)
        return str(ms) if prop.epoch else iso(ms)
    text = value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    if kind == ENUM and prop.options and text not in {v for v, _ in prop.options}:
        allowed = ", ".join(v for v, _ in prop.options)
        raise _Invalid("INVALID_OPTION", f'"{text}" was not one of the allowed options: [{allowed}]')
    if prop.name == "email":
        text = text.strip().lower()  # HubSpot stores emails lower-cased
        if not _EMAIL.match(text):
            raise _Invalid("INVALID_EMAIL", f"Email address {text} is invalid")
    return text


def derive(object_type: str, props: dict[str, str]) -> None:
    """Recompute the calculated properties that depend on what changed (in place, on a fresh dict)."""
    if object_type == "contacts":
        email = props.get("email")
        if email:
            props["hs_email_domain"] = email.rpartition("@")[2]
        else:
            props.pop("hs_email_domain", None)
    elif object_type == "deals":
        stage = props.get("dealstage")
        closed = stage in ("closedwon", "closedlost")
        props["hs_is_closed"] = "true" if closed else "false"
        props["hs_is_closed_won"] = "true" if stage == "closedwon" else "false"
        if stage in _PROBABILITY:
            props["hs_deal_stage_probability"] = _PROBABILITY[stage]
        created, close = instant(props.get("createdate")), instant(props.get("closedate"))
        if created is not None and close is not None:
            props["days_to_close"] = str(max(0, (close - created) // 86_400_000))
        else:
            props.pop("days_to_close", None)
