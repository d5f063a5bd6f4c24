"""The tracking API end to end with Segment's and Customer.io's real analytics-python SDKs; a write key per source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import write_config
from tests.tracking_api import (  # noqa: F401 (tracking_config_path: the config_path fixture)
    SOURCES,
    WEB_KEY,
    events,
    profile_of_user,
    rejections,
    tracking_config_path,
)

# -- the real SDKs --------------------------------------------------------------------------------------------------

def _only_to(server, monkeypatch, module) -> list[str]:
    """Record every URL the SDK posts to, and keep proxies from the environment out of the way."""
    urls: list[str] = []
    session = module._session
    real = session.post
    monkeypatch.setattr(session, "trust_env", False)

    def post(url, *args, **kwargs):
        urls.append(url)
        assert url.startswith(server.url), f"the SDK tried to reach {url}"
        return real(url, *args, **kwargs)

    monkeypatch.setattr(session, "post", post)
    return urls


def _sdk_calls(client, tag: str) -> None:
    client.page(anonymous_id=f"{tag}-anon", name="Pricing", category="Docs", properties={"path": "/pricing"})
    client.identify(user_id=f"{tag}-user", anonymous_id=f"{tag}-anon", traits={"email": f"{tag}@example.com"})
    client.track(user_id=f"{tag}-user", event="Order Completed", properties={"total": 99.5},
                 timestamp=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), message_id=f"{tag}-order-1")
    client.track(user_id=f"{tag}-user", event="Order Completed", properties={"total": 99.5},
                 message_id=f"{tag}-order-1")  # a resend: stored once
    client.screen(user_id=f"{tag}-user", name="Home")
    client.group(user_id=f"{tag}-user", group_id=f"{tag}-acme", traits={"plan": "enterprise"})
    client.alias(previous_id=f"{tag}-user", user_id=f"{tag}-user-v2")
    client.track(user_id=f"{tag}-user-v2", event="Renamed")
    client.flush()


def _assert_sdk_events(server, tag: str, library: str) -> None:
    got = events(server)
    assert [e["event_type"] for e in got] == ["page", "identify", "Order Completed", "screen", "group", "alias",
                                              "Renamed"]
    assert {e["profile_id"] for e in got} == {profile_of_user(server, f"{tag}-user")}
    assert profile_of_user(server, f"{tag}-user-v2") == profile_of_user(server, f"{tag}-user")
    by_type = {e["event_type"]: e for e in got}
    assert by_type["page"]["properties"] == {"path": "/pricing"}
    assert by_type["page"]["message"]["name"] == "Pricing" and by_type["page"]["session_id"] == f"{tag}-anon"
    assert by_type["identify"]["properties"] == {"email": f"{tag}@example.com"}
    assert by_type["Order Completed"]["properties"] == {"total": 99.5}
    assert by_type["Order Completed"]["message"]["messageId"] == f"{tag}-order-1"
    assert abs(by_type["Order Completed"]["occurred_at"] - datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) \
        < timedelta(seconds=5)  # corrected by the (tiny) skew between the SDK's sentAt and the server's clock
    assert by_type["group"]["message"]["groupId"] == f"{tag}-acme"
    assert by_type["group"]["properties"] == {"plan": "enterprise"}
    assert by_type["alias"]["message"]["previousId"] == f"{tag}-user"
    assert all(e["message"]["context"]["library"]["name"] == library for e in got)
    assert all(e["source_id"] == "web" for e in got)


def _run_sdk(server, monkeypatch, client_class, request_module, prefix: str, **options) -> None:
    """Send the SDK calls through a real SDK client (Segment's or Customer.io's, the same API) to the server's
    /v1/batch only, and check every event landed with no error reported to the SDK."""
    urls = _only_to(server, monkeypatch, request_module)
    errors: list = []
    client = client_class(WEB_KEY, host=server.url, max_retries=1, upload_interval=0.05,
                          on_error=lambda exc, batch: errors.append(exc), **options)
    try:
        _sdk_calls(client, prefix)
    finally:
        client.shutdown()
    assert not errors
    assert urls and all(u == f"{server.url}/v1/batch" for u in urls)
    _assert_sdk_events(server, prefix, "analytics-python")

@pytest.mark.parametrize("gzipped", [False, True])
def test_segment_analytics_python_end_to_end(server, monkeypatch, gzipped):
    from segment.analytics import Client, request

    _run_sdk(server, monkeypatch, Client, request, "seg", gzip=gzipped)
    assert not rejections(server)


def test_customerio_cdp_analytics_end_to_end(server, monkeypatch):
    """Optional: customerio-cdp-analytics is not in the dev extra."""
    import customerio.analytics as analytics  # installed by `make test` (the dev extra): never skipped
    Client, request = analytics.Client, analytics.request

    _run_sdk(server, monkeypatch, Client, request, "cio")


def test_segment_sdk_refused_key_is_reported_to_the_sdk(server, monkeypatch):
    from segment.analytics import Client, request

    _only_to(server, monkeypatch, request)
    errors: list = []
    client = Client("not-a-key", host=server.url, max_retries=0, upload_interval=0.05,
                    on_error=lambda exc, batch: errors.append(exc))
    client.track(user_id="u", event="x")
    client.shutdown()
    assert errors and getattr(errors[0], "status", None) == 401
    assert server.sql("SELECT count(*) FROM events")[0][0] == 0
    assert [(s, st, rs) for s, st, rs, *_ in rejections(server)] == [(None, 401, "unknown_write_key")]


def test_each_tracking_source_needs_its_own_write_key(tmp_path):
    from engine.config import ConfigError, TrackingSource, load_config

    cfg = write_config(tmp_path, sources=[SOURCES[0], {**SOURCES[1], "write_key": WEB_KEY}])
    with pytest.raises(ConfigError, match="the same write key as sources"):
        load_config(cfg)
    assert isinstance(load_config(write_config(tmp_path, sources=SOURCES[:2])).source("web"), TrackingSource)
