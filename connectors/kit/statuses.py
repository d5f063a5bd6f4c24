"""What to do with an HTTP response: one status table, `Retry-After`, and a vendor's own signals.

The table gives the default; `Retry-After` (seconds such as Shopify's `2.0`, or an HTTP date) sets the wait of any
retriable answer. What only one vendor sends (Stripe's `Stripe-Should-Retry` and error codes, HubSpot's 429
policies, 423 and 477) lives in that vendor's package (`connectors/<vendor>/statuses.py`) and is consulted first:
its connector hands it to its `SourceClient`. Shopify GraphQL THROTTLED arrives as HTTP 200 and is left to the
GraphQL-aware connector, which reads the cost extensions that say how long to wait.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

import httpx

from connectors.kit.errors import (
    ConnectorError,
    CredentialsRefused,
    RateLimited,
    RequestRejected,
    TransientError,
)

__all__ = ["STATUS_TABLE", "Action", "Decision", "Signals", "body_of", "classify", "decide", "number",
           "parse_retry_after"]


class Action(StrEnum):
    OK = "ok"
    RETRY = "retry"
    RATE_LIMITED = "rate_limited"
    FAIL_CONFIG = "fail_config"
    FAIL = "fail"


# status -> (action, default wait in seconds). Statuses not listed: 2xx/3xx ok, other 4xx fail, 5xx retry.
STATUS_TABLE: dict[int, tuple[Action, float | None]] = {
    401: (Action.FAIL_CONFIG, None),  # bad or expired credentials
    403: (Action.FAIL_CONFIG, None),  # a key without permission
    408: (Action.RETRY, None),  # request timeout
    425: (Action.RETRY, None),  # too early
    429: (Action.RATE_LIMITED, None),
    500: (Action.RETRY, None),
    502: (Action.RETRY, None),
    503: (Action.RETRY, None),
    504: (Action.RETRY, None),
}


@dataclass(frozen=True, slots=True)
class Decision:
    """`wait_seconds` is the vendor's wait when it told us one (else None: the retry policy backs off);
    `error` is the class to raise when the answer is not OK or retries run out."""

    action: Action
    wait_seconds: float | None
    reason: str
    error: type[ConnectorError] | None = None


_ERRORS: dict[Action, type[ConnectorError] | None] = {
    Action.OK: None, Action.RETRY: TransientError, Action.RATE_LIMITED: RateLimited,
    Action.FAIL_CONFIG: CredentialsRefused, Action.FAIL: RequestRejected,
}


def decide(action: Action, wait: float | None, reason: str, error: type[ConnectorError] | None = None) -> Decision:
    return Decision(action, wait, reason, error or _ERRORS[action])


Signals = Callable[[httpx.Response, Action, "float | None", "float | None"], "Decision | None"]  # see classify


def classify(response: httpx.Response, signals: Signals | None = None,
             now: Callable[[], float] = time.time) -> Decision:
    """Decide from status and headers; a vendor's `signals(response, action, table_wait, retry_after)` (its spec's
    connector passes them to its client) may decide first from what only that vendor sends. `now` resolves
    HTTP-date Retry-After."""
    status = response.status_code
    if status < 400:
        return decide(Action.OK, None, "success")
    action, wait = STATUS_TABLE.get(status, (Action.RETRY if status >= 500 else Action.FAIL, None))
    header_wait = parse_retry_after(response.headers.get("retry-after"), now)
    if signals is not None and (vendor := signals(response, action, wait, header_wait)) is not None:
        return vendor
    if action in (Action.RETRY, Action.RATE_LIMITED):
        return decide(action, header_wait if header_wait is not None else wait, f"HTTP {status}")
    return decide(action, None, f"HTTP {status}")


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds (integer or decimal, as Shopify's `2.0`) or an HTTP date; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    seconds = number(value)
    if seconds is not None:
        return max(seconds, 0.0)
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return max(when.timestamp() - now(), 0.0)


def number(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and number == number and number != float("inf") else None


def body_of(response: httpx.Response) -> dict[str, Any]:
    """The JSON body if it is an object; error bodies are small, and a non-JSON one simply carries no signal."""
    try:
        body = json.loads(response.content or b"null")
    except (ValueError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}
