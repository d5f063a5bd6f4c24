"""The ASGI app: routes, the store's lifetime, the control socket and periodic snapshots."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Route

from engine.output import jsonable_rows
from engine.server.collect import collect_endpoint
from engine.server.control import ControlServer, socket_path
from engine.server.links import pixel_endpoint, redirect_endpoint, unknown_link_endpoint
from engine.server.openapi import collect_paths, link_paths
from engine.server.refusals import error_response
from engine.server.state import InletState
from engine.status import status_rows
from engine.store import StoreBehind
from engine.store.reader import run_query

log = logging.getLogger("inlet.server")


def create_app(state: InletState) -> FastAPI:
    """`state` holds an open store; the app starts its writer and control socket and stops them at shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        state.writer.start()
        control = ControlServer(state, socket_path(state.config.store.path))
        await control.start()
        tasks = []
        if state.config.store.snapshot:
            tasks.append(asyncio.create_task(_snapshots(state)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await control.stop()
            await asyncio.to_thread(state.writer.stop)

    # No OpenTelemetry: with it on, FastAPI looks up the global providers on every request (~15 us each).
    app = FastAPI(title="inlet", version="0.1.0", lifespan=lifespan,
                  description="Customer-data collector: collect webhooks into one DuckDB store.",
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.inlet = state

    # The hot routes go first: Starlette tries routes in order, and FastAPI registered its docs routes already.
    app.router.routes[:0] = [
        *(Route(path, collect_endpoint, methods=["GET", "POST"], include_in_schema=False)
          for path in ("/collect/{event_type}/{source_id}", "/collect/{event_type}/{source_id}/{session_id}")),
        *(Route(path, redirect_endpoint, methods=["GET"], include_in_schema=False)
          for path in ("/r/{source_id}/{link_id}", "/r/{source_id}/{link_id}/{session_id}")),
        Route("/r/{rest:path}", unknown_link_endpoint, methods=["GET"], include_in_schema=False),
        *(Route(path, pixel_endpoint, methods=["GET"], include_in_schema=False)
          for path in ("/pixel/{event_type}/{source_id}", "/pixel/{event_type}/{source_id}/{session_id}")),
    ]

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            schema["paths"] = {**collect_paths(), **link_paths(), **schema["paths"]}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi

    @app.get("/healthz", tags=["server"])
    async def healthz() -> dict:
        return {"ok": True}

    @app.get("/status", tags=["server"])
    async def status() -> dict:
        await state.writer.flush()
        return {"sources": await asyncio.to_thread(status_rows, state.config, lambda sql: _query(state, sql))}

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        reason = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, reason, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        return error_response(400, "invalid_request", "; ".join(e["msg"] for e in exc.errors()))

    @app.exception_handler(StoreBehind)
    async def store_behind(request: Request, exc: StoreBehind) -> Response:
        return error_response(503, "store_behind", str(exc), {"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "the server failed on this request; it is logged")

    return app


def _query(state: InletState, sql: str) -> list[list]:
    cur = state.con.cursor()
    try:
        q = run_query(cur, sql, in_transaction=True)
        return [row for rows in q.chunks for row in jsonable_rows(rows, q.types)]
    finally:
        cur.close()


async def _snapshots(state: InletState) -> None:
    snap = state.config.store.snapshot
    while True:
        await asyncio.sleep(snap.every.total_seconds())
        try:
            await state.snapshot(snap.path)
            log.info("snapshot written to %s", snap.path)
        except Exception as exc:  # a failed snapshot must not stop the server; the next one may succeed
            log.error("snapshot to %s failed: %s", snap.path, exc)
