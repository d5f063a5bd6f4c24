"""Read-only queries. Read-only by construction: in the server a READ ONLY transaction, outside it a
read-only connection; DuckDB itself refuses any write. Before it runs, engine/store/query_guard.py checks that
the text is one SELECT over the store's tables and views: so no statement can end the read-only transaction
and run another outside it, and none reads files, URLs or the environment, or changes the server process
(settings, checkpoints, attached files, extensions)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import duckdb

from engine.store.query_guard import QueryRefused, check_query

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
        check_query(cur, sql)
    except QueryRefused as exc:
        raise QueryError(str(exc)) from None
    except duckdb.Error as exc:
        raise QueryError(_clean(exc)) from None
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
