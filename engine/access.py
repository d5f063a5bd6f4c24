"""How the CLI reaches the store: through a running server's control socket, or straight from the file
read-only when no server holds it. Callers see the same rows either way."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from engine.config import Config
from engine.output import jsonable_rows
from engine.server.control import ask, socket_answers, socket_path
from engine.store import StoreError, StoreLockedError, open_store, spool_dir, store_cursor
from engine.store.frames import Damage
from engine.store.ingest import committed_seq
from engine.store.reader import QueryError, run_query
from engine.store.snapshot import write_snapshot
from engine.store.spool import health as spool_health
from engine.store.spool import scan_spool

WAIT_FOR_SERVER = 15.0  # seconds to wait while a server that holds the file starts or stops


class StoreAccess:
    """Opened with `StoreAccess.open(config)`; `query()` and `snapshot()` work the same either way."""

    behind = False  # True when the file lacks acknowledged events still in a stopped server's spool

    @staticmethod
    def open(config: Config, *, external_access: bool = True) -> StoreAccess:
        """`external_access=False`: without a server, the file's connection can read nothing else (for queries;
        a snapshot needs it, to write its file)."""
        path = config.store.path
        sock = socket_path(path)
        deadline = time.monotonic() + WAIT_FOR_SERVER
        while True:
            if sock.exists() and socket_answers(sock):
                return _ServerAccess(sock)
            try:
                return _FileAccess(path, external_access)
            except StoreLockedError:
                if time.monotonic() > deadline:
                    raise StoreLockedError(
                        f"the store {path} is held by another process, and no inlet server answers on {sock}"
                    ) from None
                time.sleep(0.2)

    def query(self, sql: str) -> tuple[list[str], list[str], Iterator[list[list]]]:
        raise NotImplementedError

    def snapshot(self, target: Path) -> Path:
        raise NotImplementedError

    def status(self) -> list[dict] | None:
        """The running server's own status rows (with its scheduler's next runs); None without a server."""
        return None

    def health(self) -> dict:
        """The store's intake: spool backlog, damage and quarantine (see StoreWriter.health)."""
        return {}

    def lake_status(self) -> dict | None:
        """The running server's view of the lake (engine/lake/service.py); None without a server."""
        return None

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _FileAccess(StoreAccess):
    def __init__(self, path: Path, external_access: bool = True):
        self.path = path
        self.con = open_store(path, read_only=True, external_access=external_access)
        # a server that was killed may have acknowledged events it had not yet moved into the file
        committed = committed_seq(self.con)
        self._pending, self._damage = 0, []
        for item in scan_spool(spool_dir(path)):  # one read of the spool for `behind` and `health`
            if isinstance(item, Damage):
                self._damage.append(item)
            elif item[1] > committed:
                self._pending += 1
        self.behind = self._pending > 0

    def query(self, sql):
        q = run_query(store_cursor(self.con), sql, in_transaction=False)
        return q.columns, q.types, (jsonable_rows(rows, q.types) for rows in q.chunks)

    def snapshot(self, target: Path) -> Path:
        return write_snapshot(self.con, self.path, target)

    def health(self) -> dict:
        return {"spool_pending_batches": self._pending,
                "spool_damage": [f"{d.length} damaged bytes at offset {d.offset} of spool segment {d.segment}"
                                 for d in self._damage], **spool_health(spool_dir(self.path))}

    def close(self) -> None:
        self.con.close()


class _ServerAccess(StoreAccess):
    def __init__(self, sock: Path):
        self.sock = sock

    def _request(self, message: dict) -> Iterator[dict]:
        for answer in ask(self.sock, message):
            if "error" in answer:
                raise QueryError(answer["error"])
            yield answer

    def status(self) -> list[dict] | None:
        for answer in self._request({"op": "status"}):
            return answer["rows"]
        raise StoreError("the inlet server closed the connection before answering")

    def health(self) -> dict:
        for answer in self._request({"op": "health"}):
            return answer["store"]
        raise StoreError("the inlet server closed the connection before answering")

    def lake_status(self) -> dict | None:
        for answer in self._request({"op": "lake_status"}):
            return answer["lake"]
        raise StoreError("the inlet server closed the connection before answering")

    def query(self, sql):
        answers = self._request({"op": "sql", "query": sql})
        head = next(answers, None)
        if head is None:
            raise StoreError("the inlet server closed the connection before answering")

        def chunks():
            for answer in answers:
                if answer.get("end"):
                    return
                yield answer["rows"]
            raise StoreError("the inlet server stopped before the whole result was sent")

        return head["columns"], head["types"], chunks()

    def snapshot(self, target: Path) -> Path:
        answer = next(self._request({"op": "snapshot", "path": str(Path(target).absolute())}))
        return Path(answer["path"])
