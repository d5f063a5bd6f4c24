"""Refusing a request: a 4xx with a JSON body that says what was wrong, and a row in `rejections`.

The refusal is answered with its own status even when its row cannot be stored (a full disk): the row is
counted as lost (InletState.rejections_lost, in the server's counters) and logged, at most once a minute."""

from __future__ import annotations

import time

import orjson
from starlette.requests import Request
from starlette.responses import Response

from engine import metrics
from engine.jsonio import dumps
from engine.store import RejectionIn, StoreUnavailable, StoreWriter

EXCERPT_BYTES = 256


class Refusal(Exception):
    def __init__(self, status: int, reason: str, message: str, *, size: int | None = None,
                 details: dict | None = None):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.size = size
        self.details = details  # more keys of the JSON answer (a schema refusal's `violations`)


def error_response(status: int, reason: str, message: str, headers: dict | None = None,
                   details: dict | None = None) -> Response:
    body = orjson.dumps({"error": reason, "message": message, "status": status, **(details or {})})
    return Response(body, status_code=status, media_type="application/json", headers=headers)


async def refuse(
    writer: StoreWriter, request: Request, refusal: Refusal, source_id: str | None, body: bytes
) -> Response:
    """Record the refusal, then answer it in JSON. The row is durable before the answer goes out."""
    await record_refusal(writer, request, refusal, source_id, body)
    return error_response(refusal.status, refusal.reason, refusal.message, details=refusal.details)


async def record_refusal(
    writer: StoreWriter, request: Request, refusal: Refusal, source_id: str | None, body: bytes = b""
) -> None:
    """A `rejections` row for a refused request (routes that answer in their own way call this directly); a
    row the store cannot take is counted and logged, and the refusal is answered all the same."""
    headers = request.headers
    size = refusal.size if refusal.size is not None else len(body)
    context = {
        "ip": request.client.host if request.client else None,
        "user_agent": headers.get("user-agent"),
        "content_type": headers.get("content-type"),
        **(refusal.details or {}),
    }
    metrics.refused(metrics.source_label(request.app.state.inlet.config, source_id), refusal.reason)
    row = RejectionIn(
        source_id=source_id[:128] if source_id else None,
        received_us=time.time_ns() // 1000,
        method=request.method,
        path=request.url.path[:2048],
        status=refusal.status,
        reason=refusal.reason,
        size=size,
        excerpt=body[:EXCERPT_BYTES].decode("utf-8", errors="replace"),
        context=dumps(context),
    )
    try:
        await writer.write(row)
    except StoreUnavailable as exc:
        request.app.state.inlet.rejections_lost.add(exc, refusal.status, refusal.reason)
