"""What Stripe's error answers say beyond their status (VENDOR_FACTS 3.4), for the kit's `classify`:
`Stripe-Should-Retry: false` never retries, `true` retries even a 409 or a lock-timeout 429 (absent: the status
table decides); `code: lock_timeout` on a 429 is contention on one object, not a rate limit (a plain retry)."""

from __future__ import annotations

import httpx

from connectors.kit.statuses import Action, Decision, body_of, decide


def _code(response: httpx.Response) -> str | None:
    error = body_of(response).get("error")
    return error.get("code") if isinstance(error, dict) else None


def signals(response: httpx.Response, action: Action, wait: float | None,
            header_wait: float | None) -> Decision | None:
    status = response.status_code
    should_retry = response.headers.get("stripe-should-retry", "").strip().lower()
    if should_retry == "false":
        if action is Action.FAIL_CONFIG:
            return decide(action, None, f"HTTP {status}, credentials refused")
        return decide(Action.FAIL, None, f"HTTP {status} with Stripe-Should-Retry: false")
    if should_retry == "true":
        retry = Action.RATE_LIMITED if status == 429 and _code(response) == "rate_limit" else Action.RETRY
        return decide(retry, header_wait if header_wait is not None else wait,
                      f"HTTP {status} with Stripe-Should-Retry: true")
    if status == 429 and _code(response) == "lock_timeout":
        return decide(Action.RETRY, header_wait, "Stripe lock_timeout: object busy")
    return None
