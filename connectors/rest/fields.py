"""The building blocks of a `rest` source's settings: the strict base model, names, dotted paths and durations."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

NAME = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"  # a resource: `objects:`, `--object`, schedules
OBJECT_TYPE = r"^[a-z][a-z0-9_]{0,63}$"  # records.object_type, and `<type>.created` event types
DOTTED = r"^[^.\s]+(\.[^.\s]+)*$"  # a.b.c
def _dotted(value: str) -> str:
    if not re.match(DOTTED, value):
        raise ValueError(f"{value!r} is not a dotted path to a key of the answer, like id or paging.next.after")
    return value


def _dotted_or_whole(value: str) -> str:
    return value if value == "" else _dotted(value)


Dotted = Annotated[str, AfterValidator(_dotted)]
DottedOrWhole = Annotated[str, AfterValidator(_dotted_or_whole)]  # "": the whole answer
ParamName = Annotated[str, Field(min_length=1, max_length=200)]
Scalar = str | int | float | bool
HeaderName = Annotated[str, Field(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")]
_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(value: object, *, zero: bool = False) -> timedelta:
    """`500ms`, `10s`, `1m`, `2h`, `1d` or a number of seconds."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = int(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration: write a number and a unit, like 10s, 1m or 500ms")
    if seconds < 0 or (seconds == 0 and not zero):
        raise ValueError(f"{value!r}: the duration must be {'zero or more' if zero else 'positive'}")
    return timedelta(seconds=seconds)


def singular(name: str) -> str:
    """`contacts` -> `contact`, `companies` -> `company`, `addresses` -> `address`; lower case, `-` as `_`."""
    name = name.lower().replace("-", "_")
    if name.endswith("ies") and len(name) > 3:
        return name[:-3] + "y"
    if name.endswith(("sses", "xes", "ches", "shes", "zes")):
        return name[:-2]
    if name.endswith("s") and not name.endswith(("ss", "us", "is")):
        return name[:-1]
    return name


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
