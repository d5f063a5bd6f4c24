"""A field's `type`: coercing a remote value (after its `in` template) into the attribute inlet stores.

| type     | takes                                                               | stores            |
| -------- | ------------------------------------------------------------------- | ----------------- |
| string   | anything: numbers as written, booleans as true/false, lists and objects as JSON | str   |
| int      | integers, whole floats (42.0), numeric strings ("42", " 4.2e1 ")    | int               |
| float    | numbers, numeric strings                                            | float (finite)    |
| bool     | booleans, 0/1, "true"/"false"/"1"/"0"/"yes"/"no" (any case)         | bool              |
| datetime | ISO-8601 strings (no offset = UTC), epoch seconds or milliseconds   | "YYYY-MM-DDTHH:MM:SS.ffffffZ" |
| list     | lists, strings split on ";" (HubSpot multi-select), items trimmed   | list              |

Null stays null for every type. An empty (or blank) string is null for int, float, bool and datetime, and `[]`
for list: that is how HubSpot reports a property with no value. Epoch numbers of magnitude 100,000,000,000 and
more are milliseconds (as seconds they would be after the year 5000). Anything else raises `CoercionError`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

TYPES = ("string", "int", "float", "bool", "datetime", "list")
NUMERIC = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
EPOCH_MS_FROM = 100_000_000_000
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


class CoercionError(ValueError):
    """A value that cannot be the field's type; the message says which value and why."""


def coerce(value: Any, type_: str | None) -> Any:
    """`value` as `type_` (None: unchanged)."""
    if value is None or type_ is None:
        return value
    return COERCE[type_](value)


def show(value: Any, limit: int = 60) -> str:
    """A value for an error message, cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def decimal(text: str) -> Decimal | None:
    """A numeric string (optional sign, digits, fraction, exponent; no inf, nan or underscores) as a Decimal."""
    text = text.strip()
    if not NUMERIC.match(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only what Decimal reads
        return None


def to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return to_datetime(value)
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return str(value)


def to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        raise CoercionError(f"{show(value)} is a boolean, not an int")
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        number = Decimal(str(value)) if isinstance(value, float) else value
    elif isinstance(value, str):
        if not value.strip():
            return None
        number = decimal(value)
        if number is None:
            raise CoercionError(f"{show(value)} is not a number")
    else:
        raise CoercionError(f"{show(value)} ({type(value).__name__}) cannot be an int")
    if not number.is_finite() or number != number.to_integral_value():
        raise CoercionError(f"{show(value)} is not a whole number")
    return int(number)


def to_float(value: Any) -> float | None:
    if isinstance(value, bool):
        raise CoercionError(f"{show(value)} is a boolean, not a float")
    if isinstance(value, int | float | Decimal):
        out = float(value)
    elif isinstance(value, str):
        if not value.strip():
            return None
        number = decimal(value)
        if number is None:
            raise CoercionError(f"{show(value)} is not a number")
        out = float(number)
    else:
        raise CoercionError(f"{show(value)} ({type(value).__name__}) cannot be a float")
    if not math.isfinite(out):
        raise CoercionError(f"{show(value)} is not a finite number")
    return out


def to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if not text:
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise CoercionError(f"{show(value)} is not a boolean (true/false, 1/0, yes/no)")


def to_datetime(value: Any) -> str | None:
    if isinstance(value, bool):
        raise CoercionError(f"{show(value)} is a boolean, not a date-time")
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, int | float | Decimal):
        moment = _epoch(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        number = decimal(text)
        if number is not None:
            moment = _epoch(number)
        else:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                raise CoercionError(f"{show(value)} is not an ISO-8601 date-time or epoch time") from None
    else:
        raise CoercionError(f"{show(value)} ({type(value).__name__}) cannot be a date-time")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        raise CoercionError(f"{show(value)} is out of range as a date-time") from None
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _epoch(number: Any) -> datetime:
    seconds = float(number)
    if not math.isfinite(seconds):
        raise CoercionError(f"{show(number)} is not a finite epoch time")
    if abs(seconds) >= EPOCH_MS_FROM:
        seconds /= 1000
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise CoercionError(f"{show(number)} is out of range as an epoch time") from None


def to_list(value: Any) -> list:
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str):
        return [part.strip() for part in value.split(";") if part.strip()]
    raise CoercionError(f"{show(value)} ({type(value).__name__}) is not a list or a ';'-separated string")


COERCE: dict[str, Callable[[Any], Any]] = {
    "string": to_string, "int": to_int, "float": to_float, "bool": to_bool, "datetime": to_datetime,
    "list": to_list,
}
