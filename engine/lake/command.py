"""`inlet lake export`: one export now, inside the running `inlet serve` (through its control socket, after any
export it is doing), or here, holding the store for the time of the export (the spool of a stopped server is taken
in first, so the lake gets every acknowledged event). Here, this process answers the control socket meanwhile, so
`inlet sql` and `inlet status` keep working."""

from __future__ import annotations

import asyncio

from engine.config import Config
from engine.lake.catalog import LakeError
from engine.lake.service import LakeService
from engine.server.boot import build_state
from engine.server.control import ControlServer, ask, socket_answers, socket_path


def export_once(config: Config) -> dict:
    """What the export sent (Exported.as_dict). Raises LakeError, or StoreError when the store cannot be held."""
    if config.lake is None:
        raise LakeError("lake: the config has no `lake:` section (catalog, warehouse, ...): see README, The lake")
    sock = socket_path(config.store.path)
    if sock.exists() and socket_answers(sock):
        for answer in ask(sock, {"op": "lake_export"}):
            if "error" in answer:
                raise LakeError(answer["error"])
            return answer["result"]
        raise LakeError("the inlet server closed the connection before the export ended; it may have landed "
                        "(the next export takes up from the lake's watermark either way)")
    return asyncio.run(_here(config))


async def _here(config: Config) -> dict:
    state = build_state(config)
    try:
        state.writer.start(asyncio.get_running_loop())
        control = ControlServer(state, socket_path(config.store.path), role="lake")
        await control.start()
        try:
            state.lake = LakeService(config.lake, state.con, state.writer)
            try:
                return await state.lake.export_now()
            finally:
                await state.lake.stop(30)
        finally:
            await control.stop()
    finally:
        state.writer.stop()
        state.con.close()


def summary(result: dict) -> str:
    """One line for people: what went to the lake."""
    upserted = ", ".join(f"{n} {t}" for t, n in result["upserted"].items()) or "none"
    deleted = ", ".join(f"{n} {t}" for t, n in result["deleted"].items())
    return (f"exported {result['events']} events (the node's watermark is now {result['watermark']}); rows "
            f"replaced: {upserted}" + (f"; deleted: {deleted}" if deleted else "")
            + (f"; {result['conflicts']} commits retried after other nodes'" if result["conflicts"] else ""))
