"""Checking the form parameters of customer writes, with the limits of VENDOR_FACTS 3.5, so a connector's
write-back meets the same 400s it would meet at Stripe before it ever talks to Stripe."""

from __future__ import annotations

import re
from typing import Any

from sandbox.stripe.errors import invalid, unknown_parameter

MAX_LENGTH = {"email": 512, "name": 256, "phone": 20, "description": 5000}
ADDRESS_FIELDS = ("city", "country", "line1", "line2", "postal_code", "state")
TAX_EXEMPT = ("none", "exempt", "reverse")
CUSTOMER_PARAMS = frozenset({*MAX_LENGTH, "metadata", "address", "balance", "preferred_locales", "tax_exempt",
                             "expand"})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def customer_changes(params: dict[str, Any], current_metadata: dict[str, str] | None = None) -> dict[str, Any]:
    """Form params of `POST /v1/customers[/{id}]` → field changes for `StripeSandbox.update`.

    "Any parameters not provided will be left unchanged"; an empty string unsets a field (null), a metadata key,
    or with `metadata=` all metadata keys (VENDOR_FACTS 3.5). `expand` is accepted and ignored."""
    changes: dict[str, Any] = {}
    for name, value in params.items():
        if name not in CUSTOMER_PARAMS:
            raise unknown_parameter(name)
        if name == "expand":
            continue
        if name == "metadata":
            changes["metadata"] = _metadata(value, current_metadata or {})
        elif name == "address":
            changes["address"] = _address(value)
        elif name == "balance":
            try:
                changes["balance"] = int(_string(name, value))
            except ValueError:
                raise invalid(f"Invalid integer: {value}", param=name) from None
        elif name == "preferred_locales":
            if value == "":
                changes[name] = []
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                changes[name] = list(value)
            else:
                raise invalid("Invalid array", param=name)
        elif name == "tax_exempt":
            if value not in TAX_EXEMPT:
                raise invalid(f"Invalid tax_exempt: must be one of {', '.join(TAX_EXEMPT)}", param=name)
            changes[name] = value
        else:
            text = _string(name, value)
            if len(text) > MAX_LENGTH[name]:
                # Wording recalled from real responses [UNCONFIRMED]; the limits themselves are from the spec.
                raise invalid(f"Invalid string: {text[:10]}...; must be at most {MAX_LENGTH[name]} characters",
                              param=name)
            if name == "email" and text and not _EMAIL.match(text):
                raise invalid(f"Invalid email address: {text}", param=name, code="email_invalid")
            changes[name] = text or None
    return changes


def _string(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {name} must be a string, not an object or array", param=name)
    return value


def _metadata(value: Any, current: dict[str, str]) -> dict[str, str] | None:
    """A patch ({key: value or ""}) or None for `metadata=` (clear all). Limits: 50 keys, key ≤ 40 characters,
    value ≤ 500 characters, no brackets in keys (the form parser already refuses those as bad nesting)."""
    if value == "":
        return None
    if not isinstance(value, dict):
        raise invalid("Invalid hash", param="metadata")
    # Wording of these three messages is a best guess [UNCONFIRMED]; the limits are OFFICIAL.
    for key, item in value.items():
        param = f"metadata[{key}]"
        if not isinstance(item, str):
            raise invalid(f"Invalid string: {param} must be a string, not an object or array", param=param)
        if len(key) > 40:
            raise invalid(f"Metadata keys can be at most 40 characters long; '{key}' is {len(key)}.", param=param)
        if len(item) > 500:
            raise invalid(f"Metadata values can be at most 500 characters long; {param} is {len(item)}.",
                          param=param)
    kept = {k for k in current if value.get(k, current[k]) != ""} | {k for k, v in value.items() if v != ""}
    if len(kept) > 50:
        raise invalid("Metadata can have at most 50 keys; this request would leave "
                      f"{len(kept)}.", param="metadata")
    return dict(value)


def _address(value: Any) -> dict[str, Any]:
    if value == "":
        return {field: None for field in ADDRESS_FIELDS}
    if not isinstance(value, dict):
        raise invalid("Invalid hash", param="address")
    for name in value:
        if name not in ADDRESS_FIELDS:
            raise unknown_parameter(f"address[{name}]")
    return {field: _string(f"address[{field}]", value[field]) or None if field in value else None
            for field in ADDRESS_FIELDS}

