"""Per-source rate limits (issue 24): a token bucket per push source, counted in events, applied before anything is
stored; refusals under a flood counted in one `rejections` row per source, reason and second. The buckets and the
per-second rows run on clocks the tests move by hand where they can."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import duckdb
import httpx
import pytest

from engine.config import load_config
from engine.console.routes import render_overview
from engine.policy.bucket import TokenBucket, retry_after
from engine.policy.policies import Policies
from engine.policy.rollup import RefusalRollup
from engine.store import RejectionIn, StoreUnavailable, open_store
from engine.store.ingest import Batch
from engine.store.schema import MIGRATIONS
from tests.clocks import T0, Clock
from tests.conftest import InProcessServer, write_config
from tests.tracking_api import basic

WRITE_KEY = "wk-limits-0123456789"
SOURCES = [
    {"id": "website", "name": "Website", "channel": "web", "bridge": "webhook",
     "rate_limit": {"events": 1, "per": "10s", "burst": 3}},
    {"id": "free", "name": "No limit", "channel": "web", "bridge": "webhook"},
    {"id": "app", "name": "App", "channel": "mobile", "bridge": "tracking", "write_key": WRITE_KEY,
     "rate_limit": {"events": 10, "per": "1m"}},
    {"id": "mail", "name": "Newsletter", "channel": "email", "bridge": "redirect",
     "links": {"sale": {"url": "https://shop.example.test/sale"}}, "rate_limit": {"events": 1, "per": "1h"}},
]


# -- the bucket and the per-second rows, alone ------------------------------------------------------------------

def test_the_bucket_holds_its_burst_refills_at_its_rate_and_says_how_long_to_wait():
    clock = Clock()
    bucket = TokenBucket(rate=0.1, burst=3, clock=clock)  # 1 event per 10 s
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(10.0)
    clock.advance(4)
    assert bucket.wait() == pytest.approx(6.0) and bucket.take() == pytest.approx(6.0)  # refused: nothing taken
    clock.advance(6)
    assert bucket.take() == 0.0 and bucket.take() == pytest.approx(10.0)
    clock.advance(3600)  # refills up to the burst, not beyond
    assert [bucket.take() for _ in range(4)][-1] == pytest.approx(10.0)
    assert (retry_after(0.2), retry_after(10.0), retry_after(10.01)) == (1, 10, 11)


def test_a_request_bigger_than_the_burst_passes_on_a_full_bucket_and_leaves_it_in_debt():
    clock = Clock()
    bucket = TokenBucket(rate=1.0, burst=10, clock=clock)
    assert bucket.take(25) == 0.0
    assert bucket.take(1) == pytest.approx(16.0)  # 15 in debt, then 1 more
    clock.advance(16)
    assert bucket.take(1) == 0.0


async def test_refusals_are_counted_in_one_row_per_source_reason_and_second():
    wall, written, lost = Clock(T0), [], []

    async def write(rows):
        written.extend(rows)

    rollup = RefusalRollup(write, lambda exc, row: lost.append(row), clock=wall)
    for _ in range(5):
        rollup.add("a", 429, "rate_limited", "POST", "/collect/x/a", 10, "{}")
    rollup.add("b", 429, "rate_limited", "GET", "/r/b/l", 0, "{}")
    wall.advance(1)
    rollup.add("a", 429, "rate_limited", "POST", "/collect/y/a", 7, "{}")
    assert rollup.pending() == 7
    await rollup.flush()  # the seconds that are over
    assert [(r.source_id, r.count, r.size, r.received_us, r.path) for r in written] == [
        ("a", 5, 50, int(T0) * 1_000_000, "/collect/x/a"), ("b", 1, 0, int(T0) * 1_000_000, "/r/b/l")]
    await rollup.close()  # at shutdown, the second still going too
    assert [(r.source_id, r.count, r.received_us) for r in written[2:]] == [("a", 1, (int(T0) + 1) * 1_000_000)]
    assert rollup.pending() == 0 and lost == []

    async def full(rows):
        raise StoreUnavailable("disk full")

    failing = RefusalRollup(full, lambda exc, row: lost.append(row), clock=wall)
    failing.add("a", 429, "rate_limited", "POST", "/p", 0, "{}")
    await failing.close()
    assert [r.count for r in lost] == [1]


def test_a_reload_keeps_a_bucket_whose_limit_did_not_change(tmp_path):
    path = write_config(tmp_path, sources=SOURCES)
    config = load_config(path)
    policies = Policies(config, RefusalRollup(None, None))
    website, app = policies.of("website").bucket, policies.of("app").bucket
    assert policies.of("free") is None
    changed = [dict(s, rate_limit={"events": 2, "per": "1s"}) if s["id"] == "app" else s for s in SOURCES]
    policies.apply(load_config(write_config(tmp_path, sources=changed)))
    assert policies.of("website").bucket is website
    assert policies.of("app").bucket is not app and policies.of("app").bucket.rate == 2.0


def test_rejection_rows_spooled_before_the_count_column_still_go_in(tmp_path):
    old = ["id", "a", 1, "GET", "/x", 400, "bad", 0, "", "{}"]  # ten columns, as an older inlet spooled them
    batch = Batch.of(1, {"rj": [old, [*old[:9], "{}", 4]]})
    assert [row[-1] for row in batch.rows["rejections"]] == [1, 4]
    store = tmp_path / "inlet.duckdb"
    con = open_store(store, migrations=MIGRATIONS[:6])
    con.execute("INSERT INTO rejections VALUES (uuidv7(), 'a', now(), 'GET', '/x', 400, 'bad', 0, '', '{}')")
    con.close()
    con = open_store(store)
    assert con.execute("SELECT count FROM rejections").fetchall() == [(1,)]
    con.close()


# -- against the server -----------------------------------------------------------------------------------------

@pytest.fixture
def server(tmp_path):
    with InProcessServer(write_config(tmp_path, sources=SOURCES)) as srv:
        yield srv


@pytest.fixture
def clocks(server):
    """The server's buckets and per-second rows on clocks the test moves: (monotonic, wall)."""
    mono, wall = Clock(1000.0), Clock(T0)
    for policy in server.state.policy.sources.values():
        policy.bucket = TokenBucket(policy.limit.per_second, policy.limit.capacity, mono)
    server.state.policy.rollup.clock = wall
    return mono, wall


def flush_refusals(server) -> None:
    """Write the rows of the seconds that are over, as the server does a moment after each second."""
    asyncio.run_coroutine_threadsafe(server.state.policy.rollup.flush(), server.state.writer._loop).result(30)


def limited(server) -> list[tuple]:
    return server.sql("SELECT source_id, status, epoch(received_at)::BIGINT, count, method FROM rejections "
                      "WHERE reason = 'rate_limited' ORDER BY received_at, source_id")


def stored(server, source_id: str) -> int:
    return server.sql("SELECT count(*) FROM events WHERE source_id = ?", [source_id])[0][0]


def test_a_flood_gets_429s_with_retry_after_counted_per_second_and_the_bucket_refills(server, http, clocks):
    mono, wall = clocks
    answers = [http.post("/collect/signup/website", json={"n": i}) for i in range(10)]
    assert [a.status_code for a in answers] == [200] * 3 + [429] * 7
    refused = answers[3]
    assert refused.json() == {"error": "rate_limited", "status": 429,
                              "message": "source 'website' is over its rate limit; send again in 10 s"}
    assert {a.headers["retry-after"] for a in answers[3:]} == {"10"}
    assert stored(server, "website") == 3
    assert http.get("/collect/x/free").status_code == 200  # another source's limit is its own

    flush_refusals(server)
    assert limited(server) == []  # the second is not over
    wall.advance(1)
    flush_refusals(server)
    assert limited(server) == [("website", 429, int(T0), 7, "POST")]  # one row for the second, with its count
    assert [http.get("/collect/x/website").status_code for _ in range(2)] == [429, 429]
    wall.advance(1)
    flush_refusals(server)
    assert limited(server)[1:] == [("website", 429, int(T0) + 1, 2, "GET")]

    mono.advance(4)
    wait = http.get("/collect/x/website")
    assert wait.status_code == 429 and wait.headers["retry-after"] == "6"
    mono.advance(6)  # one event's worth refilled
    assert [http.get("/collect/x/website").status_code for _ in range(2)] == [200, 429]
    mono.advance(3600)  # refilled to the burst, no more
    assert [http.get("/collect/x/website").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert stored(server, "website") == 7

    wall.advance(1)
    flush_refusals(server)
    status = asyncio.run_coroutine_threadsafe(server.state.status(), server.state.writer._loop).result(30)
    website = {r["source_id"]: r for r in status}["website"]
    assert (website["throttled"], website["rejections"], website["events"]) == (12, 12, 7)
    assert server.state.policy.counts["website", "throttled"] == 12


def test_a_tracking_batch_costs_its_message_count(server, http, clocks):
    mono, _ = clocks

    def batch(n: int, key_in_body: bool = False) -> httpx.Response:
        messages = [{"type": "track", "event": "Clicked", "anonymousId": f"a{i}"} for i in range(n)]
        if key_in_body:
            return http.post("/v1/batch", json={"batch": messages, "writeKey": WRITE_KEY})
        return http.post("/v1/batch", json={"batch": messages}, headers=basic(WRITE_KEY))

    assert batch(8).status_code == 200  # 2 events left of the burst of 10
    refused = batch(5)
    assert refused.status_code == 429 and refused.json()["error"] == "rate_limited"
    assert refused.headers["retry-after"] == "18"  # 3 more events at 10 a minute
    assert refused.headers["access-control-allow-origin"] == "*"
    track = {"type": "track", "event": "Clicked", "anonymousId": "solo"}
    assert http.post("/v1/track", json=track, headers=basic(WRITE_KEY)).status_code == 200
    assert batch(2, key_in_body=True).status_code == 429  # the key in the body: refused once it is read
    assert stored(server, "app") == 9
    mono.advance(60)
    assert batch(25).status_code == 200  # bigger than the burst: passes on a full bucket, leaves it in debt
    again = http.post("/v1/track", json=track, headers=basic(WRITE_KEY))
    assert again.status_code == 429 and again.headers["retry-after"] == "96"  # (15 in debt + 1) at 10/min
    assert stored(server, "app") == 34


def test_redirect_links_keep_redirecting_over_the_limit_but_store_nothing(server, http, clocks):
    first = http.get("/r/mail/sale/s-1")
    assert first.status_code == 302 and first.headers["location"] == "https://shop.example.test/sale"
    over = http.get("/r/mail/sale/s-1", params={"utm_source": "april"})
    assert over.status_code == 302 and over.headers["location"] == "https://shop.example.test/sale?utm_source=april"
    assert "inlet_session=s-1" in over.headers["set-cookie"]
    pixel = http.get("/pixel/email-open/mail/m-1.gif")
    assert pixel.status_code == 200 and pixel.headers["content-type"] == "image/gif"
    assert stored(server, "mail") == 1
    _, wall = clocks
    wall.advance(1)
    flush_refusals(server)
    assert limited(server) == [("mail", 429, int(T0), 2, "GET")]


def test_a_real_flood_writes_one_row_a_second_and_the_counts_of_the_last_at_shutdown(tmp_path):
    sources = [{"id": "website", "name": "Website", "channel": "web", "bridge": "webhook",
                "rate_limit": {"events": 5, "per": "1s", "burst": 5}}]
    srv = InProcessServer(write_config(tmp_path, sources=sources))
    store = srv.config.store.path
    with srv:
        async def flood() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=srv.url, timeout=10) as client:
                return await asyncio.gather(*(client.post("/collect/hit/website", json={"n": i}) for i in range(60)))

        started = time.monotonic()
        answers = asyncio.run(flood())
        elapsed = time.monotonic() - started
    ok = sum(a.status_code == 200 for a in answers)
    refused = [a for a in answers if a.status_code == 429]
    assert ok + len(refused) == 60
    assert 5 <= ok <= 5 + 5 * elapsed + 1  # the burst, and what refilled while the flood went on
    assert all(int(a.headers["retry-after"]) >= 1 and a.json()["error"] == "rate_limited" for a in refused)
    con = duckdb.connect(str(store), read_only=True)
    try:
        rows = con.execute("SELECT epoch(received_at)::BIGINT, count FROM rejections WHERE reason = 'rate_limited' "
                           "ORDER BY 1").fetchall()
        events = con.execute("SELECT count(*) FROM events").fetchone()[0]
    finally:
        con.close()
    assert sum(count for _, count in rows) == len(refused)  # every refusal counted, the last second's at shutdown
    assert len({second for second, _ in rows}) == len(rows) <= elapsed + 2  # one row per second, no more
    assert events == ok


def test_rejection_rows_keep_their_shape_for_every_other_refusal(server, http):
    assert http.get("/collect/x/nosuch").status_code == 401
    assert server.sql("SELECT reason, count FROM rejections") == [("unknown_source", 1)]
    row = RejectionIn("a", 0, "GET", "/", 400, "x", 0, "", "{}")
    assert row.count == 1


def test_the_status_page_shows_violations_and_throttled_under_the_rejections():
    row = {"source_id": "website", "name": "Website", "bridge": "webhook", "channel": "web", "enabled": True,
           "events": 5, "rejections": 1234, "schema_violations": 7, "throttled": 1200}
    totals = {"events_today": 5, "profiles": 0, "merges": 0, "pending_writebacks": 0, "spool": 0}
    page = render_overview([row, {**row, "source_id": "calm", "schema_violations": 0, "throttled": 0}], {}, totals,
                           set(), dt.datetime.now(dt.UTC)).body.decode()
    website = page.split('data-source="website"')[1].split("</tr>")[0]
    assert 'data-field="schema-violations">7 against schemas<' in website
    assert 'data-field="throttled">1,200 over the rate limit<' in website
    calm = page.split('data-source="calm"')[1].split("</tr>")[0]
    assert "against schemas" not in calm and "over the rate limit" not in calm
