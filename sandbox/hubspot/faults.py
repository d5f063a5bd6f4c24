"""Injected write failures (`HubSpotSandbox.fail_writes`, see `sandbox.faults`) as HubSpot would answer them.

Write requests are the object writes: POST/PATCH/PUT/DELETE under `/crm/v3/objects/`, except search and
batch/read, which only read. A 429 is the TEN_SECONDLY_ROLLING body (VENDOR_FACTS 1.4); a 5xx carries HubSpot's
error schema with a generic message (HubSpot does not document its 5xx bodies [UNCONFIRMED wording]).
"""

from __future__ import annotations

from sandbox.faults import Fault
from sandbox.hubspot.errors import TEN_SECONDLY, HubSpotError, rate_limit_body

MESSAGES = {500: "internal error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


def is_write(method: str, path: str) -> bool:
    if method not in ("POST", "PATCH", "PUT", "DELETE") or not path.startswith("/crm/v3/objects/"):
        return False
    tail = path.rstrip("/")
    return not (method == "POST" and (tail.endswith("/search") or tail.endswith("/batch/read")))


def body(fault: Fault, correlation: str) -> dict:
    if fault.status == 429:
        return rate_limit_body(TEN_SECONDLY, "TEN_SECONDLY_ROLLING", correlation)
    category = "INTERNAL_ERROR" if fault.status >= 500 else fault.code or "VALIDATION_ERROR"
    message = MESSAGES.get(fault.status, f"injected failure (HTTP {fault.status})")
    return HubSpotError(fault.status, message, category).body(correlation)
