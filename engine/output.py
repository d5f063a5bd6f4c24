"""Query results as text: an aligned table, CSV or JSON. Values are first made JSON-ready the same way
whether they come from the server's socket or straight from the file, so both print alike."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import uuid
from collections.abc import Iterable

import orjson

from engine.jsonio import dumps, loads

FORMATS = ("table", "csv", "json")


def jsonable(value, type_name: str):
    """A DuckDB value as plain JSON data: timestamps in ISO 8601 (with their offset), JSON parsed."""
    if value is None:
        return None
    if type_name == "JSON" and isinstance(value, str):
        try:
            return loads(value)
        except ValueError:
            return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | dt.timedelta):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v, "") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, "") for v in value]
    return value


def jsonable_rows(rows: Iterable[tuple], types: list[str]) -> list[list]:
    return [[jsonable(v, t) for v, t in zip(row, types, strict=True)] for row in rows]


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return dumps(value)
    return str(value)


class Printer:
    """Streams rows out in one format; `table` waits for all rows to size its columns."""

    def __init__(self, fmt: str, columns: list[str], out):
        self.fmt, self.columns, self.out = fmt, columns, out
        self.count = 0
        self._held: list[list] = []
        if fmt == "csv":
            self._csv = csv.writer(out, lineterminator="\n")
            self._csv.writerow(columns)
        elif fmt == "json":
            out.write("[")

    def rows(self, rows: list[list]) -> None:
        for row in rows:
            if self.fmt == "csv":
                self._csv.writerow([_text(v) for v in row])
            elif self.fmt == "json":
                record = orjson.dumps(dict(zip(self.columns, row, strict=True))).decode()
                self.out.write(("," if self.count else "") + "\n  " + record)
            else:
                self._held.append(row)
            self.count += 1

    def close(self) -> None:
        if self.fmt == "json":
            self.out.write("\n]\n" if self.count else "]\n")
        elif self.fmt == "table":
            self.out.write(table(self.columns, self._held))


def table(columns: list[str], rows: list[list]) -> str:
    cells = [[_text(v) if v is not None else "NULL" for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    buf = io.StringIO()

    def line(values):
        buf.write("  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip() + "\n")

    line(columns)
    line(["-" * w for w in widths])
    for r in cells:
        line(r)
    buf.write(f"({len(rows)} row{'s' if len(rows) != 1 else ''})\n")
    return buf.getvalue()
