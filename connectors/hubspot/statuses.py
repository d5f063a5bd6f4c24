"""What HubSpot's error answers say beyond their status (VENDOR_FACTS 1.4), for the kit's `classify`:
- a 429's `policyName`: DAILY is fatal (the quota resets in hours), TEN_SECONDLY_ROLLING waits the rolling window
  (10 s, or what `X-HubSpot-RateLimit-Interval-Milliseconds` says), the search endpoints' "secondly limit" waits
  1 s (the official SDK's waits);
- 423 Locked: "wait at least 2 s"; 477: a migration in progress (it sends Retry-After);
- a 403 with `category: MISSING_SCOPES`: the token works but lacks this object's scope, so the object fails and
  the source's other objects still sync."""

from __future__ import annotations

import httpx

from connectors.kit.errors import DailyLimitReached
from connectors.kit.statuses import Action, Decision, body_of, decide, number

WINDOW = 10.0  # TEN_SECONDLY_ROLLING
SECONDLY = 1.0  # search: 5 requests per second
SECONDLY_MESSAGE = "You have reached your secondly limit."
RETRIED: dict[int, float | None] = {423: 2.0, 477: None}  # status -> default wait


def signals(response: httpx.Response, action: Action, wait: float | None,
            header_wait: float | None) -> Decision | None:
    status = response.status_code
    if status in RETRIED:
        default = RETRIED[status]
        return decide(Action.RETRY, header_wait if header_wait is not None else default, f"HTTP {status}")
    if status == 403 and body_of(response).get("category") == "MISSING_SCOPES":
        return decide(Action.FAIL, None, "HTTP 403, the token lacks a scope this object needs")
    if status != 429:
        return None
    body = body_of(response)
    policy = str(body.get("policyName", "")).upper()
    if policy == "DAILY":
        return decide(Action.FAIL, None, "HubSpot daily request limit reached", DailyLimitReached)
    if policy in ("TEN_SECONDLY_ROLLING", "SECONDLY") or body.get("message") == SECONDLY_MESSAGE:
        window = WINDOW if policy == "TEN_SECONDLY_ROLLING" else SECONDLY
        interval = number(response.headers.get("x-hubspot-ratelimit-interval-milliseconds"))
        if policy == "TEN_SECONDLY_ROLLING" and interval:
            window = interval / 1000
        return decide(Action.RATE_LIMITED, header_wait if header_wait is not None else window,
                      f"HubSpot {policy or 'SECONDLY'} rate limit")
    return None
