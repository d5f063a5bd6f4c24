"""inlet's logs: text lines (the default) or one JSON object per line (`inlet serve --log-format json`, or
`logging: {format: json}` in the config), uvicorn's own lines included.

A JSON line holds `time` (UTC, ISO 8601, milliseconds), `level`, `logger` and `message`, then the context known
where it was logged: `source_id`, `run_id` and `object` inside a sync (bound by the sync runner), `source_id` while
write-backs are sent, `request_id` while a request is served (its `X-Request-Id` header when it has a sane one, else
one made up the first time a line of that request needs it), and `exception` with the traceback. uvicorn's access
lines (`logging.access: true`) add `http`: client, method, path, version and status.

The context lives in context variables: a task started inside a sync inherits it, and concurrent requests and syncs
never see each other's.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

from connectors.kit.ids import new_id

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONTEXT_KEYS = ("source_id", "run_id", "object", "request_id")
REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")  # what is kept of a caller's X-Request-Id
_SCOPE_KEY = "inlet.request_id"  # where a request's id is kept in its ASGI scope once made

_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("inlet_log_context", default=None)
_scope: contextvars.ContextVar[dict | None] = contextvars.ContextVar("inlet_log_request", default=None)


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Lines logged inside (in this task, and in tasks it starts) carry `fields` (None values are left out)."""
    token = _context.set({**(_context.get() or {}), **{k: str(v) for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def context() -> dict[str, str]:
    """The context a line logged here and now carries."""
    fields = dict(_context.get() or {})
    scope = _scope.get()
    if scope is not None:
        fields["request_id"] = request_id(scope)
    return fields


def request_id(scope: dict) -> str:
    """The request's id: its `X-Request-Id` when that is 1-128 plain characters, else a new one; the same for every
    line of the request."""
    found = scope.get(_SCOPE_KEY)
    if found is None:
        given = next((v for k, v in scope.get("headers", ()) if k == b"x-request-id"), b"").decode("latin-1")
        found = scope[_SCOPE_KEY] = given if REQUEST_ID.fullmatch(given) else new_id()
    return found


def with_request_context(app):
    """`app` (ASGI) with each request's scope in the log context, so its lines (uvicorn's access line too) carry
    its `request_id`. One context variable set per request; the id itself is made only if a line asks for it."""

    async def traced(scope, receive, send):
        if scope["type"] == "http":
            _scope.set(scope)  # each request runs in a task of its own: nothing to reset
        return await app(scope, receive, send)

    return traced


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00",
                                                                                                          "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(context())
        for key in CONTEXT_KEYS:  # given with `extra=` on the call: wins over the context
            value = record.__dict__.get(key)
            if value is not None:
                entry[key] = str(value)
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, version, status = record.args
            entry["http"] = {"client": client, "method": method, "path": path, "version": version, "status": status}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


def formatter(fmt: str) -> logging.Formatter:
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    return JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)


def setup(fmt: str, level: str, stream=None) -> None:
    """Send the process's log lines (at `level` and above) to `stream` (stderr) in format `fmt`."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
