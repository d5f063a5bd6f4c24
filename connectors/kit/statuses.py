"""What to do with an HTTP response: one status table plus the vendors' own signals, readable in one screen.

The table gives the default; vendor signals override it, in this order:
1. Stripe `Stripe-Should-Retry` (VENDOR_FACTS 3.4): `false` never retries, `true` retries even a 409 or a
   lock-timeout 429; absent falls through to the rules below.
2. 429 bodies: HubSpot `policyName` DAILY is fatal (quota resets in hours), TEN_SECONDLY_ROLLING waits the
   rolling window (10 s, or what the headers say), the search "secondly limit" waits 1 s (the official SDK's
   waits, VENDOR_FACTS 1.4); Stripe `code: lock_timeout` is contention, not a rate limit (plain retry).
3. `Retry-After` (seconds such as Shopify's `2.0`, or an HTTP date) sets the wait of any retriable answer.
Shopify GraphQL THROTTLED arrives as HTTP 200 and is deliberately not handled here: only a GraphQL-aware
connector can read the cost extensions that say how long to wait.
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
    DailyLimitReached,
    RateLimited,
    RequestRejected,
    TransientError,
)

__all__ = ["STATUS_TABLE", "Action", "Decision", "classify", "parse_retry_after"]


class Action(StrEnum):
    OK = "ok"
    RETRY = "retry"
    RATE_LIMITED = "rate_limited"
    FAIL_CONFIG = "fail_config"
    FAIL = "fail"


# status -> (action, default wait in seconds). Statuses not listed: 2xx/3xx ok, other 4xx fail, 5xx retry.
STATUS_TABLE: dict[int, tuple[Action, float | None]] = {
    401: (Action.FAIL_CONFIG, None),  # bad or expired credentials
    403: (Action.FAIL_CONFIG, None),  # a key without permission (a HubSpot token missing one scope: see below)
    408: (Action.RETRY, None),  # request timeout
    423: (Action.RETRY, 2.0),  # HubSpot Locked: "wait at least 2 s"
    425: (Action.RETRY, None),  # too early
    429: (Action.RATE_LIMITED, None),
    477: (Action.RETRY, None),  # HubSpot migration in progress (sends Retry-After)
    500: (Action.RETRY, None),
    502: (Action.RETRY, None),
    503: (Action.RETRY, None),
    504: (Action.RETRY, None),
}
HUBSPOT_WINDOW = 10.0  # TEN_SECONDLY_ROLLING
HUBSPOT_SECONDLY = 1.0  # search: 5 requests per second
SECONDLY_MESSAGE = "You have reached your secondly limit."


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


def _decide(action: Action, wait: float | None, reason: str, error: type[ConnectorError] | None = None) -> Decision:
    return Decision(action, wait, reason, error or _ERRORS[action])


def classify(response: httpx.Response, now: Callable[[], float] = time.time) -> Decision:
    """Decide from status, headers and (for 429s only) the body; `now` resolves HTTP-date Retry-After."""
    status = response.status_code
    if status < 400:
        return _decide(Action.OK, None, "success")
    action, wait = STATUS_TABLE.get(status, (Action.RETRY if status >= 500 else Action.FAIL, None))
    header_wait = parse_retry_after(response.headers.get("retry-after"), now)
    should_retry = response.headers.get("stripe-should-retry", "").strip().lower()
    if should_retry == "false":
        if action is Action.FAIL_CONFIG:
            return _decide(action, None, f"HTTP {status}, credentials refused")
        return _decide(Action.FAIL, None, f"HTTP {status} with Stripe-Should-Retry: false")
    if should_retry == "true":
        retry = Action.RATE_LIMITED if status == 429 and _stripe_code(response) == "rate_limit" else Action.RETRY
        return _decide(retry, header_wait if header_wait is not None else wait,
                       f"HTTP {status} with Stripe-Should-Retry: true")
    if status == 429:
        return _classify_429(response, header_wait)
    if status == 403 and _body(response).get("category") == "MISSING_SCOPES":
        # HubSpot: the token works but lacks this object's scope; the source's other objects may still sync
        return _decide(Action.FAIL, None, "HTTP 403, the token lacks a scope this object needs")
    if action in (Action.RETRY, Action.RATE_LIMITED):
        return _decide(action, header_wait if header_wait is not None else wait, f"HTTP {status}")
    return _decide(action, None, f"HTTP {status}")


def _classify_429(response: httpx.Response, header_wait: float | None) -> Decision:
    body = _body(response)
    policy = str(body.get("policyName", "")).upper()
    if policy == "DAILY":
        return _decide(Action.FAIL, None, "HubSpot daily request limit reached", DailyLimitReached)
    if policy in ("TEN_SECONDLY_ROLLING", "SECONDLY") or body.get("message") == SECONDLY_MESSAGE:
        window = HUBSPOT_WINDOW if policy == "TEN_SECONDLY_ROLLING" else HUBSPOT_SECONDLY
        interval = _number(response.headers.get("x-hubspot-ratelimit-interval-milliseconds"))
        if policy == "TEN_SECONDLY_ROLLING" and interval:
            window = interval / 1000
        wait = header_wait if header_wait is not None else window
        return _decide(Action.RATE_LIMITED, wait, f"HubSpot {policy or 'SECONDLY'} rate limit")
    if _stripe_code(response) == "lock_timeout":
        return _decide(Action.RETRY, header_wait, "Stripe lock_timeout: object busy")
    return _decide(Action.RATE_LIMITED, header_wait, "HTTP 429 rate limited")


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds (integer or decimal, as Shopify's `2.0`) or an HTTP date; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    seconds = _number(value)
    if seconds is not None:
        return max(seconds, 0.0)
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return max(when.timestamp() - now(), 0.0)


def _number(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and number == number and number != float("inf") else None


def _stripe_code(response: httpx.Response) -> str | None:
    error = _body(response).get("error")
    return error.get("code") if isinstance(error, dict) else None


def _body(response: httpx.Response) -> dict[str, Any]:
    """The JSON body if it is an object; error bodies are small, and a non-JSON one simply carries no signal."""
    try:
        body = json.loads(response.content or b"null")
    except (ValueError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}
