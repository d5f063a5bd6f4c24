"""What every webhook signature check shares: the error it raises and the keyed hash most vendors sign with.

A vendor's recipe (which header, what is signed, how stale is too stale) lives in its own package
(`connectors/<vendor>/signature.py`) and is its spec's `verify_webhook`. A check raises `SignatureRejected` with a
short reason (missing, malformed, stale, wrong) and returns nothing when the delivery is genuine; comparisons are
constant-time.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["SignatureRejected", "hmac_sha256", "same"]


class SignatureRejected(Exception):
    """The delivery's signature is missing, malformed, stale or wrong; `reason` is a short word for logs."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def hmac_sha256(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def same(expected: str, given: str) -> bool:
    """Constant-time equality of two signatures as text (False for text that is not ASCII)."""
    try:
        return hmac.compare_digest(expected.encode("ascii"), given.encode("ascii"))
    except UnicodeEncodeError:
        return False
