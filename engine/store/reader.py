"""Read-only queries. Read-only by construction: in the server a READ ONLY transaction, outside it a
read-only connection; DuckDB itself refuses any write. One statement per call, so no statement can end the
read-only transaction and run another outside it; statements that would change the server process itself
(attaching files, settings, extensions) are refused too."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import duckdb

_PROCESS_CHANGING = {"ATTACH", "DETACH", "SET", "VARIABLE_SET", "LOAD", "EXTENSION", "TRANSACTION",
                     "UPDATE_EXTENSIONS", "PREPARE", "EXECUTE", "COPY", "EXPORT", "COPY_DATABASE"}
FETCH_ROWS = 2000


class QueryError(Exception):
    """A query the store refused or could not run; the message is for the user."""


@dataclass
class Query:
    columns: list[str]
    types: list[str]
    chunks: Iterator[list[tuple]]


def run_query(cur: duckdb.DuckDBPyConnection, sql: str, *, in_transaction: bool) -> Query:
    """Run one read-only statement on `cur` (a cursor of its own). Chunks of rows stream from it; the
    transaction ends when the chunks are exhausted or the generator is closed."""
    try:
        statements = cur.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(_clean(exc)) from None
    if len(statements) != 1:
        raise QueryError(f"give exactly one SQL statement (got {len(statements)})")
    kind = statements[0].type.name
    if kind in _PROCESS_CHANGING:
        raise QueryError(f"inlet sql only reads the store; a {kind} statement is not allowed")
    try:
        if in_transaction:
            cur.execute("BEGIN TRANSACTION READ ONLY")
        cur.execute(sql)
    except duckdb.Error as exc:
        _end(cur, in_transaction)
        raise QueryError(_clean(exc)) from None
    description = cur.description or []
    return Query([d[0] for d in description], [str(d[1]) for d in description], _chunks(cur, in_transaction))


def _chunks(cur, in_transaction: bool) -> Iterator[list[tuple]]:
    try:
        while rows := cur.fetchmany(FETCH_ROWS):
            yield rows
    except duckdb.Error as exc:
        raise QueryError(_clean(exc)) from None
    finally:
        _end(cur, in_transaction)


def _end(cur, in_transaction: bool) -> None:
    if in_transaction:
        try:
            cur.execute("ROLLBACK")
        except duckdb.Error:
            pass


def _clean(exc: duckdb.Error) -> str:
    text = str(exc)
    if "read-only" in text or "read only" in text:
        return "inlet sql only reads the store: this statement would write to it, and was refused"
    return text
