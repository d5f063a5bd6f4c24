"""Stripe's error bodies, so clients see the same `{"error": {...}}` shapes and messages as from the real API.

Messages quoted in /work/shared/VENDOR_FACTS.md (3.1, 3.4, 3.5) are used verbatim; the others are marked
where they are defined as best guesses, because the docs do not pin them down.
"""

from __future__ import annotations

import re

DOCS = "https://stripe.com/docs"

MISSING_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer "
    "auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for "
    "details, or we can help at https://support.stripe.com/."
)
RATE_LIMITED = "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits."
_KEY_PREFIX = re.compile(r"^(?:sk|rk|pk)_(?:test|live)_")


class StripeError(Exception):
    """One failed request. `validation` marks failures that happen before an endpoint starts executing:
    Stripe does not store those for idempotent replay (VENDOR_FACTS 3.5)."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None, validation: bool = False, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.validation = validation
        self.headers = headers or {}

    def body(self, request_id: str | None = None) -> dict:
        error: dict = {"message": self.message, "type": self.type}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"{DOCS}/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        if request_id and self.status == 400 and self.type == "invalid_request_error":
            error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        return {"error": error}


def mask_key(key: str) -> str:
    """`sk_test_abcdef1234` → `sk_test_******1234`: Stripe shows the key's kind and last four characters only."""
    match = _KEY_PREFIX.match(key)
    prefix = match.group(0) if match else ""
    rest = key[len(prefix):]
    if len(rest) <= 4:
        return prefix + "*" * len(rest)
    return prefix + "*" * (len(rest) - 4) + rest[-4:]


def missing_key() -> StripeError:
    # Real Stripe is reported to send this header too (VENDOR_FACTS 3.1, unconfirmed); it harms nothing.
    return StripeError(401, MISSING_KEY, headers={"WWW-Authenticate": 'Basic realm="Stripe"'})


def invalid_key(key: str) -> StripeError:
    return StripeError(401, f"Invalid API Key provided: {mask_key(key)}",
                       headers={"WWW-Authenticate": 'Basic realm="Stripe"'})


def rate_limited() -> StripeError:
    # Stripe-Should-Retry is deliberately omitted. VENDOR_FACTS 3.4: the header is documented ("true" = retry,
    # "false" = do not, absent = decide from the status code), but the value Stripe sends on a plain rate-limit 429
    # is not; only lock-timeout 429s are documented as retried by the SDKs. Absent is the one reading that asserts
    # nothing undocumented, and it makes clients decide from the 429 itself, which is what inlet must handle.
    return StripeError(429, RATE_LIMITED, code="rate_limit")


def no_such(kind: str, object_id: str, param: str | None = "id") -> StripeError:
    """404 for an unknown object; `param` names where the id came from (path `id`, `starting_after`, …)."""
    return StripeError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def unknown_parameter(name: str) -> StripeError:
    return StripeError(400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name,
                       validation=True)


def invalid(message: str, param: str | None = None, code: str | None = None) -> StripeError:
    return StripeError(400, message, param=param, code=code, validation=True)


def unrecognized_url(method: str, path: str) -> StripeError:
    # Wording recalled from real Stripe responses [UNCONFIRMED]; VENDOR_FACTS has no quote for it.
    return StripeError(404, f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or "
                            "we can help at https://support.stripe.com/.")


def idempotency_mismatch(key: str) -> StripeError:
    return StripeError(400, "Keys for idempotent requests can only be used with the same parameters they were first "
                            f"used with. Try using a key other than '{key}' if you meant to execute a different "
                            "request.", type="idempotency_error")
