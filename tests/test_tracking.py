"""The Segment-compatible tracking API (`tracking` bridge), over real HTTP against the real app and store, and
end to end with the real analytics-python SDKs (Segment's and Customer.io's) pointed at the server."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import os
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.conftest import InProcessServer, write_config

WEB_KEY, APP_KEY, OLD_KEY = "wk-web-0123456789", "wk-app-9876543210", "wk-old-5555"
SOURCES = [
    {"id": "web", "name": "Website", "channel": "web", "bridge": "tracking", "write_key": WEB_KEY},
    {"id": "app", "name": "Mobile app", "channel": "mobile", "bridge": "tracking", "write_key": APP_KEY},
    {"id": "old", "name": "Old app", "channel": "mobile", "bridge": "tracking", "write_key": OLD_KEY,
     "enabled": False},
    {"id": "website", "name": "Collect", "channel": "web", "bridge": "webhook"},
]
MESSAGES = {
    "track": {"event": "Order Completed", "properties": {"total": 42.5, "items": ["a", "b"]}},
    "identify": {"traits": {"email": "ada@example.com", "plan": "pro"}},
    "page": {"name": "Pricing", "category": "Docs", "properties": {"path": "/pricing"}},
    "screen": {"name": "Home", "properties": {"tab": 2}},
    "group": {"groupId": "acme", "traits": {"employees": 50}},
    "alias": {"previousId": "old-user", "userId": "new-user"},
}
SHORT = {"t": "track", "i": "identify", "p": "page", "s": "screen", "g": "group", "a": "alias"}


def compact(value) -> str:
    """JSON as httpx sends it."""
    return json.dumps(value, separators=(",", ":"))


def basic(key: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


@pytest.fixture
def config_path(tmp_path):
    return write_config(tmp_path, sources=SOURCES)


def events(server, where: str = "true", params=None) -> list[dict]:
    rows = server.sql(
        "SELECT source_id, event_type, profile_id::VARCHAR, session_id, properties, context, occurred_at, "
        f"received_at FROM events WHERE {where} ORDER BY event_id", params)
    return [{"source_id": r[0], "event_type": r[1], "profile_id": r[2], "session_id": r[3],
             "properties": json.loads(r[4]), "context": json.loads(r[5]), "message": json.loads(r[5]).get("message"),
             "occurred_at": r[6], "received_at": r[7]} for r in rows]


def rejections(server) -> list[tuple]:
    return server.sql("SELECT source_id, status, reason, size, excerpt, path FROM rejections ORDER BY received_at")


def profile_of_user(server, user_id: str) -> str | None:
    rows = server.sql("SELECT profile_id::VARCHAR FROM identities WHERE kind = 'user_id' AND identity = ?", [user_id])
    return rows[0][0] if rows else None


def send(http, path: str, body, key: str | None = WEB_KEY, **headers) -> httpx.Response:
    return http.post(path, json=body, headers={**(basic(key) if key else {}), **headers})


# -- routes and bodies ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [f"/v1/{kind}" for kind in MESSAGES] + [f"/v1/{short}" for short in SHORT])
def test_every_call_and_its_short_form_stores_one_event(server, http, path):
    kind = SHORT.get(path.rsplit("/", 1)[1], path.rsplit("/", 1)[1])
    body = {"anonymousId": "anon-1", "messageId": f"m-{kind}", **MESSAGES[kind]}
    r = send(http, path, body)
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True}
    [event] = events(server)
    assert event["source_id"] == "web"
    assert event["event_type"] == ("Order Completed" if kind == "track" else kind)
    payload = MESSAGES[kind].get("properties", MESSAGES[kind].get("traits", {})) if kind != "alias" else {}
    assert event["properties"] == payload
    assert event["session_id"] == "anon-1"
    message = event["message"]
    assert message["type"] == kind and message["messageId"] == f"m-{kind}" and message["anonymousId"] == "anon-1"
    assert "properties" not in message and "traits" not in message
    for field in ("event", "name", "category", "groupId", "previousId", "userId"):
        if field in MESSAGES[kind]:
            assert message[field] == MESSAGES[kind][field]
    assert event["profile_id"] is not None


def test_a_batch_and_its_short_form_store_every_message_in_order(server, http):
    batch = [{"type": kind, "anonymousId": "anon-b", **MESSAGES[kind]} for kind in MESSAGES]
    for path in ("/v1/batch", "/v1/b"):
        r = send(http, path, {"batch": batch, "sentAt": datetime.now(UTC).isoformat()})
        assert r.status_code == 200 and r.json() == {"success": True}
    types = [e["event_type"] for e in events(server)]
    assert types == ["Order Completed", "identify", "page", "screen", "group", "alias"] * 2


def test_text_plain_bodies_and_cors_let_browsers_post(server, http):
    body = json.dumps({"anonymousId": "browser-1", "event": "Clicked", "writeKey": WEB_KEY})
    r = http.post("/v1/t", content=body, headers={"Content-Type": "text/plain;charset=UTF-8",
                                                  "Origin": "https://shop.example.com"})
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == "*"
    assert events(server)[0]["event_type"] == "Clicked"
    pre = http.options("/v1/batch", headers={"Origin": "https://shop.example.com",
                                             "Access-Control-Request-Method": "POST",
                                             "Access-Control-Request-Headers": "content-type,authorization"})
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    allowed = {h.strip().lower() for h in pre.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"content-type", "authorization"} <= allowed
    refused = http.post("/v1/t", content=b"{}", headers={"Content-Type": "text/plain", "Origin": "https://x.test"})
    assert refused.status_code == 401 and refused.headers["Access-Control-Allow-Origin"] == "*"


def test_gzip_bodies_are_taken_and_bad_or_huge_ones_refused(server, http):
    body = json.dumps({"batch": [{"type": "track", "userId": "u-gz", "event": "Zipped"}]}).encode()
    headers = {**basic(WEB_KEY), "Content-Type": "application/json", "Content-Encoding": "gzip"}
    assert http.post("/v1/batch", content=gzip.compress(body), headers=headers).status_code == 200
    assert [e["event_type"] for e in events(server)] == ["Zipped"]
    r = http.post("/v1/batch", content=b"not gzip at all", headers=headers)
    assert r.status_code == 400 and r.json()["error"] == "malformed_gzip"
    r = http.post("/v1/batch", content=gzip.compress(body)[:-12], headers=headers)
    assert r.status_code == 400 and r.json()["error"] == "malformed_gzip"
    bomb = gzip.compress(b'{"batch": [' + b" " * (5 * 1024 * 1024) + b"]}")  # 5 MB of spaces in ~5 KB
    r = http.post("/v1/batch", content=bomb, headers=headers)
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"
    r = http.post("/v1/batch", content=body, headers={**headers, "Content-Encoding": "br"})
    assert r.status_code == 415 and r.json()["error"] == "unsupported_content_encoding"
    assert [row[2] for row in rejections(server)] == ["malformed_gzip", "malformed_gzip", "body_too_large",
                                                      "unsupported_content_encoding"]


@pytest.mark.parametrize(
    ("content", "ctype", "status", "reason"),
    [
        (b'{"event": "x"', "application/json", 400, "malformed_json"),
        (b"", "application/json", 400, "malformed_json"),
        (b"[1, 2]", "text/plain", 400, "body_not_an_object"),
        (b"event=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
def test_malformed_bodies_get_a_json_4xx_and_a_rejection(server, http, content, ctype, status, reason):
    r = http.post("/v1/track", content=content, headers={**basic(WEB_KEY), "Content-Type": ctype})
    assert r.status_code == status and r.json()["error"] == reason and r.json()["message"]
    assert [(s, st, rs) for s, st, rs, *_ in rejections(server)] == [("web", status, reason)]


def test_other_methods_are_refused_in_json(http):
    r = http.get("/v1/track")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"


# -- auth -----------------------------------------------------------------------------------------------------------

def test_the_write_key_as_basic_user_as_bearer_or_in_the_body(server, http):
    assert send(http, "/v1/track", {"userId": "u", "event": "basic"}, APP_KEY).status_code == 200
    assert send(http, "/v1/track", {"userId": "u", "event": "bearer"}, None,
                Authorization=f"Bearer {APP_KEY}").status_code == 200
    assert send(http, "/v1/track", {"userId": "u", "event": "body", "writeKey": APP_KEY}, None).status_code == 200
    r = send(http, "/v1/batch", {"writeKey": WEB_KEY, "batch": [{"type": "track", "userId": "u", "event": "batch"}]},
             None)
    assert r.status_code == 200
    assert [(e["source_id"], e["event_type"]) for e in events(server)] == [
        ("app", "basic"), ("app", "bearer"), ("app", "body"), ("web", "batch")]
    dump = json.dumps([list(map(str, r)) for r in server.sql("SELECT * FROM events")])
    assert APP_KEY not in dump and WEB_KEY not in dump and "writeKey" not in dump


@pytest.mark.parametrize(
    ("body", "headers", "reason", "source_id"),
    [
        ({"userId": "u", "event": "x"}, basic("wrong-key"), "unknown_write_key", None),
        ({"userId": "u", "event": "x", "writeKey": "wrong-key"}, {}, "unknown_write_key", None),
        ({"userId": "u", "event": "x"}, {}, "missing_write_key", None),
        ({"userId": "u", "event": "x"}, {"Authorization": "Basic %%%"}, "unknown_write_key", None),
        ({"userId": "u", "event": "x"}, {"Authorization": f"Token {WEB_KEY}"}, "unknown_write_key", None),
        ({"userId": "u", "event": "x"}, basic(OLD_KEY), "source_disabled", "old"),
        ({"userId": "u", "event": "x", "writeKey": OLD_KEY}, {}, "source_disabled", "old"),
    ],
)
def test_a_key_of_no_enabled_tracking_source_is_401_with_a_rejection(server, http, body, headers, reason, source_id):
    r = http.post("/v1/track", json=body, headers=headers)
    assert r.status_code == 401, r.text
    assert r.json()["error"] == reason and r.json()["status"] == 401 and r.json()["message"]
    assert WEB_KEY not in r.text and OLD_KEY not in r.text and "wrong-key" not in r.text
    assert server.sql("SELECT count(*) FROM events")[0][0] == 0
    [(sid, status, rs, _, excerpt, path)] = rejections(server)
    assert (sid, status, rs, path) == (source_id, 401, reason, "/v1/track")
    assert OLD_KEY not in excerpt and "wrong-key" not in excerpt


def test_collect_does_not_take_events_for_a_tracking_source(server, http):
    r = http.post("/collect/x/web", json={})
    assert r.status_code == 401 and r.json()["error"] == "not_a_push_source"


def test_write_keys_stay_out_of_the_sources_table_and_status(server, http):
    dump = json.dumps([list(map(str, r)) for r in server.sql("SELECT * FROM sources")])
    assert WEB_KEY not in dump and APP_KEY not in dump
    send(http, "/v1/track", {"userId": "u", "event": "x"})
    web = next(s for s in http.get("/status").json()["sources"] if s["source_id"] == "web")
    assert web["bridge"] == "tracking" and web["events"] == 1
    assert WEB_KEY not in http.get("/status").text


# -- the spec's required fields and limits --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        ("/v1/track", {"event": "x"}, "missing_id"),
        ("/v1/identify", {"userId": "", "anonymousId": None, "traits": {}}, "missing_id"),
        ("/v1/track", {"userId": "u"}, "missing_event"),
        ("/v1/track", {"userId": "u", "event": "  "}, "missing_event"),
        ("/v1/group", {"userId": "u"}, "missing_group_id"),
        ("/v1/alias", {"userId": "u"}, "missing_previous_id"),
        ("/v1/alias", {"previousId": "p", "anonymousId": "a"}, "missing_user_id"),
        ("/v1/track", {"userId": {"id": 1}, "event": "x"}, "invalid_id"),
        ("/v1/track", {"userId": "u" * 256, "event": "x"}, "invalid_id"),
        ("/v1/track", {"userId": "u", "event": "x", "properties": [1]}, "invalid_properties"),
        ("/v1/identify", {"userId": "u", "traits": "vip"}, "invalid_traits"),
        ("/v1/track", {"userId": "u", "event": "x", "context": "web"}, "invalid_context"),
        ("/v1/track", {"userId": "u", "event": "x", "timestamp": "yesterday"}, "invalid_timestamp"),
        ("/v1/track", {"userId": "u", "event": "x", "timestamp": 1700000000}, "invalid_timestamp"),
        ("/v1/track", {"userId": "u", "event": "x", "timestamp": "9999-12-31T23:00:00Z", "sentAt": "2001-01-01"},
         "invalid_timestamp"),
        ("/v1/track", {"userId": "u", "event": "x", "sentAt": "soon"}, "invalid_timestamp"),
        ("/v1/batch", {"batch": {"type": "track"}}, "invalid_batch"),
    ],
)
def test_messages_missing_what_the_spec_requires_get_400(server, http, path, body, reason):
    r = send(http, path, body)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == reason and r.json()["message"]
    assert server.sql("SELECT count(*) FROM events")[0][0] == 0
    [(sid, status, rs, size, excerpt, p)] = rejections(server)
    assert (sid, status, rs, p) == ("web", 400, reason, path)
    sent = r.request.content
    assert size == len(sent) and excerpt == sent[:256].decode()


def test_numeric_ids_are_taken_as_strings(server, http):
    assert send(http, "/v1/identify", {"userId": 12345, "anonymousId": 7, "traits": {}}).status_code == 200
    [event] = events(server)
    assert event["session_id"] == "7" and profile_of_user(server, "12345") == event["profile_id"]


def test_a_message_over_32_kb_is_400_and_a_batch_over_500_kb_is_413(server, http):
    def track(size: int) -> dict:
        base = {"userId": "u", "event": "big", "properties": {"pad": ""}}
        base["properties"]["pad"] = "x" * (size - len(compact(base)))
        assert len(compact(base)) == size
        return base

    assert send(http, "/v1/track", track(32 * 1024)).status_code == 200
    r = send(http, "/v1/track", track(32 * 1024 + 1))
    assert r.status_code == 400 and r.json()["error"] == "message_too_large"
    # a batch just under 500 KB of messages under 32 KB each is taken whole
    fits = {"batch": [{**track(30 * 1024), "type": "track"} for _ in range(16)]}
    assert len(compact(fits)) < 500 * 1024
    assert send(http, "/v1/batch", fits).status_code == 200
    over = {"batch": [{**track(30 * 1024), "type": "track"} for _ in range(17)]}
    assert len(compact(over)) > 500 * 1024
    r = send(http, "/v1/batch", over)
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"
    assert server.sql("SELECT count(*) FROM events")[0][0] == 17
    assert [(s, st, rs) for s, st, rs, *_ in rejections(server)] == [
        ("web", 400, "message_too_large"), ("web", 413, "body_too_large")]
    assert rejections(server)[1][3] == len(compact(over))


def test_a_batch_keeps_its_valid_messages_and_refuses_each_bad_one(server, http):
    batch = [
        {"type": "identify", "anonymousId": "mix", "userId": "mixed-user", "traits": {"name": "Ada"}},
        {"type": "track", "anonymousId": "mix", "properties": {"a": 1}},  # no event name
        {"type": "page", "anonymousId": "mix", "name": "Home"},
        "not an object",
        {"type": "launch", "anonymousId": "mix"},
        {"type": "track", "anonymousId": "mix", "event": "Big", "properties": {"pad": "x" * (33 * 1024)}},
        {"type": "screen", "userId": "mixed-user", "name": "Settings"},
        {"type": "track", "event": "Nobody"},
    ]
    r = send(http, "/v1/batch", {"batch": batch, "writeKey": WEB_KEY})
    assert r.status_code == 200
    answer = r.json()
    assert answer["success"] is True
    assert [(x["index"], x["error"]) for x in answer["rejected"]] == [
        (1, "missing_event"), (3, "message_not_an_object"), (4, "invalid_type"), (5, "message_too_large"),
        (7, "missing_id")]
    assert answer["rejected"][0]["message"].startswith("batch[1]: ")
    stored = events(server)
    assert [e["event_type"] for e in stored] == ["identify", "page", "screen"]
    assert len({e["profile_id"] for e in stored}) == 1
    rows = rejections(server)
    assert sorted((s, st, rs) for s, st, rs, *_ in rows) == sorted(
        ("web", 400, x["error"]) for x in answer["rejected"])
    launch = next(row for row in rows if row[2] == "invalid_type")
    assert launch[4] == '{"type":"launch","anonymousId":"mix"}' and launch[3] == len(launch[4])
    assert all(WEB_KEY not in row[4] for row in rows)


def test_an_empty_batch_is_fine(server, http):
    assert send(http, "/v1/batch", {"batch": []}).json() == {"success": True}


def test_a_track_events_type_is_its_name_as_sent(server, http):
    names = ["Order Completed", "Signed Up ✓", "checkout:step 2 / review", "x" * 300]
    for name in names:
        assert send(http, "/v1/track", {"userId": "u", "event": name}).status_code == 200
    assert [e["event_type"] for e in events(server)] == names
    assert server.sql("SELECT count(*) FROM events WHERE event_type = 'Order Completed'")[0][0] == 1


def test_batch_context_and_integrations_apply_to_every_message(server, http):
    body = {"context": {"library": {"name": "lib"}, "ip": "10.0.0.1"}, "integrations": {"All": False},
            "batch": [{"type": "track", "userId": "u", "event": "a"},
                      {"type": "track", "userId": "u", "event": "b", "context": {"ip": "10.0.0.2"}}]}
    send(http, "/v1/batch", body)
    first, second = (e["message"] for e in events(server))
    assert first["context"] == {"library": {"name": "lib"}, "ip": "10.0.0.1"}
    assert second["context"] == {"library": {"name": "lib"}, "ip": "10.0.0.2"}
    assert first["integrations"] == second["integrations"] == {"All": False}


def test_a_full_disk_answers_503_and_a_retry_stores_the_batch_once(server, http):
    spool = server.state.writer._spool
    body = {"batch": [{"type": "track", "userId": "u", "event": "Retried", "messageId": f"r-{i}"} for i in range(5)]}

    def disk_full(fd, data):
        raise OSError(28, "No space left on device")

    spool._write = disk_full
    try:
        r = send(http, "/v1/batch", body)
        assert r.status_code == 503 and r.json()["error"] == "store_unavailable"
        assert r.headers["Retry-After"] == "1" and r.headers["Access-Control-Allow-Origin"] == "*"
    finally:
        spool._write = os.write
    assert send(http, "/v1/batch", body).status_code == 200
    assert send(http, "/v1/batch", body).status_code == 200
    assert server.sql("SELECT count(*) FROM events")[0][0] == 5


# -- messageId ------------------------------------------------------------------------------------------------------

def test_the_same_message_id_from_one_source_is_stored_once(server, http):
    message = {"userId": "u", "event": "Paid", "messageId": "msg-1"}
    assert send(http, "/v1/track", message).json() == {"success": True}
    assert send(http, "/v1/track", message).json() == {"success": True}
    send(http, "/v1/batch", {"batch": [{**message, "type": "track"}, {**message, "type": "track"},
                                       {**message, "type": "track", "messageId": "msg-2"}]})
    send(http, "/v1/track", message, APP_KEY)  # the same id from another source is another message
    assert sorted((e["source_id"], e["message"]["messageId"]) for e in events(server)) == [
        ("app", "msg-1"), ("web", "msg-1"), ("web", "msg-2")]


async def test_concurrent_duplicate_message_ids_are_stored_once(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=20, headers=basic(WEB_KEY)) as client:
        singles = [client.post("/v1/track", json={"anonymousId": f"a{i % 3}", "event": "Hit",
                                                  "messageId": f"dup-{i % 5}"}) for i in range(60)]
        batches = [client.post("/v1/batch", json={"batch": [
            {"type": "track", "anonymousId": "a0", "event": "Hit", "messageId": f"dup-{(i + j) % 7}"}
            for j in range(10)]}) for i in range(20)]
        answers = await asyncio.gather(*singles, *batches)
    assert all(a.status_code == 200 for a in answers)
    assert server.sql("SELECT count(*), count(DISTINCT context->'message'->>'messageId') FROM events") == [(7, 7)]
    assert server.sql("SELECT count(*) FROM idempotency_keys WHERE source_id = 'web'")[0][0] == 7


def test_message_ids_survive_a_restart(config_path):
    message = {"userId": "u", "event": "Once", "messageId": "restart-1"}
    for _ in range(2):
        with InProcessServer(config_path) as srv, httpx.Client(base_url=srv.url) as client:
            assert send(client, "/v1/track", message).status_code == 200
            assert srv.sql("SELECT count(*) FROM events")[0][0] == 1


# -- timestamps -----------------------------------------------------------------------------------------------------

def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_occurred_at_is_the_timestamp_corrected_for_the_clients_clock_skew(server, http):
    now = datetime.now(UTC)
    happened = now - timedelta(hours=3)
    skew = timedelta(minutes=10)  # the device's clock is 10 minutes fast
    send(http, "/v1/track", {"userId": "u", "event": "plain", "timestamp": _iso(happened)})
    send(http, "/v1/track", {"userId": "u", "event": "skewed", "timestamp": _iso(happened + skew),
                             "sentAt": _iso(now + skew)})
    send(http, "/v1/batch", {"sentAt": _iso(now + skew), "batch": [
        {"type": "track", "userId": "u", "event": "batch-skewed", "timestamp": _iso(happened + skew)},
        {"type": "track", "userId": "u", "event": "original", "originalTimestamp": _iso(happened + skew)}]})
    send(http, "/v1/track", {"userId": "u", "event": "naive", "timestamp": "2024-03-01T10:00:00"})
    send(http, "/v1/track", {"userId": "u", "event": "offset", "timestamp": "2024-03-01T12:00:00.250+02:00"})
    send(http, "/v1/track", {"userId": "u", "event": "none", "sentAt": _iso(now - timedelta(days=1))})
    got = {e["event_type"]: e for e in events(server)}
    assert got["plain"]["occurred_at"] == happened.replace(microsecond=happened.microsecond // 1000 * 1000)
    for name in ("skewed", "batch-skewed", "original"):
        # the skew is measured against when the server received the request: within the test's own latency
        assert abs(got[name]["occurred_at"] - happened) < timedelta(seconds=2), name
        assert got[name]["occurred_at"] != got[name]["received_at"]
    assert got["naive"]["occurred_at"] == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert got["offset"]["occurred_at"] == datetime(2024, 3, 1, 10, 0, 0, 250000, tzinfo=UTC)
    assert got["none"]["occurred_at"] == got["none"]["received_at"]
    assert got["skewed"]["message"]["timestamp"] == _iso(happened + skew)  # what was sent is kept
    assert got["batch-skewed"]["message"]["sentAt"] == _iso(now + skew)


# -- identity -------------------------------------------------------------------------------------------------------

def test_an_anonymous_session_becomes_the_users_profile_on_every_device(server, http):
    first = send(http, "/v1/page", {"anonymousId": "laptop", "name": "Pricing"})
    assert first.status_code == 200
    [page] = events(server)
    profile = page["profile_id"]
    # identify on the same device: the session's profile becomes the user's
    send(http, "/v1/identify", {"anonymousId": "laptop", "userId": "user-42", "traits": {"email": "u@x.test"}})
    assert profile_of_user(server, "user-42") == profile
    # a message with only the user id, from another source (another device)
    send(http, "/v1/track", {"userId": "user-42", "event": "App Opened"}, APP_KEY)
    # a new device's session that carries the user id joins the same profile ...
    send(http, "/v1/screen", {"anonymousId": "phone", "userId": "user-42", "name": "Home"}, APP_KEY)
    # ... and so do its later anonymous messages (and collect events with that session id)
    send(http, "/v1/track", {"anonymousId": "phone", "event": "Logged Out"}, APP_KEY)
    assert http.post("/collect/tap/website/phone", json={}).json()["profile_id"] == profile
    got = events(server)
    assert [e["event_type"] for e in got] == ["page", "identify", "App Opened", "screen", "Logged Out", "tap"]
    assert {e["profile_id"] for e in got} == {profile}
    assert got[1]["properties"] == {"email": "u@x.test"}  # identify's traits are kept for mappings to use
    assert server.sql("SELECT session_id, profile_id::VARCHAR FROM sessions ORDER BY session_id") == [
        ("laptop", profile), ("phone", profile)]
    assert server.sql("SELECT count(*) FROM profiles")[0][0] == 1
    # another anonymous visitor is someone else
    send(http, "/v1/page", {"anonymousId": "stranger"})
    assert events(server, "session_id = 'stranger'")[0]["profile_id"] != profile


def test_a_user_seen_first_without_a_session_gets_a_profile_that_later_sessions_join(server, http):
    send(http, "/v1/identify", {"userId": "server-side", "traits": {"plan": "pro"}})
    profile = profile_of_user(server, "server-side")
    assert profile is not None
    assert server.sql("SELECT attributes FROM profiles WHERE profile_id = ?", [profile]) == [("{}",)]
    send(http, "/v1/batch", {"batch": [
        {"type": "identify", "userId": "server-side", "anonymousId": "browser"},
        {"type": "track", "anonymousId": "browser", "event": "Viewed"},
        {"type": "identify", "userId": "brand-new", "anonymousId": "tablet"},
        {"type": "track", "userId": "brand-new", "event": "Viewed"}]})
    got = events(server)
    assert [e["profile_id"] for e in got[:3]] == [profile] * 3
    assert got[3]["profile_id"] == got[4]["profile_id"] == profile_of_user(server, "brand-new") != profile
    assert server.sql("SELECT count(*) FROM profiles")[0][0] == 2
    assert server.sql("SELECT count(*) FROM sessions")[0][0] == 2


def test_alias_joins_the_previous_id_to_the_user_id(server, http):
    # a user id that changes: old-id -> new-id
    send(http, "/v1/identify", {"userId": "old-id", "anonymousId": "dev-1"})
    profile = profile_of_user(server, "old-id")
    send(http, "/v1/alias", {"previousId": "old-id", "userId": "new-id"})
    assert profile_of_user(server, "new-id") == profile
    send(http, "/v1/track", {"userId": "new-id", "event": "After Alias"}, APP_KEY)
    # an anonymous id aliased to a user id (the older mobile flow)
    send(http, "/v1/screen", {"anonymousId": "dev-2", "name": "Welcome"})
    anon_profile = events(server, "session_id = 'dev-2'")[0]["profile_id"]
    send(http, "/v1/a", {"previousId": "dev-2", "userId": "signed-up"})
    send(http, "/v1/track", {"userId": "signed-up", "event": "Subscribed"})
    # two ids never seen before
    send(http, "/v1/alias", {"previousId": "ghost-a", "userId": "ghost-b"})
    send(http, "/v1/track", {"userId": "ghost-a", "event": "Ghost"})
    got = {e["event_type"]: e for e in events(server)}
    assert got["After Alias"]["profile_id"] == profile
    assert got["Subscribed"]["profile_id"] == anon_profile == profile_of_user(server, "signed-up") != profile
    assert profile_of_user(server, "dev-2") is None  # known as a session: not made a user id
    assert got["Ghost"]["profile_id"] == profile_of_user(server, "ghost-b") == profile_of_user(server, "ghost-a")
    alias_rows = events(server, "event_type = 'alias'")
    assert [a["profile_id"] for a in alias_rows] == [profile, anon_profile, got["Ghost"]["profile_id"]]


def test_a_known_user_on_a_known_session_of_someone_else_keeps_both_profiles(server, http):
    """Profiles are not merged (a later issue): the user's profile wins for the message, the session keeps its own."""
    send(http, "/v1/identify", {"userId": "alice", "anonymousId": "shared-pc"})
    send(http, "/v1/page", {"anonymousId": "kiosk"})
    alice = profile_of_user(server, "alice")
    kiosk = events(server, "session_id = 'kiosk'")[0]["profile_id"]
    send(http, "/v1/track", {"userId": "alice", "anonymousId": "kiosk", "event": "Login"})
    send(http, "/v1/page", {"anonymousId": "kiosk", "name": "After"})
    got = {e["event_type"]: e["profile_id"] for e in events(server)}
    assert got["Login"] == alice and got["page"] == kiosk != alice


def test_identities_survive_a_restart(config_path):
    with InProcessServer(config_path) as srv, httpx.Client(base_url=srv.url) as client:
        send(client, "/v1/identify", {"userId": "persistent", "anonymousId": "first-device"})
        profile = profile_of_user(srv, "persistent")
    with InProcessServer(config_path) as srv, httpx.Client(base_url=srv.url) as client:
        send(client, "/v1/track", {"userId": "persistent", "anonymousId": "second-device", "event": "Back"})
        [back] = events(srv, "event_type = 'Back'")
        assert back["profile_id"] == profile
        assert srv.sql("SELECT profile_id::VARCHAR FROM sessions WHERE session_id = 'second-device'") == [(profile,)]


async def test_concurrent_first_messages_of_one_user_share_one_profile(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=20, headers=basic(WEB_KEY)) as client:
        answers = await asyncio.gather(*(client.post("/v1/track", json={
            "userId": "burst-user", "anonymousId": f"burst-{i % 4}", "event": "Hit"}) for i in range(40)))
    assert all(a.status_code == 200 for a in answers)
    assert server.sql("SELECT count(DISTINCT profile_id), count(*) FROM events") == [(1, 40)]
    assert server.sql("SELECT count(*) FROM identities")[0][0] == 1
    assert server.sql("SELECT count(*) FROM profiles")[0][0] == 1


async def test_identities_wait_in_the_spool_with_their_events_and_are_replayed_once(tmp_path):
    """The writer alone: ids resolved from memory while the store cannot take them in, then from the spool."""
    from engine.ids import new_id
    from engine.store import EventIn, StoreWriter, open_store, spool_dir

    path = tmp_path / "inlet.duckdb"

    def message(session=None, user=None, previous=None) -> EventIn:
        now = time.time_ns() // 1000
        return EventIn(new_id(), "web", "hit", now, now, session, "{}", "{}", user_id=user, previous_id=previous)

    con = open_store(path)
    writer = StoreWriter(con, spool_dir(path))
    writer.start()
    con.cursor().execute("ALTER TABLE ingest_state RENAME TO moved")
    sent = [message(user="u1"), message(session="s1", user="u1"), message(session="s2"),
            message(session="s2", user="u2"), message(user="u3", previous="u2"), message(user="u3"),
            message(previous="s3", user="u4")]
    answers = [await writer.write(m) for m in sent]
    p1, p2, p4 = answers[0].profile_id, answers[2].profile_id, answers[6].profile_id
    assert [a.profile_id for a in answers] == [p1, p1, p2, p2, p2, p2, p4] and len({p1, p2, p4}) == 3
    await asyncio.to_thread(writer.stop)  # cannot ingest: the records stay in the spool
    con.execute("ALTER TABLE moved RENAME TO ingest_state")
    assert con.execute("SELECT count(*) FROM identities").fetchone()[0] == 0
    con.close()

    for _ in range(2):  # the second start finds nothing left to take in
        con = open_store(path)
        writer = StoreWriter(con, spool_dir(path))
        writer.recover()
        assert con.execute("SELECT identity, profile_id::VARCHAR FROM identities ORDER BY 1").fetchall() == [
            ("s3", p4), ("u1", p1), ("u2", p2), ("u3", p2), ("u4", p4)]
        assert con.execute("SELECT session_id, profile_id::VARCHAR FROM sessions ORDER BY 1").fetchall() == [
            ("s1", p1), ("s2", p2)]
        assert sorted(r[0] for r in con.execute("SELECT profile_id::VARCHAR FROM profiles").fetchall()) == \
            sorted([p1, p2, p4])
        assert con.execute("SELECT profile_id::VARCHAR FROM events ORDER BY event_id").fetchall() == [
            (a.profile_id,) for a in answers]
        writer.stop()
        con.close()

    con = open_store(path)  # and a new process finds them in the store
    writer = StoreWriter(con, spool_dir(path))
    writer.start()
    try:
        again = await writer.write(message(session="s4", user="u3"))
        assert again.profile_id == p2
        await writer.flush()
        assert con.execute("SELECT profile_id::VARCHAR FROM sessions WHERE session_id = 's4'").fetchall() == [(p2,)]
        assert con.execute("SELECT count(*) FROM profiles").fetchone()[0] == 3
    finally:
        writer.stop()
        con.close()


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


@pytest.mark.parametrize("gzipped", [False, True])
def test_segment_analytics_python_end_to_end(server, monkeypatch, gzipped):
    from segment.analytics import Client, request

    urls = _only_to(server, monkeypatch, request)
    errors: list = []
    client = Client(WEB_KEY, host=server.url, gzip=gzipped, max_retries=1, upload_interval=0.05,
                    on_error=lambda exc, batch: errors.append(exc))
    try:
        _sdk_calls(client, "seg")
    finally:
        client.shutdown()
    assert not errors
    assert urls and all(u == f"{server.url}/v1/batch" for u in urls)
    _assert_sdk_events(server, "seg", "analytics-python")
    assert not rejections(server)


def test_customerio_cdp_analytics_end_to_end(server, monkeypatch):
    """Optional: customerio-cdp-analytics is not in the dev extra."""
    import customerio.analytics as analytics  # installed by `make test` (the dev extra): never skipped
    Client, request = analytics.Client, analytics.request

    urls = _only_to(server, monkeypatch, request)
    errors: list = []
    client = Client(WEB_KEY, host=server.url, max_retries=1, upload_interval=0.05,
                    on_error=lambda exc, batch: errors.append(exc))
    try:
        _sdk_calls(client, "cio")
    finally:
        client.shutdown()
    assert not errors
    assert urls and all(u == f"{server.url}/v1/batch" for u in urls)
    _assert_sdk_events(server, "cio", "analytics-python")


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
