"""How `inlet sync` runs a sync: inside a running `inlet serve` (through its control socket, since only
that process may write the store), or here, holding the store for the time of the sync. In the second case
this process answers the control socket too, so `inlet sql` and `inlet status` keep working meanwhile, and
another `inlet sync` runs its sync here as well (this process ends when the last of them has)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from engine import tuning
from engine.config import Config
from engine.server.boot import build_state
from engine.server.control import ControlServer, ask, socket_answers, socket_path
from engine.store.database import tune_for_sync_only
from engine.sync.service import SyncRefused, result_dict

OnProgress = Callable[[dict], None]


class SyncFailed(Exception):
    """The sync could not run at all (refused, the store unavailable, the server gone)."""


def run(config: Config, source_id: str, object_name: str | None, full_refresh: bool,
        on_progress: OnProgress) -> dict[str, Any]:
    """The sync's result (see `result_dict`), or {"skipped": reason}. Progress messages go to `on_progress`."""
    sock = socket_path(config.store.path)
    request = {"op": "sync", "source_id": source_id, "object": object_name, "full_refresh": full_refresh}
    if sock.exists() and socket_answers(sock):
        return _through_server(sock, request, on_progress)
    return asyncio.run(_here(config, request, on_progress))


def _through_server(sock, request: dict, on_progress: OnProgress) -> dict[str, Any]:
    for message in ask(sock, request):
        if "progress" in message:
            on_progress(message["progress"])
        elif "error" in message:
            raise SyncFailed(message["error"])
        else:
            return message.get("result") or message
    raise SyncFailed("the inlet server closed the connection before the sync ended; it may still be running "
                     "there (see sync_runs)")


async def _here(config: Config, request: dict, on_progress: OnProgress) -> dict[str, Any]:
    tuning.for_sync()
    state = build_state(config)
    tune_for_sync_only(state.con)  # one DuckDB thread, smaller checkpoints: less memory, no slower
    try:
        state.writer.start(asyncio.get_running_loop())
        await state.syncs.sender.release_unsent()
        control = ControlServer(state, socket_path(config.store.path), role="sync")
        await control.start()
        try:
            def progress(name: str, counts, done: bool) -> None:
                on_progress({"object": name, "read": counts.read, "changed": counts.changed, "done": done})

            try:
                result = await state.syncs.sync(request["source_id"], object_name=request["object"],
                                                full_refresh=request["full_refresh"], progress=progress)
            except SyncRefused as exc:
                raise SyncFailed(str(exc)) from None
            await state.syncs.wait_idle()  # syncs other `inlet sync` commands asked this process to run
            return result_dict(result)
        finally:
            await control.stop()
    finally:
        state.writer.stop()
        state.con.close()
