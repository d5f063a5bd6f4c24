"""A push source's ingestion policy (engine/policy/), as the routes apply it.

- The rate limit, before anything is stored: `charge` takes a request's events from the source's token bucket or
  raises `Throttled`, answered by `throttled` with 429 `rate_limited` and Retry-After; the refusal is counted in
  the source's row for that second (engine/policy/rollup.py), not written on its own. The redirect links and the
  pixel answer as usual over the limit and store nothing (`admitted`).
- The event schemas: `checked` gives the context an event keeps (its `schema_violations` in warn mode), or raises
  a 400 `schema_violation` (or `unknown_event_type`) Refusal with the first violations in enforce mode.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from engine import metrics
from engine.jsonio import dumps
from engine.policy.bucket import retry_after
from engine.server.refusals import Refusal, error_response
from engine.server.state import InletState


class Throttled(Refusal):
    def __init__(self, source_id: str, wait: float):
        self.retry_after = retry_after(wait)
        super().__init__(429, "rate_limited", f"source {source_id!r} is over its rate limit; send again in "
                         f"{self.retry_after} s")


def charge(state: InletState, source_id: str, cost: int = 1) -> None:
    """Take `cost` events from the source's bucket, or raise Throttled (nothing taken)."""
    policy = state.policy.of(source_id)
    if policy is not None and policy.bucket is not None and (wait := policy.bucket.take(cost)):
        raise Throttled(source_id, wait)


def check_room(state: InletState, source_id: str) -> None:
    """Raise Throttled when not even one event of the source could pass now (a request is refused before its
    body is read); takes nothing."""
    policy = state.policy.of(source_id)
    if policy is not None and policy.bucket is not None and (wait := policy.bucket.wait(1)):
        raise Throttled(source_id, wait)


async def throttled(state: InletState, request: Request, refusal: Throttled, source_id: str) -> Response:
    """The 429 answer; the refusal is counted in the source's rejections row of this second."""
    note_throttled(state, request, refusal, source_id)
    return error_response(429, refusal.reason, refusal.message, {"Retry-After": str(refusal.retry_after)})


def note_throttled(state: InletState, request: Request, refusal: Throttled, source_id: str) -> None:
    announced = request.headers.get("content-length", "")
    size = refusal.size if refusal.size is not None else int(announced) if announced.isdigit() else 0
    client = request.scope.get("client")
    context = {"ip": client[0] if client else None, "user_agent": request.headers.get("user-agent"),
               "retry_after": refusal.retry_after}
    state.policy.counts[source_id, "throttled"] += 1
    metrics.refused(source_id, refusal.reason)  # one by one, though its rejections row counts a second's worth
    state.policy.rollup.add(source_id, refusal.status, refusal.reason, request.method, request.url.path, size,
                            dumps(context))


def admitted(state: InletState, request: Request, source_id: str) -> bool:
    """For the routes that answer the same either way (a redirect, the pixel): True when the source's limit lets
    one event in (taken); else the refusal is counted and False."""
    try:
        charge(state, source_id)
    except Throttled as refusal:
        note_throttled(state, request, refusal, source_id)
        return False
    return True


def checked(state: InletState, source_id: str, event_type: str, properties) -> dict | None:
    """What the event's context keeps of its schema check: None when it matches (or the source has no schemas),
    `{"schema_violations": [...]}` in warn mode; raises Refusal(400) in enforce mode."""
    policy = state.policy.of(source_id)
    if policy is None or policy.schemas is None:
        return None
    verdict = policy.schemas.check(event_type, properties)
    if verdict is None:
        return None
    if verdict.refuse:
        state.policy.counts[source_id, "refused"] += 1
        raise Refusal(400, verdict.reason, verdict.message, details={"violations": verdict.violations})
    state.policy.counts[source_id, "warned"] += 1
    return {"schema_violations": verdict.violations}
