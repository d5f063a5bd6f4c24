"""Injected write failures (`StripeSandbox.fail_writes`, see `sandbox.faults`) as Stripe would answer them.

Write requests are POSTs and DELETEs. Where a failure happens decides whether Stripe saves it under the request's
Idempotency-Key (VENDOR_FACTS 3.5): a 500 comes from the endpoint, so it is saved and replayed like Stripe's own;
a 429 comes from the limiter and other statuses from the front, before the idempotency layer, so they are not.
`code="lock_timeout"` makes a 429 the lock-contention one (with `Stripe-Should-Retry: true`, which the SDKs
retry). Bodies use Stripe's quoted messages where VENDOR_FACTS has them; the 5xx wording is a guess.
"""

from __future__ import annotations

from sandbox.faults import Fault
from sandbox.stripe.errors import StripeError, rate_limited

LOCK_TIMEOUT = ("This object cannot be accessed right now because another API request or Stripe process is "
                "currently accessing it. If you see this error intermittently, retry the request. If you see this "
                "error frequently and are making multiple concurrent requests to a single object, make your "
                "requests serially or at a lower rate.")


def is_write(method: str) -> bool:
    return method in ("POST", "DELETE")


def saved(fault: Fault) -> bool:
    """Whether Stripe would store this failure for idempotent replay (only the endpoint's own 500s)."""
    return fault.status == 500


def error(fault: Fault) -> StripeError:
    if fault.status == 429 and fault.code == "lock_timeout":
        return StripeError(429, LOCK_TIMEOUT, code="lock_timeout", headers={"Stripe-Should-Retry": "true"})
    if fault.status == 429:
        return rate_limited()
    if fault.status >= 500:
        return StripeError(fault.status, "An unknown error occurred", type="api_error")
    return StripeError(fault.status, f"Injected failure (HTTP {fault.status}).", code=fault.code)
