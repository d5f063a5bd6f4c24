"""Running `inlet mappings preview|apply`: in the running `inlet serve` (through its control socket, since only
it may write the store), or here on the store file when no server holds it."""

from __future__ import annotations

from functools import partial
from typing import Any

from engine.config import Config, PullSource
from engine.control_socket import ask, socket_answers, socket_path
from engine.profiles.preview import MappingsRefused, apply_all, preview
from engine.profiles.registry import Registry
from engine.store.database import open_store
from engine.sync.service import object_types


class RolledBack(Exception):
    """Raised at the end of a preview's job so the store writer rolls its transaction back."""

    def __init__(self, result: Any):
        super().__init__("preview")
        self.result = result


def target(config: Config, source_id: str, object_name: str) -> tuple[str, str]:
    """(source id, object type) for a pull source's plural object name; MappingsRefused otherwise."""
    source = config.source(source_id)
    if not isinstance(source, PullSource):
        what = "no source" if source is None else f"a {source.bridge} source (its events map as they arrive),"
        raise MappingsRefused(f"{source_id!r} is {what} not a cloud-app source with stored records")
    if object_name not in source.object_names:
        raise MappingsRefused(f"source {source_id!r} does not sync {object_name!r}; its objects: "
                              f"{', '.join(source.object_names)}")
    return source_id, object_types(source, [object_name])[0]


def job(config: Config, request: dict):
    """The store job for a request: preview raises RolledBack with its result; apply returns its totals."""
    source_id, object_type = target(config, request["source_id"], request["object"])
    registry = Registry.of(config)
    if request.get("apply"):
        return partial(apply_all, registry=registry, source_id=source_id, object_type=object_type)

    def run(con):
        raise RolledBack(preview(con, registry, source_id, object_type, int(request.get("limit") or 5)))

    return run


def run_here(config: Config, request: dict) -> Any:
    fn = job(config, request)
    con = open_store(config.store.path, memory_limit=config.store.memory_limit)
    try:
        con.execute("BEGIN")
        try:
            result = fn(con)
        except RolledBack as done:
            con.execute("ROLLBACK")
            return done.result
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        return result
    finally:
        con.close()


def run(config: Config, request: dict) -> Any:
    sock = socket_path(config.store.path)
    if sock.exists() and socket_answers(sock):
        answer = next(ask(sock, {"op": "mappings", **request}), None)
        if answer is None:
            raise MappingsRefused("the server closed the connection before answering")
        if "error" in answer:
            raise MappingsRefused(answer["error"])
        return answer["result"]
    return run_here(config, request)
