"""End to end: the kit pages every customer of the Stripe sandbox with StartingAfter, in-process."""

from __future__ import annotations

import httpx
import pytest

from connectors.kit import BearerToken, CredentialsRefused, RetryPolicy, SourceClient, StartingAfter
from connectors.kit.testing import FakeClock
from connectors.stripe import limits as stripe_limits
from sandbox.stripe import StripeSandbox, create_app

KEY = "sk_test_sandbox"


def stripe_client(sandbox: StripeSandbox, key: str = KEY, **kwargs: object) -> SourceClient:
    return SourceClient("billing", "http://stripe.sandbox", BearerToken(key),
                        transport=httpx.ASGITransport(app=create_app(sandbox, rate_limit=False)), **kwargs)


async def test_every_sandbox_customer_exactly_once() -> None:
    sandbox = StripeSandbox(seed=1, customers=250)
    clock = FakeClock()  # the limiter runs, on fake time, as a sync against real Stripe test mode would
    limiter = stripe_limits.documented(live=False, clock=clock, sleep=clock.sleep)
    ids: list[str] = []
    sizes: list[int] = []
    async with stripe_client(sandbox, limiter=limiter) as client:
        async for page in client.pages(StartingAfter(limit=100), "/v1/customers", object_name="customers",
                                       records_path="data"):
            sizes.append(len(page))
            ids.extend(record["id"] for record in page)
    assert sizes == [100, 100, 50]
    assert len(ids) == len(set(ids)) == 250
    assert all(i.startswith("cus_") for i in ids)
    assert clock.slept == 0  # three requests fit in one window of 25


async def test_a_wrong_sandbox_key_is_refused_once_and_not_quoted() -> None:
    wrong = "sk_test_wrongwrongwrong1234"
    policy = RetryPolicy(sleep=FakeClock().sleep)
    async with stripe_client(StripeSandbox(seed=1, customers=5), key=wrong, retry_policy=policy) as client:
        with pytest.raises(CredentialsRefused) as caught:
            await client.get_json("/v1/customers", object_name="customers")
    text = str(caught.value)
    assert "'billing'" in text and "HTTP 401" in text and "Invalid API Key" in text
    assert wrong not in text and "1234" not in text
