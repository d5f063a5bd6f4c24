"""`same_remote`: whether two remote values are the same value, as vendors echo values back normalised.

HubSpot returns every property as a string (42 written comes back "42", True comes back "true", a multi-select
list comes back "a;b"), Shopify sorts and de-duplicates tags, and timestamps come back with or without
milliseconds. Two values count as the same when:

- both are blank: None, a string of only whitespace (or ""), an empty list, an empty dict;
- one is a boolean: the other is the same boolean, or the string "true"/"false" (any case, trimmed);
- one is a number (int or float, not bool): the other is an equal number, or a numeric string of equal value
  (42 == "42" == "42.0" == 42.0);
- both are strings: equal once trimmed, or both ISO-8601 date-times (a date and a time) of the same instant
  ("2024-01-05T10:00:00Z" == "2024-01-05T10:00:00.000+00:00"); case matters;
- one is a list: the other is a list, a ";"-separated string or a single value, and every item of each has a
  same item in the other (order and repeats do not matter);
- both are dicts: every key of either has the same value in both (a missing key counts as None).

Two strings are never compared as numbers ("02139" is not "2139"), nor a number with a date-time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from mappings.types import decimal

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def same_remote(a: Any, b: Any) -> bool:
    a, b = _blank(a), _blank(b)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, list | tuple) or isinstance(b, list | tuple):
        items_a, items_b = _items(a), _items(b)
        return (all(any(same_remote(x, y) for y in items_b) for x in items_a)
                and all(any(same_remote(x, y) for x in items_a) for y in items_b))
    if isinstance(a, dict) or isinstance(b, dict):
        if not (isinstance(a, dict) and isinstance(b, dict)):
            return False
        return all(same_remote(a.get(k), b.get(k)) for k in a.keys() | b.keys())
    return _same_scalar(a, b)


def _blank(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    if isinstance(value, list | tuple | dict) and not value:
        return None
    return value


def _items(value: Any) -> list:
    if isinstance(value, list | tuple):
        return [v for v in value if _blank(v) is not None]
    if isinstance(value, str):
        return [part.strip() for part in value.split(";") if part.strip()]
    return [value]


def _same_scalar(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        truth_a, truth_b = _truth(a), _truth(b)
        return truth_a is not None and truth_a == truth_b
    if _is_number(a) or _is_number(b):
        num_a, num_b = _number(a), _number(b)
        return num_a is not None and num_b is not None and num_a == num_b
    if isinstance(a, str) and isinstance(b, str):
        a, b = a.strip(), b.strip()
        if a == b:
            return True
        moment_a = _instant(a)
        return moment_a is not None and moment_a == _instant(b)
    return bool(a == b)


def _truth(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return {"true": True, "false": False}.get(value.strip().lower())
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        return decimal(value)
    return None


def _instant(text: str) -> datetime | None:
    if not _DATETIME.match(text):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
