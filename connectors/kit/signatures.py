"""Checking the vendors' webhook signatures on the raw body, before anything of it is read.

Each check raises `SignatureRejected` with a short reason (missing, malformed, stale, wrong) and returns
nothing when the delivery is genuine. Comparisons are constant-time (`hmac.compare_digest`). The recipes
(VENDOR_FACTS 1.6, 2.6, 3.6):
- Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=...]`, HMAC-SHA256 of `"{t}.{body}"`; any `v1` may match
  (several during a secret rotation); `t` within 300 s of now.
- Shopify: `X-Shopify-Hmac-Sha256` = base64 HMAC-SHA256 of the body; no timestamp (replays are caught by the
  webhook id).
- HubSpot v3: `X-HubSpot-Signature-v3` = base64 HMAC-SHA256 of method + URI + body + timestamp, with
  `X-HubSpot-Request-Timestamp` (ms) within 5 minutes; the URI is the public one HubSpot called.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable

__all__ = ["SignatureRejected", "verify_hubspot", "verify_shopify", "verify_stripe"]

STRIPE_TOLERANCE = 300.0
HUBSPOT_TOLERANCE = 300.0


class SignatureRejected(Exception):
    """The delivery's signature is missing, malformed, stale or wrong; `reason` is a short word for logs."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _mac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def verify_stripe(secret: str, body: bytes, header: str | None, *, now: Callable[[], float] = time.time,
                  tolerance: float = STRIPE_TOLERANCE) -> None:
    if not header:
        raise SignatureRejected("missing_signature", "no Stripe-Signature header")
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not timestamp.isdigit() or not signatures:
        raise SignatureRejected("malformed_signature", "Stripe-Signature lacks t= or v1=")
    expected = _mac(secret, timestamp.encode() + b"." + body).hex()
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise SignatureRejected("bad_signature", "no v1 signature matches the body")
    if abs(now() - int(timestamp)) > tolerance:
        raise SignatureRejected("stale_signature", f"the signature's timestamp is more than {tolerance:.0f} s away")


def verify_shopify(secret: str, body: bytes, header: str | None) -> None:
    if not header:
        raise SignatureRejected("missing_signature", "no X-Shopify-Hmac-Sha256 header")
    expected = base64.b64encode(_mac(secret, body)).decode()
    if not hmac.compare_digest(expected, header.strip()):
        raise SignatureRejected("bad_signature", "X-Shopify-Hmac-Sha256 does not match the body")


def verify_hubspot(secret: str, method: str, uri: str, body: bytes, signature: str | None, timestamp: str | None,
                   *, now: Callable[[], float] = time.time, tolerance: float = HUBSPOT_TOLERANCE) -> None:
    if not signature or not timestamp:
        raise SignatureRejected("missing_signature", "no X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
    if not timestamp.isdigit():
        raise SignatureRejected("malformed_signature", "X-HubSpot-Request-Timestamp is not milliseconds")
    message = method.upper().encode() + uri.encode() + body + timestamp.encode()
    expected = base64.b64encode(_mac(secret, message)).decode()
    if not hmac.compare_digest(expected, signature.strip()):
        raise SignatureRejected("bad_signature", "X-HubSpot-Signature-v3 does not match method, URI, body and time")
    if abs(now() - int(timestamp) / 1000) > tolerance:
        raise SignatureRejected("stale_signature", f"the request timestamp is more than {tolerance:.0f} s away")
