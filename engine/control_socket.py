"""The client side of the control socket (engine/server/control.py): where it is, who answers on it, and asking
it. Kept apart from the server, so that the commands that only ask (`inlet sql`, `inlet mappings` ...) do not import
the server."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import orjson

_MAX_UNIX_PATH = 100


def socket_path(store_path: Path) -> Path:
    """`<store>.sock`, or a name under the temp dir when that path is too long for a Unix socket."""
    path = Path(store_path).absolute()
    candidate = Path(f"{path}.sock")
    if len(str(candidate)) <= _MAX_UNIX_PATH:
        return candidate
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    return Path(os.environ.get("TMPDIR", "/tmp")) / f"inlet-{digest}.sock"


def socket_owner(path: Path) -> dict | None:
    """Who answers on the control socket ({"pid": ..., "role": "serve", "sync" or "lake"}), or None."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        try:
            s.connect(str(path))
            s.sendall(b'{"op":"ping"}\n')
            answer = orjson.loads(s.makefile("rb").readline())
        except (OSError, orjson.JSONDecodeError):
            return None
    return answer if isinstance(answer, dict) and answer.get("ok") else None


def ask(path: Path, message: dict) -> Iterator[dict]:
    """Send one request to the control socket at `path` and yield its answer lines, decoded. A server that
    stops mid-answer closes the socket: the lines then end early."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(str(path))
        s.sendall(orjson.dumps(message) + b"\n")
        with s.makefile("rb") as answers:
            for line in answers:
                yield orjson.loads(line)


def socket_answers(path: Path) -> bool:
    return socket_owner(path) is not None


def describe_owner(owner: dict) -> str:
    if owner.get("role") == "lake":
        return f"`inlet lake export` (pid {owner.get('pid')}) holds the store for the time of its export"
    if owner.get("role") == "sync":
        return f"`inlet sync` (pid {owner.get('pid')}) holds the store for the time of its sync"
    return f"an inlet server (pid {owner.get('pid')}) is already running on the store"
