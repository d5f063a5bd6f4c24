"""The hourly counts the console and /status read (engine/store/rollups.py): filled from an older store by the
migration, and kept equal to the rows they count by every path that stores events or refusals."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import httpx

from engine.store.database import open_store
from engine.store.schema import MIGRATIONS
from tests.conftest import InProcessServer, write_config
from tests.sandbox_api import SandboxAPI

HOURS_FROM_EVENTS = """
    SELECT source_id, to_timestamp((epoch_us(received_at) // 3600000000) * 3600) AS hour, count(*), max(received_at),
           count(*) FILTER (WHERE json_exists(context, '$.schema_violations'))
    FROM events GROUP BY ALL ORDER BY ALL"""
HOURS_FROM_REJECTIONS = """
    SELECT source_id, to_timestamp((epoch_us(received_at) // 3600000000) * 3600) AS hour, reason, sum(count),
           max(received_at)
    FROM rejections WHERE source_id IS NOT NULL GROUP BY ALL ORDER BY ALL"""
EVENT_HOURS = "SELECT source_id, hour, events, last_received_at, warned FROM event_hours ORDER BY ALL"
REJECTION_HOURS = "SELECT source_id, hour, reason, requests, last_received_at FROM rejection_hours ORDER BY ALL"


def test_the_upgrade_counts_what_an_older_store_holds_in_utc_hours(tmp_path):
    path = tmp_path / "inlet.duckdb"
    con = open_store(path, migrations=MIGRATIONS[:7])
    con.execute("SET TimeZone = 'America/St_Johns'")  # a half-hour zone: hours must still be UTC hours
    con.execute("""INSERT INTO events SELECT uuidv7(), CASE WHEN i % 3 = 0 THEN 'web' ELSE 'crm' END, 'x',
                          TIMESTAMPTZ '2026-01-01 10:00:00+00' + INTERVAL (i * 7) MINUTE,
                          TIMESTAMPTZ '2026-01-01 10:00:00+00' + INTERVAL (i * 7) MINUTE, NULL, NULL, '{}',
                          CASE WHEN i % 5 = 0 THEN '{"schema_violations": [{"pointer": "/a"}]}' ELSE '{}' END
                   FROM range(100) t(i)""")
    con.execute("""INSERT INTO rejections SELECT uuidv7(), CASE WHEN i = 0 THEN NULL ELSE 'web' END,
                          TIMESTAMPTZ '2026-01-01 10:59:58+00' + INTERVAL (i) SECOND, 'POST', '/c', 429,
                          'rate_limited', 0, '', '{}', 3 FROM range(4) t(i)""")
    con.close()
    con = open_store(path)
    hours = con.execute(EVENT_HOURS).fetchall()
    assert hours == con.execute(HOURS_FROM_EVENTS).fetchall()
    assert sum(h[2] for h in hours) == 100 and sum(h[4] for h in hours) == 20
    starts = [h[1].astimezone(dt.UTC) for h in hours]  # UTC hours, not St John's half hours
    assert {t.minute for t in starts} == {0} and min(starts).hour == 10
    assert con.execute(REJECTION_HOURS).fetchall() == con.execute(HOURS_FROM_REJECTIONS).fetchall()
    assert [(r[2], r[3]) for r in con.execute(REJECTION_HOURS).fetchall()] == [("rate_limited", 3),
                                                                               ("rate_limited", 6)]
    con.close()


def test_pushes_refusals_and_pulls_keep_the_counts_equal_to_the_rows(tmp_path):
    with SandboxAPI(customers=40, rate_limit=False) as api:
        sources = [{"id": "website", "name": "Website", "channel": "web", "bridge": "webhook",
                    "schemas": {"mode": "warn", "events": {"signup": {"type": "object", "required": ["email"]}}}},
                   {"id": "limited", "name": "Limited", "channel": "web", "bridge": "webhook",
                    "rate_limit": {"events": 2, "per": "1m"}},
                   api.stripe_source(objects=["customers"])]
        with InProcessServer(write_config(tmp_path, sources=sources)) as srv, \
                httpx.Client(base_url=srv.url, timeout=30) as http:
            for i in range(30):
                assert http.post("/collect/page-view/website", json={"n": i}).status_code == 200
            assert http.post("/collect/signup/website", json={"name": "no email"}).status_code == 200  # warned
            assert http.post("/collect/x/nosuch").status_code == 401
            assert http.post("/collect/x/website", content=b"{", headers={"content-type": "application/json"}
                             ).status_code == 400
            assert http.post("/collect/bad type/website").status_code == 400
            codes = [http.post("/collect/x/limited").status_code for _ in range(6)]
            assert codes == [200, 200, 429, 429, 429, 429]
            _sync(srv)
            api.stripe.mutate(updates=5, deletes=1, creates=2)
            _sync(srv)
            deadline = time.monotonic() + 10  # a second's 429s make one row, once the second is over
            while not srv.sql("SELECT count(*) FROM rejections WHERE reason = 'rate_limited'")[0][0]:
                assert time.monotonic() < deadline
                time.sleep(0.1)
            assert srv.sql(EVENT_HOURS) == srv.sql(HOURS_FROM_EVENTS)
            assert srv.sql(REJECTION_HOURS) == srv.sql(HOURS_FROM_REJECTIONS)
            totals = dict(srv.sql("SELECT source_id, sum(events)::BIGINT FROM event_hours GROUP BY ALL"))
            pulled = srv.sql("SELECT count(*) FROM events WHERE source_id = 'billing'")[0][0]
            assert totals == {"website": 31, "limited": 2, "billing": pulled} and pulled > 40  # first read, changes
            status = {r["source_id"]: r for r in http.get("/status").json()["sources"]}
            assert (status["website"]["events"], status["website"]["schema_violations"]) == (31, 1)
            assert status["website"]["rejections"] == 2 and status["billing"]["events"] == pulled
            assert (status["limited"]["rejections"], status["limited"]["throttled"]) == (4, 4)
            assert srv.sql("SELECT requests FROM rejection_hours WHERE source_id = 'limited'") == [(4,)]


def _sync(srv: InProcessServer) -> None:
    """A sync through the server's own writer, as `inlet sync` with a server running does."""
    result = asyncio.run_coroutine_threadsafe(srv.state.syncs.sync("billing"), srv.state.writer._loop).result(60)
    assert result is not None
