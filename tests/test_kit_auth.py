"""Auth objects put the token on the wire and nowhere else; `redact` masks secrets and token shapes."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from connectors.kit import BearerToken, HeaderToken, redact

STRIPE_KEY = "sk_live_51HabcdefghijklmnopQRSTUV"
SHOPIFY_TOKEN = "shpat_0123456789abcdef0123456789abcdef"


def sent(auth: httpx.Auth) -> httpx.Request:
    request = httpx.Request("GET", "https://api.vendor.test/x")
    return next(auth.sync_auth_flow(request))


@pytest.mark.parametrize("token", [STRIPE_KEY, SecretStr(STRIPE_KEY)], ids=["str", "SecretStr"])
def test_bearer_token_sets_authorization_and_hides_in_repr(token: str | SecretStr) -> None:
    auth = BearerToken(token)
    assert sent(auth).headers["Authorization"] == f"Bearer {STRIPE_KEY}"
    for text in (repr(auth), str(auth), repr([auth]), f"{auth!r}"):
        assert STRIPE_KEY not in text and "51Habc" not in text
    assert auth.secrets == (STRIPE_KEY,)


def test_header_token_uses_the_named_header() -> None:
    auth = HeaderToken("X-Shopify-Access-Token", SecretStr(SHOPIFY_TOKEN))
    request = sent(auth)
    assert request.headers["X-Shopify-Access-Token"] == SHOPIFY_TOKEN and "Authorization" not in request.headers
    assert SHOPIFY_TOKEN not in repr(auth) and "X-Shopify-Access-Token" in repr(auth)


def test_empty_tokens_are_refused_early() -> None:
    with pytest.raises(ValueError):
        BearerToken("")
    with pytest.raises(ValueError):
        HeaderToken("X-Shopify-Access-Token", SecretStr(""))


def test_redact_masks_known_secrets_wherever_they_appear() -> None:
    secret = "hubspot-private-app-token-value"
    text = redact(f"GET /crm?x={secret} failed; body quoted {secret!r}", [SecretStr(secret)])
    assert secret not in text and text.count("[redacted]") == 2


def test_redact_masks_token_shapes_it_was_not_told_about() -> None:
    text = redact(
        f"url https://api.stripe.com/v1/customers?key={STRIPE_KEY}; body: Invalid API Key provided: "
        "sk_test_****************************mFeM; header Authorization: Bearer abc.def-ghi_123; "
        f"shopify {SHOPIFY_TOKEN}; hubspot pat-na1-11111111-2222-3333-4444-555555555555; "
        "https://shop/?access_token=zzz999&page=2")
    for leak in (STRIPE_KEY, "mFeM", "abc.def-ghi_123", SHOPIFY_TOKEN, "11111111-2222", "zzz999"):
        assert leak not in text, leak
    assert "page=2" in text and "Authorization: Bearer [redacted]" in text


def test_redact_leaves_ordinary_text_alone() -> None:
    text = "source 'billing', object 'customers', HTTP 500: An unknown error occurred (request req_abc123)."
    assert redact(text, ["x", ""]) == text  # too-short "secrets" are not masked everywhere
