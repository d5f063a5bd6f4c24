"""The console and `/status` on a big store: a generated store of 1,000,000 events (three sources over the last
7 days, 200,000 profiles with identities and attributes, merges, 100,000 Stripe records, sync runs, write-backs and
refusals), served by a real `inlet serve`; each page is fetched over HTTP on loopback, and the median and 95th
percentile of its answer time are printed.

    .venv/bin/python bench/console.py [--events 1000000] [--profiles 200000] [--rounds 30]

The store is built with SQL (not through the server: that would take minutes), its hourly counts filled from the
rows as schema version 8 fills them for an older store (the writer keeps them equal to the rows).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from engine.net import free_port
from engine.store import open_store
from engine.store.rollups import hour_of

WRITE_KEY = "wk_bench_console"


def build(path: Path, events: int, profiles: int) -> dict:
    con = open_store(path)
    started = time.monotonic()
    n_records = profiles // 2
    con.execute(f"""CREATE TEMP TABLE p AS SELECT i, uuidv7() AS id,
                           now() - INTERVAL 8 DAY + INTERVAL (i * 691200000 // {profiles}) MILLISECOND AS t0
                    FROM range({profiles}) t(i)""")
    con.execute("INSERT INTO profiles SELECT id, json_object('name', 'Person ' || i, 'plan', 'pro'), t0, t0 FROM p")
    con.execute("INSERT INTO identities SELECT 'email', 'person' || i || '@example.com', id, 'app', t0 FROM p")
    con.execute("INSERT INTO identities SELECT 'user_id', 'user-' || i, id, 'app', t0 FROM p")
    con.execute(f"""INSERT INTO identities SELECT 'record', 'billing/customer/cus_' || i, id, 'billing', t0
                    FROM p WHERE i < {n_records}""")
    con.execute("INSERT INTO sessions SELECT 'visitor-' || i, id, 'website', t0 FROM p")
    con.execute("""INSERT INTO profile_attributes SELECT id, a, to_json('value ' || i), 'billing', 'customer',
                          'cus_' || i, t0, t0 FROM p, (VALUES ('name'), ('plan'), ('city')) v(a)""")
    con.execute(f"""INSERT INTO records SELECT 'billing', 'customer', 'cus_' || i, t0, false,
                          json_object('id', 'cus_' || i, 'email', 'person' || i || '@example.com'), t0
                    FROM p WHERE i < {n_records}""")
    # events in arrival order, as the writer appends them: 60% website, 30% app, 10% billing, over 7 days, each of a
    # profile made before it (profiles are made over the 8 days)
    con.execute(f"""
        INSERT INTO events (event_id, source_id, event_type, occurred_at, received_at, profile_id, session_id,
                            properties, context)
        SELECT uuidv7(), s, CASE s WHEN 'billing' THEN 'customer.updated' WHEN 'app' THEN 'Order Completed'
                                 ELSE 'page-view' END,
               e.t0, e.t0, p.id, CASE WHEN s = 'billing' THEN NULL ELSE 'visitor-' || p.i END,
               json_object('path', '/page/' || (e.i % 50), 'n', e.i), '{{"ip": "127.0.0.1"}}'
        FROM (SELECT i, now() - INTERVAL 7 DAY + INTERVAL (i * 604800000 // {events}) MILLISECOND AS t0,
                     CASE WHEN i % 10 < 6 THEN 'website' WHEN i % 10 < 9 THEN 'app' ELSE 'billing' END AS s,
                     (hash(i) % greatest(1, {profiles} * ({events} + 7 * i) // (8 * {events})))::BIGINT AS pi
              FROM range({events}) t(i)) e
        JOIN p ON p.i = e.pi ORDER BY e.i""")
    con.execute(f"""INSERT INTO rejections SELECT uuidv7(), 'website',
                          now() - INTERVAL 7 DAY + INTERVAL (i * 30) SECOND, 'POST', '/collect/x/website', 400,
                          CASE WHEN i % 3 = 0 THEN 'malformed_json'
                          ELSE 'invalid_event_type' END, 10, '{{"bad', '{{}}', 1 FROM range({events // 50}) t(i)""")
    con.execute("""INSERT INTO sync_runs (run_id, source_id, object_type, started_at, finished_at, status, records_read,
                                       records_changed, error, records_created, records_updated, records_deleted,
                                       mode, notes, requests, rate_limited)
                   SELECT uuidv7(), 'billing', 'customer', now() - INTERVAL (i * 15) MINUTE,
                          now() - INTERVAL (i * 15) MINUTE + INTERVAL 3 SECOND, 'succeeded', 100, 10, NULL, 5, 5, 0,
                          'events', NULL, 3, i % 7 = 0 FROM range(2000) t(i)""")
    con.execute("INSERT INTO sync_state VALUES ('billing', 'customer', '{\"events_after\": \"evt_1\"}', now())")
    con.execute("""INSERT INTO writebacks SELECT uuidv7(), 'billing', 'customer', 'cus_' || i, id, '{"name": "x"}',
                          '{"name": "name"}', CASE WHEN i % 100 = 0 THEN 'pending' ELSE 'sent' END, 1, now(), NULL,
                          200, now(), now(), now() FROM p WHERE i < 20000""")
    merged = con.execute("""SELECT list(id ORDER BY i) FROM p WHERE i >= ? AND i < ?""",
                         [profiles - 2000, profiles]).fetchone()[0]
    con.execute("""INSERT INTO profile_merges SELECT m.id, s.id, now(), 'email person' || s.i || '@example.com'
                   FROM p m JOIN p s ON s.i = m.i - ?  WHERE m.i >= ?""", [profiles - 2000, profiles - 2000])
    con.execute("DELETE FROM profiles WHERE profile_id IN (SELECT unnest(?::UUID[]))", [merged])
    con.execute(f"""INSERT INTO event_hours SELECT source_id, {hour_of('received_at')}, count(*), max(received_at), 0
                    FROM events GROUP BY ALL""")
    con.execute(f"""INSERT INTO rejection_hours SELECT source_id, {hour_of('received_at')}, reason, sum(count),
                           max(received_at) FROM rejections GROUP BY ALL""")
    con.execute("CHECKPOINT")
    oldest = con.execute("SELECT id::VARCHAR FROM p WHERE i = 0").fetchone()[0]
    newest = con.execute(f"SELECT id::VARCHAR FROM p WHERE i = {profiles - 3000}").fetchone()[0]
    merged_id = con.execute("SELECT profile_id::VARCHAR FROM profile_merges LIMIT 1").fetchone()[0]
    total = con.execute("SELECT count(*) FROM events").fetchone()[0]
    con.close()
    print(f"store: {total:,} events, {profiles:,} profiles, built in {time.monotonic() - started:.0f} s "
          f"({path.stat().st_size / 2**20:,.0f} MiB)")
    return {"oldest": oldest, "newest": newest, "merged": merged_id}


def measure(base: str, paths: list[str], rounds: int) -> None:
    with httpx.Client(base_url=base, timeout=60) as http:
        print(f"{'page':58} {'status':>6} {'median ms':>10} {'p95 ms':>8} {'bytes':>8}")
        for path in paths:
            http.get(path)  # warm: templates compiled, DuckDB's caches filled
            times, status, size = [], 0, 0
            for _ in range(rounds):
                t = time.perf_counter()
                answer = http.get(path)
                times.append((time.perf_counter() - t) * 1000)
                status, size = answer.status_code, len(answer.content)
            times.sort()
            p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
            print(f"{path[:58]:58} {status:>6} {statistics.median(times):>10.1f} {p95:>8.1f} {size:>8,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--profiles", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        ids = build(directory / "inlet.duckdb", args.events, args.profiles)
        port = free_port()
        config = directory / "inlet.yaml"
        config.write_text(yaml.safe_dump({
            "store": {"path": "inlet.duckdb"}, "server": {"host": "127.0.0.1", "port": port},
            "sources": [{"id": "website", "name": "Website", "channel": "web", "bridge": "webhook"},
                        {"id": "app", "name": "App", "channel": "mobile", "bridge": "tracking",
                         "write_key": WRITE_KEY, "mapping": "default"},
                        {"id": "billing", "name": "Stripe", "channel": "billing", "bridge": "stripe",
                         "api_key": "sk_test_bench", "base_url": "http://127.0.0.1:9", "objects": ["customers"],
                         "mapping": "default"}]}))
        server = subprocess.Popen([sys.executable, "-m", "engine", "-c", str(config), "serve", "--log-level",
                                   "warning"], env={**os.environ, "PYTHONUNBUFFERED": "1"})
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit("inlet serve did not start")
                time.sleep(0.2)
            measure(base, ["/status", "/", "/sources/website", "/sources/app", "/sources/billing",
                           "/sources/website/events.json", "/profiles?q=person123%40example.com",
                           "/profiles?q=cus_4567", "/profiles?q=visitor-99", f"/profiles?q={ids['oldest']}",
                           f"/profiles/{ids['oldest']}", f"/profiles/{ids['newest']}",
                           f"/profiles/{ids['merged']}"], args.rounds)
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
