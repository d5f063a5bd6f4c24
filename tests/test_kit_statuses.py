"""The status table and every vendor signal it reads (VENDOR_FACTS 1.4, 2.4, 3.4)."""

from __future__ import annotations

import httpx
import pytest

from connectors.hubspot.statuses import signals as hubspot
from connectors.kit import (
    Action,
    CredentialsRefused,
    DailyLimitReached,
    RateLimited,
    RequestRejected,
    TransientError,
    classify,
    parse_retry_after,
)
from connectors.stripe.statuses import signals as stripe

STRIPE_RATE = {"error": {"message": "Request rate limit exceeded.", "type": "invalid_request_error",
                         "code": "rate_limit"}}
STRIPE_LOCK = {"error": {"message": "This object cannot be accessed right now.", "type": "invalid_request_error",
                         "code": "lock_timeout"}}
HUBSPOT_TEN = {"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
               "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"}
HUBSPOT_DAILY = {"status": "error", "message": "You have reached your daily limit.", "errorType": "RATE_LIMIT",
                 "policyName": "DAILY"}
HUBSPOT_SEARCH = {"status": "error", "message": "You have reached your secondly limit.", "errorType": "RATE_LIMIT"}


def response(status: int, body: object = None, **headers: str) -> httpx.Response:
    headers = {name.replace("_", "-"): value for name, value in headers.items()}
    return httpx.Response(status, json=body, headers=headers) if body is not None else \
        httpx.Response(status, headers=headers)


@pytest.mark.parametrize(("resp", "action", "wait", "error"), [
    (response(200, {"data": []}), Action.OK, None, None),
    (response(304), Action.OK, None, None),
    (response(400, {"error": {"message": "bad"}}), Action.FAIL, None, RequestRejected),
    (response(404), Action.FAIL, None, RequestRejected),
    (response(401), Action.FAIL_CONFIG, None, CredentialsRefused),
    (response(403, {"category": "FORBIDDEN"}), Action.FAIL_CONFIG, None, CredentialsRefused),
    (response(500), Action.RETRY, None, TransientError),
    (response(503, Retry_After="7"), Action.RETRY, 7.0, TransientError),
    (response(599), Action.RETRY, None, TransientError),
    (response(409), Action.FAIL, None, RequestRejected),
    (response(429), Action.RATE_LIMITED, None, RateLimited),
], ids=["200", "304", "400", "404", "401", "403", "500", "503-retry-after", "599", "409", "429-bare"])
def test_status_table(resp: httpx.Response, action: Action, wait: float | None, error: type | None) -> None:
    decision = classify(resp)
    assert (decision.action, decision.wait_seconds, decision.error) == (action, wait, error)


def test_stripe_should_retry_true_retries_even_a_409() -> None:
    decision = classify(response(409, {"error": {"message": "conflict"}}, Stripe_Should_Retry="true"), stripe)
    assert decision.action is Action.RETRY and decision.error is TransientError
    assert "Stripe-Should-Retry" in decision.reason


def test_stripe_should_retry_false_never_retries_even_a_500_or_429() -> None:
    for status, body in ((500, {"error": {"message": "x"}}), (429, STRIPE_RATE), (503, None)):
        decision = classify(response(status, body, Stripe_Should_Retry="false"), stripe)
        assert decision.action is Action.FAIL and decision.error is RequestRejected, status


def test_stripe_should_retry_false_keeps_a_401_a_config_error() -> None:
    assert classify(response(401, Stripe_Should_Retry="false"), stripe).action is Action.FAIL_CONFIG


def test_stripe_lock_timeout_is_a_plain_retry() -> None:
    decision = classify(response(429, STRIPE_LOCK), stripe)
    assert decision.action is Action.RETRY and decision.error is TransientError
    true = classify(response(429, STRIPE_LOCK, Stripe_Should_Retry="true"), stripe)
    assert true.action is Action.RETRY


def test_stripe_plain_rate_limit_is_rate_limited_without_a_guessed_wait() -> None:
    decision = classify(response(429, STRIPE_RATE), stripe)
    assert (decision.action, decision.wait_seconds, decision.error) == (Action.RATE_LIMITED, None, RateLimited)


def test_hubspot_ten_secondly_waits_the_window() -> None:
    assert classify(response(429, HUBSPOT_TEN), hubspot).wait_seconds == 10.0
    by_header = classify(response(429, HUBSPOT_TEN, X_HubSpot_RateLimit_Interval_Milliseconds="5000"), hubspot)
    assert by_header.wait_seconds == 5.0
    retry_after = classify(response(429, HUBSPOT_TEN, Retry_After="3"), hubspot)
    assert (retry_after.action, retry_after.wait_seconds) == (Action.RATE_LIMITED, 3.0)


def test_hubspot_daily_is_fatal() -> None:
    decision = classify(response(429, HUBSPOT_DAILY, Retry_After="1"), hubspot)
    assert decision.action is Action.FAIL and decision.error is DailyLimitReached
    assert "daily" in decision.reason


def test_hubspot_search_secondly_message_waits_one_second() -> None:
    decision = classify(response(429, HUBSPOT_SEARCH), hubspot)
    assert (decision.action, decision.wait_seconds) == (Action.RATE_LIMITED, 1.0)


def test_shopify_decimal_retry_after() -> None:
    decision = classify(response(429, {"errors": "Exceeded 2 calls per second for api client."}, Retry_After="2.0"))
    assert (decision.action, decision.wait_seconds, decision.error) == (Action.RATE_LIMITED, 2.0, RateLimited)


def test_graphql_throttled_with_200_is_left_to_the_connector() -> None:
    body = {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]}
    assert classify(response(200, body)).action is Action.OK


def test_retry_after_forms() -> None:
    now = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("2.0") == 2.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:50 GMT", lambda: now) == 30.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", lambda: now) == 0.0  # in the past: go now
    assert parse_retry_after("-5") == 0.0
    for junk in (None, "", "soon", "nan", "inf"):
        assert parse_retry_after(junk) is None


def test_non_json_429_body_is_still_rate_limited() -> None:
    decision = classify(httpx.Response(429, text="<html>slow down</html>", headers={"Retry-After": "4"}))
    assert (decision.action, decision.wait_seconds) == (Action.RATE_LIMITED, 4.0)


def test_a_string_error_body_carries_no_stripe_signal() -> None:
    decision = classify(response(429, {"error": "too many"}, Stripe_Should_Retry="true"), stripe)
    assert decision.action is Action.RETRY
    assert classify(response(429, {"error": "too many"}), stripe).action is Action.RATE_LIMITED


def test_hubspot_missing_scopes_fails_the_object_not_the_source() -> None:
    body = {"status": "error", "message": "This app hasn't been granted all required scopes to make this call.",
            "correlationId": "x", "category": "MISSING_SCOPES",
            "errors": [{"message": "One or more of the following scopes are required.",
                        "context": {"requiredGranularScopes": ["crm.objects.owners.read"]}}]}
    decision = classify(httpx.Response(403, json=body), hubspot)
    assert decision.action is Action.FAIL and "scope" in decision.reason
    restricted = httpx.Response(403, json={"error": {"message": "restricted key"}})
    assert classify(restricted, stripe).action is Action.FAIL_CONFIG
    assert classify(httpx.Response(403, json=body)).action is Action.FAIL_CONFIG  # no vendor: the table


def test_hubspot_locked_and_migrating_are_retried_and_only_hubspot_says_so() -> None:
    locked, migrating = classify(response(423), hubspot), classify(response(477, Retry_After="30"), hubspot)
    assert (locked.action, locked.wait_seconds) == (Action.RETRY, 2.0)  # Locked: at least 2 s
    assert (migrating.action, migrating.wait_seconds) == (Action.RETRY, 30.0)
    assert classify(response(423)).action is Action.FAIL  # another vendor's 423 is a plain refusal
