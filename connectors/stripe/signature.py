"""Stripe's webhook signature (VENDOR_FACTS 1.6): `Stripe-Signature: t=<unix>,v1=<hex>[,v1=...]`, HMAC-SHA256 of
`"{t}.{body}"` with the endpoint's secret; any `v1` may match (several during a secret rotation); `t` within
300 s of now."""

from __future__ import annotations

import time
from collections.abc import Callable

from connectors.kit.signatures import SignatureRejected, hmac_sha256, same

HEADER = "Stripe-Signature"
TOLERANCE = 300.0


def verify_stripe(secret: str, body: bytes, header: str | None, *, now: Callable[[], float] = time.time,
                  tolerance: float = TOLERANCE) -> None:
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
    expected = hmac_sha256(secret, timestamp.encode() + b"." + body).hex()
    if not any(same(expected, s) for s in signatures):
        raise SignatureRejected("bad_signature", "no v1 signature matches the body")
    if abs(now() - int(timestamp)) > tolerance:
        raise SignatureRejected("stale_signature", f"the signature's timestamp is more than {tolerance:.0f} s away")
