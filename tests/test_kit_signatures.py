"""The webhook signature checks, against signatures made from each vendor's recipe: good ones pass; missing,
malformed, wrong, tampered and stale ones are refused with a reason."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from connectors.hubspot.signature import verify_hubspot
from connectors.kit.signatures import SignatureRejected
from connectors.shopify.signature import verify_shopify
from connectors.stripe.signature import verify_stripe

SECRET = "whsec_test_secret"
BODY = b'{"id":"evt_1","type":"customer.updated"}'
NOW = 1_750_000_000


def stripe_header(body: bytes, t: int = NOW, secret: str = SECRET) -> str:
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def reason(check) -> str:
    with pytest.raises(SignatureRejected) as caught:
        check()
    return caught.value.reason


def test_stripe_signatures():
    verify_stripe(SECRET, BODY, stripe_header(BODY), now=lambda: NOW)
    rotated = stripe_header(BODY).replace("t=", "t=", 1) + ",v1=" + "0" * 64  # several v1: any may match
    verify_stripe(SECRET, BODY, "v1=" + "f" * 64 + "," + rotated, now=lambda: NOW + 299)
    assert reason(lambda: verify_stripe(SECRET, BODY, None)) == "missing_signature"
    assert reason(lambda: verify_stripe(SECRET, BODY, "v1=abc")) == "malformed_signature"
    assert reason(lambda: verify_stripe(SECRET, BODY + b" ", stripe_header(BODY), now=lambda: NOW)) == \
        "bad_signature"
    assert reason(lambda: verify_stripe("other", BODY, stripe_header(BODY), now=lambda: NOW)) == "bad_signature"
    assert reason(lambda: verify_stripe(SECRET, BODY, stripe_header(BODY), now=lambda: NOW + 301)) == \
        "stale_signature"


def test_shopify_signatures():
    good = base64.b64encode(hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()).decode()
    verify_shopify(SECRET, BODY, good)
    assert reason(lambda: verify_shopify(SECRET, BODY, "")) == "missing_signature"
    assert reason(lambda: verify_shopify(SECRET, BODY[:-1], good)) == "bad_signature"


def test_hubspot_v3_signatures():
    uri = "https://inlet.example.com/webhooks/crm"
    ts = str(NOW * 1000)
    good = base64.b64encode(hmac.new(SECRET.encode(), b"POST" + uri.encode() + BODY + ts.encode(),
                                     hashlib.sha256).digest()).decode()
    verify_hubspot(SECRET, "POST", uri, BODY, good, ts, now=lambda: NOW + 10)
    assert reason(lambda: verify_hubspot(SECRET, "POST", uri, BODY, None, ts)) == "missing_signature"
    assert reason(lambda: verify_hubspot(SECRET, "POST", uri, BODY, good, "soon")) == "malformed_signature"
    assert reason(lambda: verify_hubspot(SECRET, "POST", uri + "?x=1", BODY, good, ts, now=lambda: NOW)) == \
        "bad_signature"  # another URI than the one HubSpot signed
    assert reason(lambda: verify_hubspot(SECRET, "POST", uri, BODY, good, ts, now=lambda: NOW + 301)) == \
        "stale_signature"
