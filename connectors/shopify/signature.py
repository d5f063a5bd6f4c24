"""Shopify's webhook signature (VENDOR_FACTS 2.6): `X-Shopify-Hmac-Sha256` = base64 HMAC-SHA256 of the raw body
with the app's secret; no timestamp (replays are caught by the webhook id)."""

from __future__ import annotations

import base64

from connectors.kit.signatures import SignatureRejected, hmac_sha256, same

HEADER = "X-Shopify-Hmac-Sha256"


def verify_shopify(secret: str, body: bytes, header: str | None) -> None:
    if not header:
        raise SignatureRejected("missing_signature", "no X-Shopify-Hmac-Sha256 header")
    expected = base64.b64encode(hmac_sha256(secret, body)).decode()
    if not same(expected, header.strip()):
        raise SignatureRejected("bad_signature", "X-Shopify-Hmac-Sha256 does not match the body")
