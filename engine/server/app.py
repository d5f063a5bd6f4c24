"""The ASGI app: routes, the store's lifetime, the control socket and periodic snapshots."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import datetime

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Route

from engine.config import ConfigError
from engine.console import add_console
from engine.scheduler import Scheduler
from engine.server.collect import collect_endpoint
from engine.server.control import ControlServer, socket_path
from engine.server.links import pixel_endpoint, redirect_endpoint, unknown_link_endpoint
from engine.server.metrics import add_metrics
from engine.server.openapi import document
from engine.server.refusals import error_response
from engine.server.state import InletState
from engine.server.tracking import add_tracking_routes
from engine.server.webhooks import webhook_endpoint
from engine.store import StoreBehind

log = logging.getLogger("inlet.server")
SYNC_STOP_SECONDS = 20.0  # at shutdown, how long running syncs get to commit what they fetched
LAKE_STOP_SECONDS = 30.0  # and how long a lake export in progress gets to commit


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
        await state.syncs.sender.release_unsent()
        tasks.append(asyncio.create_task(state.syncs.sender.run_forever(state.writing_sources,
                                                                        state.writable_connector)))
        if state.config.lake is not None:
            # imported only with `lake:`: pyiceberg and SQLAlchemy add 0.8-1.3 s to the start of every inlet serve
            from engine.lake.service import LakeService

            state.lake = LakeService(state.config.lake, state.con, state.writer)
            state.lake.start()
        scheduler = Scheduler(state.syncs, lambda source_id, types: _last_success(state, source_id, types))
        state.scheduler = scheduler
        await scheduler.start(state.config)
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):  # signals: main thread only
            loop.add_signal_handler(signal.SIGHUP, lambda: tasks.append(loop.create_task(_reload(state))))
        try:
            yield
        finally:
            with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
                loop.remove_signal_handler(signal.SIGHUP)
            scheduler.pause()  # no new runs; the ones going on commit what they fetched and end
            if not await state.syncs.stop(SYNC_STOP_SECONDS):
                log.warning("syncs still running after %s s; they end with the process and resume next time",
                            SYNC_STOP_SECONDS)
            scheduler.shutdown()
            for task in tasks:  # a write-back cut off mid-send stays `sending`; the next start sends it again
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await state.close_connectors()
            await state.policy.close()  # the refusals counted this second, before the writer stops
            await control.stop()
            if state.lake is not None:  # an export in progress commits; what it sent is remembered by the writer
                await state.lake.stop(LAKE_STOP_SECONDS)
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
        Route("/webhooks/{source_id}", webhook_endpoint, methods=["POST"], include_in_schema=False),
        *(Route(path, pixel_endpoint, methods=["GET"], include_in_schema=False)
          for path in ("/pixel/{event_type}/{source_id}", "/pixel/{event_type}/{source_id}/{session_id}")),
    ]
    add_tracking_routes(app)  # POST /v1/{track,identify,page,screen,group,alias,batch} and short forms

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = document(get_openapi(title=app.title, version=app.version,
                                                      description=app.description, routes=app.routes))
        return app.openapi_schema

    app.openapi = openapi

    @app.get("/healthz", tags=["server"])
    async def healthz() -> dict:
        return {"ok": True}

    @app.get("/status", tags=["server"])
    async def status() -> dict:
        """Every source: bridge, enabled, counts, schedule, last sync (time, outcome, counts, error), next sync; and
        the store's intake: acknowledged batches not yet in DuckDB, its last error, spool damage, quarantined rows,
        damaged spool segments kept aside, refusals that could not be recorded; with `lake:`, the lake's lag (events
        the store holds that the lake does not yet, how long the oldest has waited) and its last export and error."""
        lake = {"lake": await state.lake.status()} if state.lake is not None else {}
        return {"sources": await state.status(), "store": await state.store_health(), **lake}

    add_console(app, state.config.server.admin_token)  # `/`, /sources, /profiles; the admin token's guard
    add_metrics(app, state)  # GET /metrics (Prometheus)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        reason = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, reason, str(exc.detail), exc.headers)  # a 405's Allow, RFC 9110

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


async def _reload(state: InletState) -> None:
    """SIGHUP: read the config again; a config with problems is logged and changes nothing."""
    try:
        await state.reload()
    except ConfigError as exc:
        log.error("config reload refused, nothing changed:\n%s", "\n".join(str(p) for p in exc.problems))
    except Exception:
        log.exception("config reload failed, nothing changed")


async def _last_success(state: InletState, source_id: str, object_types: list[str]) -> datetime | None:
    """When every one of `object_types` of the source last finished a successful sync (None if one never did)."""
    def read(con) -> datetime | None:
        rows = con.execute("""SELECT object_type, max(finished_at) FROM sync_runs
                              WHERE source_id = ? AND status = 'succeeded' AND list_contains(?, object_type)
                              GROUP BY object_type""", [source_id, object_types]).fetchall()
        found = {t: at for t, at in rows}
        return None if any(found.get(t) is None for t in object_types) else min(found.values())

    return await state.writer.run(read)


async def _snapshots(state: InletState) -> None:
    snap = state.config.store.snapshot
    while True:
        await asyncio.sleep(snap.every.total_seconds())
        try:
            await state.snapshot(snap.path)
            log.info("snapshot written to %s", snap.path)
        except Exception as exc:  # a failed snapshot must not stop the server; the next one may succeed
            log.error("snapshot to %s failed: %s", snap.path, exc)
