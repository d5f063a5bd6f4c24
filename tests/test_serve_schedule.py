"""End to end: `inlet serve` with scheduled sandbox sources, as a user runs it.

- a source scheduled every 2 s runs again and again, never two runs at once (the slots that come while a run
  goes on are skipped and logged), and `inlet status` and `GET /status` show its schedule, last and next run;
- stopping the server mid-run (SIGTERM) commits the pages fetched and exits 0 quickly; the restarted server
  catches the missed run up at once, resumes from the cursor, and the store ends as one uninterrupted run;
- SIGHUP and `inlet reload` apply added, removed and changed sources while collect requests keep flowing;
  a broken config changes nothing.
"""

from __future__ import annotations

import itertools
import json
import signal
import threading
import time
from pathlib import Path

import httpx
import yaml

from tests.conftest import inlet, write_config
from tests.sandbox_api import SandboxAPI
from tests.stores import served, store


def runs(config: Path, source_id: str) -> list[tuple]:
    return store(config, f"""SELECT run_id, min(started_at), max(finished_at), min(status), max(status)
                            FROM sync_runs WHERE source_id = '{source_id}' GROUP BY run_id ORDER BY 2""")


def wait_for(check, timeout: float = 60, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)


def status_json(config: Path) -> dict[str, dict]:
    result = inlet("status", "--format", "json", config=config, check=True)
    return {row["source_id"]: row for row in json.loads(result.stdout)}


def test_a_scheduled_source_runs_repeatedly_never_overlapping_and_status_shows_it(tmp_path, serve_process):
    with SandboxAPI(customers=150, rate_limit=False) as api:
        # about 3 s a run (6 objects, ~20 requests at 6/s) against a 2 s schedule: slots come while it runs
        source = api.stripe_source(rate_limit=6, schedule={"every": "2s"})
        config = write_config(tmp_path, [source])
        server = serve_process(config)
        wait_for(lambda: _count(config, "SELECT count(DISTINCT run_id) FROM sync_runs WHERE status = 'succeeded'")
                 >= 3, timeout=90, every=0.5)
        live = status_json(config)["billing"]
        assert live["schedule"] == "every 2s" and live["next_sync_at"] is not None
        assert live["last_sync"] in ("running", "succeeded") and live["records"] > 0
        page = httpx.get(f"{server.url}/status").json()["sources"][0]
        assert page["schedule"] == "every 2s"
        html = httpx.get(f"{server.url}/").text
        assert 'data-source="billing"' in html and "every 2s" in html
        assert server.stop() == 0
    done = [r for r in runs(config, "billing") if r[3] != "skipped"]
    skipped = [r for r in runs(config, "billing") if r[3] == "skipped"]
    assert len(done) >= 3 and skipped, (done, skipped)
    for before, after in itertools.pairwise(done):
        assert before[2] <= after[1], "two runs of one source overlapped"
    reasons = store(config, "SELECT DISTINCT error FROM sync_runs WHERE status = 'skipped'")
    assert reasons == [("scheduled while the previous run of this source was still going",)]


def _count(config: Path, query: str) -> int:
    """A number read through the running server, as `inlet sql` reads it."""
    return int(served(config, query)[0][0])


def test_stopping_mid_run_commits_and_the_restart_catches_up_from_the_cursor(tmp_path, serve_process):
    with SandboxAPI(customers=2000, rate_limit=False) as api:
        whole_dir, killed_dir = tmp_path / "whole", tmp_path / "stopped"
        whole_dir.mkdir(), killed_dir.mkdir()
        whole = write_config(whole_dir, [api.stripe_source(objects=["customers"])])
        assert inlet("sync", "billing", config=whole, timeout=120).returncode == 0
        # hourly, never synced: the server runs it at once; 21 pages at 3 requests a second take ~7 s
        config = write_config(killed_dir, [api.stripe_source(objects=["customers"], rate_limit=3,
                                                             schedule={"every": "1h"})])
        server = serve_process(config)
        wait_for(lambda: _records(server) >= 300, timeout=60)
        stopped_at = time.monotonic()
        assert server.stop() == 0
        assert time.monotonic() - stopped_at < 10  # the page in flight commits; nothing waits for the rest
        (status, error), = store(config, "SELECT status, error FROM sync_runs")
        assert status == "failed" and error.startswith("stopped: the server was shutting down")
        kept = store(config, "SELECT count(*) FROM records")[0][0]
        assert 300 <= kept < 2000
        cursor = store(config, "SELECT cursor->>'after' FROM sync_state")[0][0]
        assert cursor is not None

        server = serve_process(config)  # the run was missed: caught up at once, from the cursor
        wait_for(lambda: _succeeded_source(server, "billing"), timeout=90)
        assert server.stop() == 0
    assert store(config, "SELECT count(DISTINCT run_id) FROM sync_runs") == [(2,)]  # one job, not two
    mine = store(config, "SELECT external_id, data::VARCHAR FROM records ORDER BY 1")
    assert mine == store(whole, "SELECT external_id, data::VARCHAR FROM records ORDER BY 1")
    assert store(config, "SELECT event_type, count(*), count(DISTINCT context->>'external_id') FROM events "
                         "GROUP BY 1") == [("customer.created", 2000, 2000)]


def _records(server) -> int:
    rows = server.http.get("/status").json()["sources"]
    return rows[0]["records"]


def test_reload_applies_source_changes_while_collect_requests_keep_flowing(tmp_path, serve_process):
    with SandboxAPI(customers=50, rate_limit=False) as api:
        sources = [{"id": "website", "name": "Website", "channel": "web", "bridge": "webhook"}]
        config = write_config(tmp_path, sources)
        server = serve_process(config)
        stop, answers = threading.Event(), []

        def traffic() -> None:
            with httpx.Client(base_url=server.url, timeout=10) as http:
                while not stop.is_set():
                    answers.append(http.post("/collect/page-view/website", json={"n": len(answers)}).status_code)

        sender = threading.Thread(target=traffic)
        sender.start()
        try:
            time.sleep(0.5)
            data = yaml.safe_load(config.read_text())
            data["sources"].append({"id": "shop-web", "name": "Shop", "channel": "web", "bridge": "webhook"})
            data["sources"].append(api.stripe_source(objects=["customers"], schedule={"every": "1h"}))
            config.write_text(yaml.safe_dump(data))
            server.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: server.http.post("/collect/visit/shop-web", json={}).status_code == 200, 15)
            wait_for(lambda: _succeeded_source(server, "billing"), timeout=60)  # the new schedule ran (catch-up)

            # a broken config: refused with its problems, nothing changes
            good = config.read_text()
            config.write_text(good.replace("bridge: webhook", "bridge: carrier-pigeon", 1))
            refused = inlet("reload", config=config)
            assert refused.returncode == 1 and "carrier-pigeon" in refused.stderr
            config.write_text(good)
            remote = inlet("reload", config=config)
            assert remote.returncode == 0 and "added none, removed none, changed none" in remote.stdout

            # removing and changing: shop-web goes away, billing's schedule changes
            data = yaml.safe_load(good)
            data["sources"] = [s for s in data["sources"] if s["id"] != "shop-web"]
            data["sources"][1]["schedule"] = {"every": "2h"}
            config.write_text(yaml.safe_dump(data))
            changed = inlet("reload", config=config)
            assert changed.returncode == 0, changed.stderr
            assert "removed shop-web, changed billing; scheduled jobs added none, removed none, changed sync:billing" \
                in changed.stdout
            assert httpx.post(f"{server.url}/collect/visit/shop-web", json={}).status_code == 401
            assert status_json(config)["billing"]["schedule"] == "every 2h"
        finally:
            stop.set()
            sender.join()
        assert server.stop() == 0
    assert answers and set(answers) == {200}  # no collect request failed across three reloads
    assert store(config, "SELECT count(*) FROM events WHERE source_id = 'website'") == [(len(answers),)]
    assert store(config, "SELECT source_id, removed_at IS NOT NULL FROM sources ORDER BY 1") == [
        ("billing", False), ("shop-web", True), ("website", False)]


def _succeeded_source(server, source_id: str) -> bool:
    rows = {r["source_id"]: r for r in server.http.get("/status").json()["sources"]}
    return rows.get(source_id, {}).get("last_sync") == "succeeded"
