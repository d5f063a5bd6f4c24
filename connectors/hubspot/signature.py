"""HubSpot's webhook signature, v3 (VENDOR_FACTS 3.6): `X-HubSpot-Signature-v3` = base64 HMAC-SHA256 of method +
URI + body + timestamp with the app's client secret, `X-HubSpot-Request-Timestamp` (ms) within 5 minutes; the URI
is the public one HubSpot called."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

from connectors.kit.signatures import SignatureRejected, hmac_sha256, same

HEADER, TIMESTAMP_HEADER = "X-HubSpot-Signature-v3", "X-HubSpot-Request-Timestamp"
TOLERANCE = 300.0


def verify_hubspot(secret: str, method: str, uri: str, body: bytes, signature: str | None, timestamp: str | None,
                   *, now: Callable[[], float] = time.time, tolerance: float = TOLERANCE) -> None:
    if not signature or not timestamp:
        raise SignatureRejected("missing_signature", "no X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
    if not timestamp.isdigit():
        raise SignatureRejected("malformed_signature", "X-HubSpot-Request-Timestamp is not milliseconds")
    message = method.upper().encode() + uri.encode() + body + timestamp.encode()
    expected = base64.b64encode(hmac_sha256(secret, message)).decode()
    if not same(expected, signature.strip()):
        raise SignatureRejected("bad_signature", "X-HubSpot-Signature-v3 does not match method, URI, body and time")
    if abs(now() - int(timestamp) / 1000) > tolerance:
        raise SignatureRejected("stale_signature", f"the request timestamp is more than {tolerance:.0f} s away")
