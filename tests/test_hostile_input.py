"""Hostile input over HTTP: JSON nested as deep as a parser goes, write keys spelled with JSON escapes, and refusals
while the disk is full. Each is a 4xx JSON answer (never a 500), and what is stored keeps no secret."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import logging
import os
import sys
import time

import pytest

from engine.jsonio import EXACT_DEPTH, MAX_DEPTH, PARSER_DEPTH, TooDeep, dumps, loads
from engine.server.tally import lost_rejections
from tests.conftest import write_config
from tests.tracking_api import WEB_KEY, basic, events

SECRET = "whsec_hostile_test"
SOURCES = [
    {"id": "website", "name": "Website", "channel": "web", "bridge": "webhook"},
    {"id": "app", "name": "Mobile app", "channel": "mobile", "bridge": "webhook", "secret": "s3cret-token"},
    {"id": "web", "name": "Tracked", "channel": "web", "bridge": "tracking", "write_key": WEB_KEY},
    {"id": "news", "name": "Newsletter", "channel": "email", "bridge": "redirect",
     "links": {"home": {"url": "https://example.com/"}}},
    {"id": "billing", "name": "Stripe", "channel": "billing", "bridge": "stripe", "api_key": "sk_test_hostile",
     "webhook_secret": SECRET, "base_url": "http://127.0.0.1:9", "objects": ["customers"]},
]
BIG = 123456789012345678901234567890  # beyond 64 bits: the body is read a second time to keep it exact
JSON = {"Content-Type": "application/json"}


@pytest.fixture(name="config_path")
def hostile_config_path(tmp_path):
    return write_config(tmp_path, sources=SOURCES)


def fill(template: str, **parts) -> str:
    """`template` with each `<name>` replaced by str(parts[name])."""
    for name, value in parts.items():
        template = template.replace(f"<{name}>", str(value))
    return template


def nested(depth: int, leaf: str = "1") -> str:
    """`depth` arrays, one inside the other, around `leaf`."""
    return "[" * depth + leaf + "]" * depth


def deep_value(depth: int):
    """The same as a Python value, built without recursion."""
    value = inner = []
    for _ in range(depth - 1):
        inner.append([])
        inner = inner[0]
    return value


def rejections(server) -> list[tuple]:
    return server.sql("SELECT source_id, status, reason, size, excerpt, path FROM rejections ORDER BY received_at")


def assert_no_500(r) -> None:
    assert r.status_code < 500, r.text
    assert "Traceback" not in r.text


# -- (5) nesting as deep as a parser goes ---------------------------------------------------------------------------

def test_loads_refuses_what_nests_too_deep_with_a_value_error():
    assert loads(nested(MAX_DEPTH - 1, "{}")) == loads(nested(MAX_DEPTH - 1, "{}"), PARSER_DEPTH)
    for depth in (MAX_DEPTH + 1, 960, 1000, 1023, 1024):
        for leaf in ("1", str(BIG)):
            with pytest.raises(TooDeep, match=f"deeper than {MAX_DEPTH} levels"):
                loads(nested(depth, leaf))
    with pytest.raises(ValueError, match="depth"):  # beyond orjson's own limit
        loads(nested(PARSER_DEPTH + 1), PARSER_DEPTH)
    assert depth_of(loads(nested(PARSER_DEPTH), PARSER_DEPTH)) == PARSER_DEPTH  # orjson takes 1,024 levels
    # a long digit run sends the body to the standard library's reader: kept exact within EXACT_DEPTH only
    leaf = loads(nested(EXACT_DEPTH, str(BIG)), PARSER_DEPTH)
    for _ in range(EXACT_DEPTH):
        leaf = leaf[0]
    assert leaf == BIG and isinstance(leaf, int)
    with pytest.raises(TooDeep, match=f"at most {EXACT_DEPTH} levels"):
        loads(nested(EXACT_DEPTH + 1, str(BIG)), PARSER_DEPTH)
    # strings full of brackets are not nesting
    assert loads(json.dumps({"text": "[{" * 500, "n": BIG})) == {"text": "[{" * 500, "n": BIG}


def depth_of(value) -> int:
    depth = 0
    while isinstance(value, list):
        depth, value = depth + 1, value[0] if value else None
    return depth


def test_loads_and_dumps_raise_value_errors_however_little_stack_is_left():
    body = nested(EXACT_DEPTH, str(BIG))

    def with_stack_used(frames: int, fn):
        return fn() if frames == 0 else with_stack_used(frames - 1, fn)

    frames = sys.getrecursionlimit() - EXACT_DEPTH // 2  # leaves the reader less stack than the body needs
    with pytest.raises(TooDeep):
        with_stack_used(frames, lambda: loads(body, PARSER_DEPTH))
    with pytest.raises(TooDeep):
        with_stack_used(frames, lambda: dumps(deep_value(EXACT_DEPTH)))


def test_dumps_writes_what_orjson_does_not_and_refuses_what_it_cannot():
    assert json.loads(dumps(deep_value(300))) == deep_value(300)  # beyond orjson's 254 levels
    assert dumps({"n": BIG}) == f'{{"n":{BIG}}}'
    with pytest.raises(TooDeep):
        dumps(deep_value(5000))
    with pytest.raises(TypeError):
        dumps({"n": object()})


DEPTHS = [MAX_DEPTH + 1, 960, 1000, 1023, 1024, 1025, 5000]


@pytest.mark.parametrize("leaf", ["1", str(BIG)], ids=["small-int", "long-digits"])
@pytest.mark.parametrize("depth", DEPTHS)
def test_deep_json_to_collect_is_400_malformed_json_with_a_rejection(server, http, depth, leaf):
    body = ('{"a": ' + nested(depth - 1, leaf) + "}").encode()
    r = http.post("/collect/x/website", content=body, headers=JSON)
    assert_no_500(r)
    assert r.status_code == 400 and r.json()["error"] == "malformed_json", r.text
    assert r.json()["message"].startswith("the body cannot be read as JSON: ")
    [(source_id, status, reason, size, excerpt, _)] = rejections(server)
    assert (source_id, status, reason, size) == ("website", 400, "malformed_json", len(body))
    assert excerpt == body[:256].decode()
    assert server.sql("SELECT count(*) FROM events")[0][0] == 0


@pytest.mark.parametrize("leaf", ["1", str(BIG)], ids=["small-int", "long-digits"])
@pytest.mark.parametrize("depth", DEPTHS)
def test_a_deep_tracking_call_is_400_malformed_json_with_a_rejection(server, http, depth, leaf):
    body = ('{"userId": "u", "event": "x", "properties": {"a": ' + nested(depth - 2, leaf) + "}}").encode()
    r = http.post("/v1/track", content=body, headers={**basic(WEB_KEY), **JSON})
    assert_no_500(r)
    assert r.status_code == 400 and r.json()["error"] == "malformed_json", r.text
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    [(source_id, status, reason, size, excerpt, _)] = rejections(server)
    assert (source_id, status, reason, size) == ("web", 400, "malformed_json", len(body))
    assert excerpt == body[:256].decode()


def test_a_tracking_call_at_the_depth_limit_is_stored(server, http):
    body = '{"userId": "u", "event": "x", "properties": {"a": ' + nested(MAX_DEPTH - 3, str(BIG)) + "}}"
    r = http.post("/v1/track", content=body, headers={**basic(WEB_KEY), **JSON})
    assert r.status_code == 200, r.text
    [event] = events(server)
    assert event["properties"] == json.loads(body)["properties"]


@pytest.mark.parametrize(("body", "why"), [
    ('{"batch": [' + nested(PARSER_DEPTH - 1) + "]}", "depth"),  # beyond what any parser here reads
    (fill('{"batch": [{"type": "track", "userId": "u", "event": "x", "properties": {"n": <n>}}, <deep>]}',
          n=BIG, deep=nested(EXACT_DEPTH)), f"at most {EXACT_DEPTH} levels"),  # long digits: beyond the exact reader
    (fill('{"context": {"a": <deep>}, "batch": [{"type": "track", "userId": "u", "event": "x"}]}',
          deep=nested(MAX_DEPTH)), "around `batch`"),  # the batch's context goes into every message
])
def test_a_batch_that_cannot_be_read_is_refused_whole_with_400(server, http, body, why):
    r = http.post("/v1/batch", content=body, headers={**basic(WEB_KEY), **JSON})
    assert_no_500(r)
    assert r.status_code == 400 and r.json()["error"] == "malformed_json" and why in r.json()["message"], r.text
    [(source_id, status, reason, size, _, path)] = rejections(server)
    assert (source_id, status, reason, size, path) == ("web", 400, "malformed_json", len(body), "/v1/batch")
    assert server.sql("SELECT count(*) FROM events")[0][0] == 0


def test_a_deep_message_in_a_batch_is_refused_alone(server, http):
    good = {"type": "track", "userId": "u", "event": "Kept"}
    deep = '{"type": "track", "userId": "u", "event": "Deep", "properties": {"a": %s}}'
    messages = [json.dumps(good), deep % nested(MAX_DEPTH - 1), deep % nested(1000), nested(PARSER_DEPTH - 2),
                json.dumps({**good, "properties": {"a": deep_value(MAX_DEPTH - 2)}}), json.dumps(good)]
    body = '{"batch": [' + ", ".join(messages) + "]}"
    r = http.post("/v1/batch", content=body, headers={**basic(WEB_KEY), **JSON})
    assert r.status_code == 200, r.text
    assert [(x["index"], x["error"]) for x in r.json()["rejected"]] == [(1, "malformed_json"), (2, "malformed_json"),
                                                                      (3, "malformed_json")]
    assert f"deeper than {MAX_DEPTH} levels" in r.json()["rejected"][0]["message"]
    assert [e["event_type"] for e in events(server)] == ["Kept", "Kept", "Kept"]
    rows = rejections(server)
    assert sorted((s, st, rs, ex) for s, st, rs, _, ex, _ in rows) == [("web", 400, "malformed_json", "")] * 3


def test_a_deep_message_beside_long_digits_is_refused_alone_and_the_rest_kept_exact(server, http):
    deep = fill('{"type": "track", "userId": "u", "event": "Deep", "properties": {"n": <n>, "a": <deep>}}',
                n=BIG, deep=nested(300))
    body = fill('{"batch": [{"type": "track", "userId": "u", "event": "Exact", "properties": {"n": <n>}}, <deep>]}',
                n=BIG, deep=deep)
    r = http.post("/v1/batch", content=body, headers={**basic(WEB_KEY), **JSON})
    assert r.status_code == 200, r.text
    assert [(x["index"], x["error"]) for x in r.json()["rejected"]] == [(1, "malformed_json")]
    [event] = events(server)
    assert event["event_type"] == "Exact" and event["properties"] == {"n": BIG}


def stripe_signed(body: bytes) -> dict:
    t = int(time.time())
    mac = hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={t},v1={mac}", **JSON}


@pytest.mark.parametrize("depth", [300, 1000, 5000])  # the store writes objects with orjson (at most 254 levels)
def test_a_deep_signed_vendor_delivery_is_no_server_error(server, http, depth):
    body = fill('{"id": "evt_deep", "type": "customer.updated", "created": 1700000000, "data": {"object": '
                '{"id": "cus_deep", "object": "customer", "metadata": {"a": <deep>}}}}',
                deep=nested(depth - 5)).encode()
    r = http.post("/webhooks/billing", content=body, headers=stripe_signed(body))
    assert_no_500(r)
    assert r.status_code == 400 and r.json()["error"] == "malformed_delivery", r.text
    assert [row[:3] for row in rejections(server)] == [("billing", 400, "malformed_delivery")]


# -- (7) write keys spelled with JSON escapes -----------------------------------------------------------------------

KEY_NAMES = ["write\\u004bey", "write\\u004Bey", "\\u0077riteKey", "wr\\u0069te\\u004bey",
             "".join(f"\\u{ord(c):04x}" for c in "writeKey")]
KEY_VALUES = [WEB_KEY, WEB_KEY.replace("web", "w\\u0065b"), "".join(f"\\u{ord(c):04X}" for c in WEB_KEY)]


def assert_secret_free(server, *secrets: str) -> None:
    dump = json.dumps([list(map(str, row)) for row in server.sql("SELECT * FROM rejections")])
    for secret in secrets:
        assert secret not in dump
        assert secret.replace("web", "w\\u0065b") not in dump


@pytest.mark.parametrize("value", KEY_VALUES, ids=["plain", "one-escape", "all-escaped"])
@pytest.mark.parametrize("name", KEY_NAMES)
def test_an_escaped_write_key_in_a_refused_call_is_not_stored(server, http, name, value):
    body = fill('{"<name>": "<value>", "event": "x", "properties": {"plan": "pro"}}', name=name, value=value)
    r = http.post("/v1/track", content=body, headers=JSON)
    assert r.status_code == 400 and r.json()["error"] == "missing_id", r.text
    [(source_id, _, _, size, excerpt, _)] = rejections(server)
    assert source_id == "web" and size == len(body)
    assert json.loads(excerpt) == {"writeKey": "***", "event": "x", "properties": {"plan": "pro"}}
    assert_secret_free(server, WEB_KEY, value)


@pytest.mark.parametrize("name", KEY_NAMES)
def test_an_escaped_write_key_of_no_source_is_not_stored(server, http, name):
    for body in (fill('{"<name>": "wrong-key-1234", "userId": "u", "event": "x"}', name=name),
                 fill('{"<name>": "<key>", "writeKey": "wrong-key-1234", "userId": "u", "event": "x"}', name=name,
                      key=WEB_KEY)):
        r = http.post("/v1/track", content=body, headers=JSON)
        assert r.status_code == 401 and r.json()["error"] == "unknown_write_key", r.text
    assert [row[2] for row in rejections(server)] == ["unknown_write_key"] * 2
    assert_secret_free(server, WEB_KEY, "wrong-key-1234")


@pytest.mark.parametrize("name", KEY_NAMES)
def test_escaped_write_keys_in_a_batch_are_not_stored(server, http, name):
    bodies = [
        fill('{"<name>": "<key>", "batch": [{"type": "track", "event": "x", "<name>": "<key>"}]}', name=name,
             key=WEB_KEY),
        fill('{"<name>": "<key>", "batch": "not a list"}', name=name, key=WEB_KEY),
    ]
    first = http.post("/v1/batch", content=bodies[0], headers=JSON)
    assert [x["error"] for x in first.json()["rejected"]] == ["missing_id"]
    second = http.post("/v1/batch", content=bodies[1], headers=JSON)
    assert second.status_code == 400 and second.json()["error"] == "invalid_batch"
    rows = rejections(server)
    assert [(row[0], row[2]) for row in rows] == [("web", "missing_id"), ("web", "invalid_batch")]
    assert json.loads(rows[0][4]) == {"type": "track", "event": "x", "writeKey": "***"}
    assert json.loads(rows[1][4]) == {"writeKey": "***", "batch": "not a list"}
    assert_secret_free(server, WEB_KEY)


@pytest.mark.parametrize(("body", "kept"), [
    (fill('{"write\\u004bey": "<key>", "userId": "u", "event": ', key=WEB_KEY).encode(), False),  # cut short
    (fill('{"writeKey" "<key>", "userId": "u"}', key=WEB_KEY).encode(), False),  # no colon for a pattern to find
    (fill('{"\\u0077riteKey": "<key>", "userId": "u", "event": "x", "n": NaN}', key=WEB_KEY).encode(), False),
    (b'{"userId": "u\\n", "event": "x"', True),  # no key in any spelling: the excerpt shows what was sent
    (b'{"userId": "\\\\u0077riteKey", "event": "x"', True),  # an escaped backslash, then plain text
])
def test_an_unreadable_body_that_may_hold_a_key_keeps_no_excerpt(server, http, body, kept):
    r = http.post("/v1/track", content=body, headers={**basic(WEB_KEY), **JSON})
    assert r.status_code == 400 and r.json()["error"] == "malformed_json", r.text
    [(source_id, _, _, size, excerpt, _)] = rejections(server)
    assert source_id == "web" and size == len(body)
    assert excerpt == (body.decode() if kept else "")
    assert_secret_free(server, WEB_KEY)


def test_other_refused_bodies_keep_no_key(server, http):
    array = fill('[{"write\\u004bey": "<key>", "event": "x"}]', key=WEB_KEY).encode()
    r = http.post("/v1/track", content=array, headers={**basic(WEB_KEY), **JSON})
    assert r.status_code == 400 and r.json()["error"] == "body_not_an_object"
    zipped = gzip.compress(fill('{"writeKey": "<key>", "userId": "u", "event": "x"}', key=WEB_KEY).encode(),
                           compresslevel=0)
    gz = {**basic(WEB_KEY), **JSON, "Content-Encoding": "gzip"}
    r = http.post("/v1/track", content=zipped[:-10], headers=gz)  # truncated: stored blocks show the key in clear
    assert r.status_code == 400 and r.json()["error"] == "malformed_gzip"
    r = http.post("/v1/track", content=zipped, headers={**gz, "Content-Encoding": "br"})
    assert r.status_code == 415
    rows = rejections(server)
    assert [row[2] for row in rows] == ["body_not_an_object", "malformed_gzip", "unsupported_content_encoding"]
    assert json.loads(rows[0][4]) == [{"writeKey": "***", "event": "x"}]
    assert rows[1][4] == rows[2][4] == ""
    assert_secret_free(server, WEB_KEY)


def test_collect_secrets_stay_in_the_header_and_out_of_rejections(server, http):
    for headers in ({"Authorization": "Bearer wrong-s3cret"}, {"Authorization": "Basic s3cret-token"}):
        r = http.post("/collect/x/app", json={"a": 1}, headers=headers)
        assert r.status_code == 401
    assert [row[2] for row in rejections(server)] == ["wrong_secret", "wrong_secret"]
    assert_secret_free(server, "s3cret-token", "wrong-s3cret")


# -- (8) refusals while the disk is full ----------------------------------------------------------------------------

def refusals_while_the_disk_is_full(http) -> list[tuple[int, object]]:
    """(status wanted, response) for a refusal on every route that refuses."""
    track = {**basic(WEB_KEY), **JSON}
    return [
        (401, http.post("/collect/x/nosuch", json={})),
        (401, http.post("/collect/x/app", json={})),
        (400, http.post("/collect/x/website", content=b'{"a": ', headers=JSON)),
        (400, http.post("/collect/x/website", content=nested(2000).encode(), headers=JSON)),
        (413, http.post("/collect/x/website", content=b"x" * (2 << 20), headers=JSON)),
        (401, http.post("/v1/track", json={"userId": "u", "event": "x"}, headers=basic("wrong-key"))),
        (400, http.post("/v1/track", json={"event": "x"}, headers=basic(WEB_KEY))),
        (400, http.post("/v1/track", content=nested(2000), headers=track)),
        (200, http.post("/v1/batch", json={"batch": [{"type": "track", "event": "no id"}, "x"]}, headers=track)),
        (401, http.post("/webhooks/nosuch", content=b"{}", headers=JSON)),
        (401, http.post("/webhooks/billing", content=b"{}", headers=JSON)),
        (404, http.get("/r/news/nosuch")),
        (404, http.get("/r/elsewhere")),
        (200, http.get("/pixel/open/nosuch")),
    ]


def test_refusals_answer_their_own_status_while_the_disk_is_full(server, http, caplog):
    spool = server.state.writer._spool

    def disk_full(fd, data):
        raise OSError(28, "No space left on device")

    spool._write = disk_full
    try:
        with caplog.at_level(logging.ERROR, logger="inlet.server"):
            answers = refusals_while_the_disk_is_full(http)
            accepted = http.post("/collect/x/website", json={"a": 1})
    finally:
        spool._write = os.write
    for status, r in answers:
        assert r.status_code == status, (r.request.url, r.status_code, r.text)
    for _, r in answers[:-1]:
        assert r.headers["content-type"].startswith(("application/json", "text/plain"))
    assert answers[-1][1].headers["content-type"] == "image/gif"
    assert accepted.status_code == 503 and accepted.json()["error"] == "store_unavailable"  # events are not refusals
    lost = len(answers) + 1  # the batch refused two messages
    assert server.state.rejections_lost.count == lost
    assert server.state.counters() == {"rejections_lost": lost}
    lines = [r.getMessage() for r in caplog.records if "could not be recorded" in r.getMessage()]
    assert len(lines) == 1 and "No space left on device" in lines[0] and "401 unknown_source" in lines[0]
    assert WEB_KEY not in caplog.text and "wrong-key" not in caplog.text

    assert http.post("/collect/x/nosuch", json={}).status_code == 401  # the disk has room again
    assert [(row[0], row[2]) for row in rejections(server)] == [("nosuch", "unknown_source")]
    assert server.state.rejections_lost.count == lost
    assert http.post("/collect/x/website", json={"a": 1}).status_code == 200


def test_lost_rejections_are_logged_at_most_once_a_minute(caplog):
    now = [1000.0]
    lost = lost_rejections(clock=lambda: now[0])
    with caplog.at_level(logging.ERROR, logger="inlet.server"):
        for at in (1000.0, 1001.0, 1030.0, 1059.9, 1060.0, 1061.0, 2000.0):
            now[0] = at
            lost.add(OSError(28, "No space left on device"), 401, "unknown_source")
    assert lost.count == 7
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert lines[0].startswith("1 refused request(s)") and "1 lost since start" in lines[0]
    assert lines[1].startswith("4 refused request(s)") and "5 lost since start" in lines[1]
    assert lines[2].startswith("2 refused request(s)") and "7 lost since start" in lines[2]
