"""The Segment-compatible tracking API (`tracking` bridge) over HTTP: calls, bodies, write keys, limits, messageId."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
from datetime import UTC, datetime

import httpx
import pytest

from tests.conftest import InProcessServer
from tests.tracking_api import (  # noqa: F401 (tracking_config_path: the config_path fixture)
    APP_KEY,
    OLD_KEY,
    WEB_KEY,
    basic,
    events,
    profile_of_user,
    rejections,
    send,
    tracking_config_path,
)

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
