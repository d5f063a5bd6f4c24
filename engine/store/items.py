"""What the store writer takes (an event, a refused request) and what it answers (where an event was stored),
and how it says it cannot take more."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class EventIn:
    """An event ready to store: built and validated by the caller, profile resolved here."""

    event_id: str
    source_id: str
    event_type: str
    occurred_us: int
    received_us: int
    session_id: str | None
    properties: str  # JSON text
    context: str  # JSON text
    idempotency_key: str | None = None
    user_id: str | None = None  # a tracking SDK's userId: ties the event (and its new session) to the user's profile
    previous_id: str | None = None  # an alias's previousId: the user id (or session id) the user went by before


@dataclass(slots=True, frozen=True)
class Stored:
    event_id: str
    source_id: str
    event_type: str
    profile_id: str | None
    session_id: str | None
    replayed: bool = False  # True when an idempotency key matched an event stored before


@dataclass(slots=True)
class RejectionIn:
    source_id: str | None
    received_us: int
    method: str
    path: str
    status: int
    reason: str
    size: int
    excerpt: str
    context: str  # JSON text
    count: int = 1  # the refused requests this row stands for (floods are counted per source, reason and second)


class StoreUnavailable(Exception):
    """The batch could not be made durable (disk full, I/O error): a 503, nothing is acknowledged."""


class StoreBehind(Exception):
    """The store has not taken in everything acknowledged within the time asked (it keeps trying)."""
