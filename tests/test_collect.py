"""The collect webhooks, over real HTTP against the real app and a real store."""

from __future__ import annotations

import asyncio
import json
import os
import uuid

import httpx
import pytest


def stored(server, event_id: str) -> dict:
    row = server.sql(
        "SELECT source_id, event_type, profile_id::VARCHAR, session_id, properties, context FROM events "
        "WHERE event_id = ?", [event_id])
    assert len(row) == 1, row
    source_id, event_type, profile_id, session_id, properties, context = row[0]
    return {"source_id": source_id, "event_type": event_type, "profile_id": profile_id, "session_id": session_id,
            "properties": json.loads(properties), "context": json.loads(context)}


def rejections(server) -> list[tuple]:
    return server.sql("SELECT source_id, status, reason, size, excerpt FROM rejections ORDER BY received_at")


def test_get_stores_a_profileless_event_from_url_parameters(server, http):
    r = http.get("/collect/page-view/website", params=[("path", "/pricing"), ("tag", "a"), ("tag", "b")])
    assert r.status_code == 200
    answer = r.json()
    assert set(answer) == {"event_id", "source_id", "event_type", "profile_id", "session_id"}
    assert answer["source_id"] == "website" and answer["event_type"] == "page-view"
    assert answer["profile_id"] is None and answer["session_id"] is None
    assert uuid.UUID(answer["event_id"]).version == 7
    event = stored(server, answer["event_id"])
    assert event["properties"] == {"path": "/pricing", "tag": ["a", "b"]}
    assert event["profile_id"] is None


def test_json_body_keeps_nesting_and_types_and_wins_over_url_parameters(server, http):
    body = {"plan": "pro", "seats": 3, "trial": True, "flag": "true", "price": 9.5, "none": None,
            "utm": {"source": "ads", "terms": ["a", "b"]}, "big": 123456789012345678901234567890}
    r = http.post("/collect/signup/website?plan=free&ref=home", content=json.dumps(body),
                  headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200, r.text
    props = stored(server, r.json()["event_id"])["properties"]
    assert props == {**body, "ref": "home"}
    assert props["flag"] == "true" and props["trial"] is True


def test_vendor_json_media_types_and_form_bodies_are_accepted(server, http):
    r = http.post("/collect/x/website", content=b'{"a": 1}', headers={"Content-Type": "application/vnd.api+json"})
    assert stored(server, r.json()["event_id"])["properties"] == {"a": 1}
    r = http.post("/collect/newsletter/website?source=footer", data={"email": "ada@example.com", "source": "form"})
    assert r.status_code == 200
    assert stored(server, r.json()["event_id"])["properties"] == {"email": "ada@example.com", "source": "form"}
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    r = http.post("/collect/x/website", content=b"a=1&a=2&b=", headers=form)
    assert stored(server, r.json()["event_id"])["properties"] == {"a": ["1", "2"], "b": ""}


def test_a_session_resolves_to_one_profile_and_unknown_sessions_create_one(server, http):
    first = http.post("/collect/page-view/website/sess-1", json={}).json()
    second = http.get("/collect/click/website/sess-1").json()
    other = http.get("/collect/page-view/website/sess-2").json()
    assert first["profile_id"] and first["profile_id"] == second["profile_id"]
    assert other["profile_id"] not in (None, first["profile_id"])
    assert first["session_id"] == "sess-1"
    assert server.sql("SELECT count(*) FROM profiles")[0][0] == 2
    assert server.sql("SELECT session_id, profile_id::VARCHAR, source_id FROM sessions ORDER BY session_id") == [
        ("sess-1", first["profile_id"], "website"), ("sess-2", other["profile_id"], "website")]
    # the same session id sent by another source is the same visitor
    auth = {"Authorization": "Bearer s3cret-token"}
    assert http.post("/collect/app-open/app/sess-1", json={}, headers=auth).json()["profile_id"] == first["profile_id"]
    assert stored(server, second["event_id"])["profile_id"] == first["profile_id"]


async def test_concurrent_first_events_of_one_session_share_one_profile(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        answers = await asyncio.gather(*(client.get("/collect/hit/website/burst") for _ in range(40)))
    assert {a.json()["profile_id"] for a in answers} != {None}
    assert len({a.json()["profile_id"] for a in answers}) == 1
    assert server.sql("SELECT count(*) FROM sessions WHERE session_id = 'burst'")[0][0] == 1


@pytest.mark.parametrize(
    ("path", "headers", "reason"),
    [
        ("/collect/x/nosuch", {}, "unknown_source"),
        ("/collect/x/legacy", {}, "source_disabled"),
        ("/collect/x/app", {}, "missing_secret"),
        ("/collect/x/app", {"Authorization": "Bearer wrong"}, "wrong_secret"),
        ("/collect/x/app", {"Authorization": "Basic s3cret-token"}, "wrong_secret"),
    ],
)
def test_sources_that_may_not_send_get_401_with_the_reason(server, http, path, headers, reason):
    r = http.post(path, json={"a": 1}, headers=headers)
    assert r.status_code == 401
    body = r.json()
    assert body["error"] == reason and body["status"] == 401 and body["message"]
    for other in ("website", "legacy", "app"):  # never reveals which other sources exist
        assert other not in body["message"] or other in path
    assert "s3cret-token" not in r.text
    assert server.sql("SELECT count(*) FROM events")[0][0] == 0
    assert [(s, st, rs) for s, st, rs, _, _ in rejections(server)] == [(path.rsplit("/", 1)[1], 401, reason)]


def test_the_right_secret_is_accepted(server, http):
    r = http.post("/collect/app-open/app/dev-1", json={}, headers={"Authorization": "Bearer s3cret-token"})
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("path", "content", "ctype", "status", "reason"),
    [
        ("/collect/x/website", b'{"a": 1', "application/json", 400, "malformed_json"),
        ("/collect/x/website", b"\xff\xfe{}", "application/json", 400, "malformed_json"),
        ("/collect/x/website", b"[" * 5000 + b"]" * 5000, "application/json", 400, "malformed_json"),
        ("/collect/x/website", b'{"a": "\\ud800"}', "application/json", 400, "malformed_json"),
        ("/collect/x/website", b'{"a": 1e400}', "application/json", 400, "malformed_json"),
        ("/collect/x/website", b'{"a": NaN}', "application/json", 400, "malformed_json"),
        ("/collect/x/website", b"[1, 2]", "application/json", 400, "body_not_an_object"),
        ("/collect/x/website", b'"text"', "application/json", 400, "body_not_an_object"),
        ("/collect/x/website", b"a=\xff", "application/x-www-form-urlencoded", 400, "malformed_form"),
        ("/collect/x/website", b"<xml/>", "text/xml", 415, "unsupported_media_type"),
        ("/collect/bad type!/website", b"{}", "application/json", 400, "invalid_event_type"),
        ("/collect/" + "e" * 65 + "/website", b"{}", "application/json", 400, "invalid_event_type"),
        ("/collect/x/website/bad%20session", b"{}", "application/json", 400, "invalid_session_id"),
    ],
)
def test_bad_input_is_a_4xx_with_a_json_body_and_a_rejection_row(server, http, path, content, ctype, status, reason):
    r = http.post(path, content=content, headers={"Content-Type": ctype})
    assert r.status_code == status, r.text
    assert r.json()["error"] == reason and r.json()["message"]
    assert server.sql("SELECT count(*) FROM events")[0][0] == 0
    [(source_id, st, rs, size, excerpt)] = rejections(server)
    assert (source_id, st, rs) == ("website", status, reason)
    if reason in ("malformed_json", "body_not_an_object", "unsupported_media_type"):
        assert size == len(content)
        assert excerpt == content[:256].decode("utf-8", "replace")


def test_a_body_over_the_limit_is_413_whether_announced_or_streamed(server, http):
    big = b'{"a": "' + b"x" * (64 * 1024) + b'"}'
    r = http.post("/collect/x/website", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"

    def chunks():
        for _ in range(80):
            yield b"x" * 1024

    r = http.post("/collect/x/website", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert [(st, rs) for _, st, rs, _, _ in rejections(server)] == [(413, "body_too_large")] * 2
    sizes = [size for *_, size, _ in rejections(server)]
    assert sizes[0] == len(big) and sizes[1] > 64 * 1024
    # just under the limit is fine
    ok = b'{"a": "' + b"x" * (64 * 1024 - 20) + b'"}'
    assert http.post("/collect/x/website", content=ok, headers={"Content-Type": "application/json"}).status_code == 200


def test_idempotency_key_or_event_id_stores_once_and_answers_the_same(server, http):
    a = http.post("/collect/order/website/s1", json={"n": 1}, headers={"Idempotency-Key": "k-1"})
    b = http.post("/collect/order/website/s1", json={"n": 1}, headers={"Idempotency-Key": "k-1"})
    assert a.status_code == b.status_code == 200
    assert a.json() == b.json()
    assert b.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in a.headers
    c = http.post("/collect/order/website", json={"event_id": "evt-9", "n": 2})
    d = http.get("/collect/order/website", params={"event_id": "evt-9"})
    assert c.json() == d.json()
    # keys are per source: the same key on another source is another event
    e = http.post("/collect/order/app", json={"event_id": "evt-9"}, headers={"Authorization": "Bearer s3cret-token"})
    assert e.json()["event_id"] != c.json()["event_id"]
    assert server.sql("SELECT count(*) FROM events")[0][0] == 3


async def test_concurrent_duplicates_are_stored_once(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        answers = await asyncio.gather(*(
            client.post("/collect/order/website", json={"event_id": f"dup-{i % 5}"}) for i in range(100)))
    assert all(a.status_code == 200 for a in answers)
    assert len({a.json()["event_id"] for a in answers}) == 5
    assert server.sql("SELECT count(*) FROM events")[0][0] == 5


def test_idempotency_survives_a_restart(config_path, tmp_path):
    from tests.conftest import InProcessServer

    with InProcessServer(config_path) as srv, httpx.Client(base_url=srv.url) as client:
        first = client.post("/collect/order/website", json={"event_id": "once"}).json()
    with InProcessServer(config_path) as srv, httpx.Client(base_url=srv.url) as client:
        again = client.post("/collect/order/website", json={"event_id": "once"})
        assert again.json() == first and again.headers["Idempotent-Replayed"] == "true"
        assert srv.sql("SELECT count(*) FROM events")[0][0] == 1


def test_context_keeps_client_details_but_not_credentials(server, http):
    r = http.post("/collect/x/app/s", json={}, headers={
        "Authorization": "Bearer s3cret-token", "Cookie": "sid=abc", "User-Agent": "test-agent/1.0",
        "Referer": "https://example.com/page", "X-Custom": "kept"})
    context = stored(server, r.json()["event_id"])["context"]
    assert context["ip"] == "127.0.0.1"
    assert context["user_agent"] == "test-agent/1.0"
    assert context["referer"] == "https://example.com/page"
    assert context["headers"]["x-custom"] == "kept"
    assert "authorization" not in context["headers"] and "cookie" not in context["headers"]
    assert "s3cret-token" not in json.dumps(context) and "sid=abc" not in json.dumps(context)


async def test_many_concurrent_events_cost_few_spool_writes_and_fewer_transactions(server):
    writer = server.state.writer
    before_spool, before_tx = writer.spool_writes, writer.transactions
    pending = iter(range(400))

    async def connection() -> list[httpx.Response]:
        # 100 connections, a client each: one shared pool of 100 costs httpcore seconds of CPU for 400 requests
        async with httpx.AsyncClient(base_url=server.url, timeout=20, verify=False) as client:
            return [await client.post(f"/collect/hit/website/s{i % 7}", json={"i": i}) for i in pending]

    answers = [a for answers in await asyncio.gather(*(connection() for _ in range(100))) for a in answers]
    assert len(answers) == 400 and all(a.status_code == 200 for a in answers)
    async with httpx.AsyncClient(base_url=server.url) as client:
        website = next(s for s in (await client.get("/status")).json()["sources"] if s["source_id"] == "website")
    assert website["events"] == 400
    spooled, committed = writer.spool_writes - before_spool, writer.transactions - before_tx
    assert spooled <= 400
    assert committed < 100, f"{committed} DuckDB transactions for 400 concurrent events: ingestion is not batching"


def test_event_ids_sort_in_arrival_order(server, http):
    ids = [http.get("/collect/x/website").json()["event_id"] for _ in range(20)]
    assert ids == sorted(ids)
    assert [r[0] for r in server.sql("SELECT event_id::VARCHAR FROM events ORDER BY event_id")] == ids


def test_unknown_routes_and_methods_answer_json(http):
    r = http.get("/nope")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = http.put("/collect/x/website")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"


def test_a_full_disk_answers_503_and_nothing_is_acknowledged(server, http):
    spool = server.state.writer._spool

    def disk_full(fd, data):
        raise OSError(28, "No space left on device")

    spool._write = disk_full
    try:
        r = http.post("/collect/x/website/s1", json={})
        assert r.status_code == 503 and r.json()["error"] == "store_unavailable"
        assert r.headers["Retry-After"] == "1"
    finally:
        spool._write = os.write
    ok = http.post("/collect/x/website/s1", json={})
    assert ok.status_code == 200
    assert http.get("/status").status_code == 200
    assert server.sql("SELECT count(*) FROM events")[0][0] == 1


def test_a_store_that_cannot_take_events_in_keeps_acknowledging_and_catches_up(server, http):
    server.state.writer.flush_timeout = 0.5
    server.sql("ALTER TABLE ingest_state RENAME TO moved", flush=False)
    try:
        assert http.post("/collect/x/website", json={"n": 1}).status_code == 200  # durable in the spool
        behind = http.get("/status")
        assert behind.status_code == 503 and behind.json()["error"] == "store_behind"
    finally:
        server.sql("ALTER TABLE moved RENAME TO ingest_state", flush=False)
    server.state.writer.flush_timeout = 15
    assert http.get("/status").status_code == 200
    assert server.sql("SELECT properties FROM events") == [('{"n":1}',)]


def test_sources_table_mirrors_the_config_without_secrets(server):
    rows = server.sql("SELECT source_id, name, channel, bridge, enabled, settings, removed_at FROM sources "
                      "ORDER BY source_id")
    assert [(r[0], r[3], r[4]) for r in rows] == [("app", "webhook", True), ("legacy", "webhook", False),
                                                  ("website", "webhook", True)]
    assert all(r[6] is None for r in rows)
    dump = json.dumps([list(map(str, r)) for r in server.sql("SELECT * FROM sources")])
    assert "s3cret-token" not in dump


def test_status_endpoint_counts_per_source(server, http):
    http.get("/collect/x/website")
    http.get("/collect/x/nosuch")
    http.get("/collect/x/legacy")
    sources = {s["source_id"]: s for s in http.get("/status").json()["sources"]}
    assert sources["website"]["events"] == 1 and sources["website"]["last_event_at"].endswith("+00:00")
    assert sources["legacy"]["rejections"] == 1 and sources["legacy"]["enabled"] is False
    assert "nosuch" not in sources
    assert http.get("/healthz").json() == {"ok": True}
    assert http.get("/docs").status_code == 200
    paths = http.get("/openapi.json").json()["paths"]
    assert set(paths["/collect/{event_type}/{source_id}/{session_id}"]) == {"get", "post"}
    post = paths["/collect/{event_type}/{source_id}"]["post"]
    assert {"200", "400", "401", "413", "415", "503"} <= set(post["responses"])
    assert "/status" in paths and "/healthz" in paths
    assert {"/webhooks/{source_id}", "/v1/track", "/v1/batch", "/v1/t", "/v1/b"} <= set(paths)
    assert {"200", "401"} <= set(paths["/webhooks/{source_id}"]["post"]["responses"])


def test_a_sender_that_leaves_mid_body_stores_nothing_and_is_no_server_error(server, http, caplog):
    import socket

    with socket.create_connection(("127.0.0.1", server.state.config.server.port)) as raw:
        raw.sendall(b"POST /collect/x/website HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 100\r\n\r\n{\"a\": 1")
    assert http.get("/healthz").status_code == 200
    assert server.sql("SELECT count(*) FROM events")[0][0] == 0
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_the_sources_table_follows_the_config_at_every_start(tmp_path):
    from tests.conftest import InProcessServer, write_config

    first = write_config(tmp_path)
    with InProcessServer(first):
        pass
    second = write_config(tmp_path, sources=[
        {"id": "website", "name": "Marketing site", "channel": "web", "bridge": "webhook", "enabled": False},
        {"id": "shop", "name": "Shop", "channel": "web", "bridge": "webhook"},
    ])
    with InProcessServer(second) as srv:
        rows = {r[0]: r[1:] for r in srv.sql(
            "SELECT source_id, name, enabled, removed_at IS NOT NULL FROM sources ORDER BY 1")}
    assert rows == {"app": ("Mobile app", True, True), "legacy": ("Old site", False, True),
                    "shop": ("Shop", True, False), "website": ("Marketing site", False, False)}
