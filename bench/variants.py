"""The real inlet app plus two comparison routes, served exactly as `inlet serve` serves it.

- `/bench/ceiling/{event_type}/{source_id}`: read the body, parse it with inlet's own parser (`engine.jsonio`),
  answer a small JSON object. Nothing else: the most this server stack (uvicorn with uvloop/httptools, the
  FastAPI app, a plain Starlette route as the collect webhooks use) can do per second.
- `/bench/naive/{event_type}/{source_id}`: what a newcomer would write: one autocommit `INSERT` per request
  into its own DuckDB file, on one connection behind a lock, run in a worker thread so the loop is not blocked.

Without `--naive-db` only the inlet app is served, as `inlet serve` serves it; with `--no-metrics` the process
counts nothing for `GET /metrics` (engine.metrics.disable): bench/collect.py's "inlet without metrics" is both.

Run: `python bench/variants.py -c CONFIG [--naive-db PATH] [--no-metrics]` (stops cleanly on SIGTERM, like
`inlet serve`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import threading
import time
from pathlib import Path

import duckdb
import orjson
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.kit.ids import new_id
from engine import metrics
from engine.config import load_config
from engine.config.models import Config
from engine.jsonio import dumps, loads
from engine.server.app import create_app
from engine.server.boot import build_state
from engine.server.serve import run_server
from engine.server.state import InletState
from engine.store import open_store

NAIVE_INSERT = """INSERT INTO events (event_id, source_id, event_type, occurred_at, received_at, profile_id,
                                     session_id, properties, context)
                  VALUES (?::UUID, ?, ?, make_timestamp(?), make_timestamp(?), NULL, NULL, ?::JSON, ?::JSON)"""


def build_app(config: Config, naive_db: Path) -> tuple[FastAPI, InletState, duckdb.DuckDBPyConnection]:
    """The inlet app as `engine/server/serve.py` builds it, plus the ceiling and naive routes."""
    state = build_state(config)
    app = create_app(state)
    naive = open_store(naive_db)  # the same schema as the real store, in a file of its own
    lock = threading.Lock()

    async def ceiling(request: Request) -> Response:
        event_type = request.path_params["event_type"]
        data = loads(await request.body())
        return Response(orjson.dumps({"ok": True, "event_type": event_type, "keys": len(data)}),
                        media_type="application/json")

    def insert(row: tuple) -> None:
        with lock:
            naive.execute(NAIVE_INSERT, row)  # autocommit: one transaction, one WAL flush per event

    async def naive_collect(request: Request) -> Response:
        event_type, source_id = request.path_params["event_type"], request.path_params["source_id"]
        data = loads(await request.body())
        now = time.time_ns() // 1000
        event_id = new_id()
        context = dumps({"ip": request.client.host if request.client else None,
                         "user_agent": request.headers.get("user-agent")})
        await asyncio.to_thread(insert, (event_id, source_id, event_type, now, now, dumps(data), context))
        return Response(orjson.dumps({"event_id": event_id, "source_id": source_id, "event_type": event_type}),
                        media_type="application/json")

    for path, endpoint in (("/bench/ceiling/{event_type}/{source_id}", ceiling),
                           ("/bench/naive/{event_type}/{source_id}", naive_collect)):
        # plain routes at the front of the router, like the collect webhooks: the same stack and cost
        app.router.routes.insert(0, Route(path, endpoint, methods=["POST"], include_in_schema=False))
    return app, state, naive


def serve(config: Config, naive_db: Path | None, log_level: str = "warning", *, count: bool = True) -> int:
    """`engine.server.serve.serve` with the bench app (without `naive_db`: the inlet app alone, as `inlet serve`
    serves it): same uvicorn settings, same shutdown. `count=False`: the process counts nothing for GET /metrics
    (bench/collect.py's "inlet without metrics")."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not count:
        metrics.disable()
    if naive_db is None:
        state = build_state(config)
        app, naive = create_app(state), None
    else:
        app, state, naive = build_app(config, naive_db)
    try:
        return run_server(app, config, log_level)
    finally:
        state.writer.stop()
        state.con.close()
        if naive is not None:
            naive.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", required=True, type=Path)
    parser.add_argument("--naive-db", type=Path, help="serve (b) and (c) too, (c) into this file")
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--no-metrics", action="store_true", help="count nothing for GET /metrics")
    args = parser.parse_args()
    raise SystemExit(serve(load_config(args.config), args.naive_db, args.log_level, count=not args.no_metrics))
