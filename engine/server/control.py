"""The control socket: how `inlet sql`, `inlet status` and `inlet snapshot` reach a running server.

DuckDB lets only the server's process open the live file, so other processes ask the server instead. The
socket is a Unix socket beside the store, readable by its owner only: whoever may read the store file may
query through it, nobody else. The protocol is JSON lines: one request, then answer lines.

    {"op": "ping"}                         -> {"ok": true, "pid": 123, "role": "serve"}   (or "sync")
    {"op": "sql", "query": "SELECT 1"}     -> {"columns": [...], "types": [...]}, {"rows": [...]}..., {"end": true}
    {"op": "snapshot", "path": "/x.duckdb"} -> {"ok": true, "path": "/x.duckdb"}
    {"op": "sync", "source_id": "billing", "object": null, "full_refresh": false}
    {"op": "status"}                       -> {"rows": [...]}    (what `inlet status` shows, with next runs)
    {"op": "health"}                       -> {"store": {...}}   (spool backlog, damage, quarantine)
    {"op": "reload"}                       -> {"ok": true, "added": [...], ...} or {"error": ..., "problems": [...]}
    {"op": "mappings", "source_id": "crm", "object": "contacts", "limit": 5, "apply": false} -> {"result": ...}
    {"op": "lake_export"}                  -> {"result": {"events": ..., "watermark": ..., ...}}   (one export now)
    {"op": "lake_status"}                  -> {"lake": {...}}    (the lake's lag, last export and error)
                                           -> {"progress": {...}}..., {"result": {...}} (or {"skipped": "..."})
Any step may answer {"error": "..."} instead, and that ends the answer.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import orjson

from engine.config import ConfigError
from engine.control_socket import ask, describe_owner, socket_answers, socket_owner, socket_path
from engine.output import jsonable_rows
from engine.profiles.command import RolledBack, job
from engine.profiles.preview import MappingsRefused
from engine.server.state import InletState
from engine.store import StoreBehind, store_cursor
from engine.store.reader import QueryError, run_query
from engine.sync.service import SyncRefused, result_dict

log = logging.getLogger("inlet.control")

__all__ = ["ControlServer", "ask", "describe_owner", "socket_answers", "socket_owner", "socket_path"]


class ControlServer:
    def __init__(self, state: InletState, path: Path, role: str = "serve"):
        self.state, self.path, self.role = state, path, role
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        if self.path.exists():
            if socket_answers(self.path):
                raise RuntimeError(f"another inlet serve answers on {self.path}")
            self.path.unlink()  # left by a server that died
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._handle, path=str(self.path), limit=16 * 1024 * 1024)
        finally:
            os.umask(old)

    async def stop(self) -> None:
        if self._server:
            self._server.close()
            await self._server.wait_closed()
        self.path.unlink(missing_ok=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            request = orjson.loads(line)
            op = request.get("op")
            if op == "ping":
                await _send(writer, {"ok": True, "pid": os.getpid(), "role": self.role})
            elif op == "sql":
                await self._sql(writer, str(request.get("query", "")))
            elif op == "sync":
                await self._sync(writer, request)
            elif op == "snapshot":
                path = await self.state.snapshot(Path(request["path"]))
                await _send(writer, {"ok": True, "path": str(path)})
            elif op == "status":
                await _send(writer, {"rows": await self.state.status()})
            elif op == "health":
                await _send(writer, {"store": await self.state.store_health()})
            elif op == "reload":
                await self._reload(writer)
            elif op == "mappings":
                await self._mappings(writer, request)
            elif op in ("lake_export", "lake_status"):
                await self._lake(writer, op)
            else:
                await _send(writer, {"error": f"unknown control operation {op!r}"})
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception as exc:  # answer the CLI with the reason instead of dropping the connection
            log.warning("control request failed: %s", exc)
            try:
                await _send(writer, {"error": str(exc)})
            except ConnectionError:
                pass
        finally:
            writer.close()

    async def _sql(self, writer: asyncio.StreamWriter, sql: str) -> None:
        try:
            await self.state.writer.flush()  # the answer includes everything acknowledged so far
        except StoreBehind as exc:
            await _send(writer, {"error": str(exc)})
            return
        cur = store_cursor(self.state.con)
        query = None
        try:
            query = await asyncio.to_thread(run_query, cur, sql, in_transaction=True)
            await _send(writer, {"columns": query.columns, "types": query.types})
            while (rows := await asyncio.to_thread(next, query.chunks, None)) is not None:
                await _send(writer, {"rows": jsonable_rows(rows, query.types)})
            await _send(writer, {"end": True})
        except QueryError as exc:
            await _send(writer, {"error": str(exc)})
        finally:
            if query is not None:
                query.chunks.close()  # ends the read-only transaction if the client went away mid-way
            cur.close()


    async def _sync(self, writer: asyncio.StreamWriter, request: dict) -> None:
        """Run a sync in this process and stream its progress. A client that goes away does not stop it."""
        gone = False

        def progress(name: str, counts, done: bool) -> None:
            nonlocal gone
            if gone:
                return
            try:
                writer.write(orjson.dumps({"progress": {"object": name, "read": counts.read,
                                                        "changed": counts.changed, "done": done}}) + b"\n")
            except (ConnectionError, RuntimeError):
                gone = True

        try:
            result = await self.state.syncs.sync(str(request.get("source_id")), object_name=request.get("object"),
                                                 full_refresh=bool(request.get("full_refresh")), progress=progress)
        except SyncRefused as exc:
            await _send(writer, {"error": str(exc)})
            return
        if result is None:
            await _send(writer, {"skipped": "a sync of this source is already running in the server; "
                                            "this one was skipped (see sync_runs)"})
        else:
            await _send(writer, {"result": result_dict(result)})


    async def _mappings(self, writer: asyncio.StreamWriter, request: dict) -> None:
        """`inlet mappings preview|apply`, as a job of the store writer (a preview's is rolled back)."""
        try:
            result = await self.state.writer.run(job(self.state.config, request))
        except RolledBack as done:
            result = done.result
        except MappingsRefused as exc:
            await _send(writer, {"error": str(exc)})
            return
        await _send(writer, {"result": result})

    async def _lake(self, writer: asyncio.StreamWriter, op: str) -> None:
        """`inlet lake export` (one export now, after any in progress) and the lake's lag for `inlet status`."""
        lake = self.state.lake
        if lake is None and self.role != "serve":
            await _send(writer, {"error": f"`inlet {self.role}` holds the store for now; try again when it ends"})
        elif lake is None:
            await _send(writer, {"error": "the running server's config has no `lake:` (add it and restart)"})
        elif op == "lake_status":
            await _send(writer, {"lake": await lake.status()})
        else:
            await _send(writer, {"result": await lake.export_now()})

    async def _reload(self, writer: asyncio.StreamWriter) -> None:
        if self.role != "serve":
            await _send(writer, {"error": "only `inlet serve` reloads its config; this process runs `inlet sync`"})
            return
        try:
            await _send(writer, await self.state.reload())
        except ConfigError as exc:
            await _send(writer, {"error": "the config has problems; nothing was changed",
                                 "problems": [str(p) for p in exc.problems]})


async def _send(writer: asyncio.StreamWriter, message: dict) -> None:
    writer.write(orjson.dumps(message) + b"\n")
    await writer.drain()
