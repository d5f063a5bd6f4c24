"""Fault injection for writes, shared by the three emulators, for tests that run a sandbox in-process:

    sb.fail_writes(2, status=503)      # the next 2 write requests answer 503 with the vendor's error body
    sb.writes_received                 # write requests received so far, failed ones included
    sb.write_log[-1]                   # the last one: method, path, body bytes, Idempotency-Key

What a "write request" is, and the body a failure carries, is each vendor app's business (its `faults` module);
this holds the queue and the counts. The test thread arms faults while the server thread serves, hence the lock.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import NamedTuple

LOG_SIZE = 1000  # write requests remembered


class Fault(NamedTuple):
    status: int
    code: str | None  # a vendor-specific variant (Stripe lock_timeout, Shopify in-band INTERNAL_SERVER_ERROR)


class WriteRequest(NamedTuple):
    method: str
    path: str
    body: bytes
    idempotency_key: str | None


class FaultyWrites:
    """Mixin for an emulator's state object. State is created on first use, so no `__init__` changes."""

    _faults_state: tuple[threading.Lock, deque[Fault], deque[WriteRequest], list[int]]

    def _faults(self) -> tuple[threading.Lock, deque[Fault], deque[WriteRequest], list[int]]:
        state = self.__dict__.get("_faults_state")
        if state is None:
            state = self.__dict__.setdefault("_faults_state",
                                             (threading.Lock(), deque(), deque(maxlen=LOG_SIZE), [0]))
        return state

    def fail_writes(self, count: int, status: int = 503, code: str | None = None) -> None:
        """Make the next `count` write requests fail with `status` (and the vendor's body for it); `code`
        picks a vendor-specific variant where the vendor has several ways to fail."""
        lock, pending, _, _ = self._faults()
        with lock:
            pending.extend([Fault(status, code)] * count)

    def clear_write_faults(self) -> None:
        lock, pending, _, _ = self._faults()
        with lock:
            pending.clear()

    @property
    def writes_received(self) -> int:
        return self._faults()[3][0]

    @property
    def write_log(self) -> list[WriteRequest]:
        lock, _, log, _ = self._faults()
        with lock:
            return list(log)

    def receive_write(self, request: WriteRequest) -> Fault | None:
        """Count a write request (the apps call this) and return the fault it is to meet, if any."""
        lock, pending, log, count = self._faults()
        with lock:
            count[0] += 1
            log.append(request)
            return pending.popleft() if pending else None
