"""`inlet sync` while `inlet serve` holds the store: the sync runs inside the server; a second sync of the
same source meanwhile is skipped and logged; `inlet sandbox` serves the emulator for users."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from functools import partial

import httpx
import orjson

from connectors.kit.model import Page, RecordIn
from engine.sync.apply import Counts, apply_pages
from engine.sync.runner import COMMIT_PAGES, QUEUE_PAGES, run_sync
from tests.conftest import INLET, ROOT, inlet, write_config
from tests.sandbox_api import SandboxAPI
from tests.test_sync_stripe import store


def test_sync_runs_inside_a_running_server_and_a_concurrent_one_is_skipped(tmp_path, serve_process):
    with SandboxAPI(customers=1500, rate_limit=False) as api:
        config = write_config(tmp_path, [api.stripe_source(objects=["customers"]),
                                         {"id": "website", "name": "Website", "channel": "web", "bridge": "webhook"}])
        server = serve_process(config)
        # the third page of customers waits until the second sync has been tried: the first is surely running
        api.faults.hold("/v1/customers", after=2)
        first = subprocess.Popen([*INLET, "-c", str(config), "sync", "billing"], cwd=ROOT, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_until_held(api, first)
        second = inlet("sync", "billing", config=config)
        api.faults.release()
        assert second.returncode == 1
        assert "already running in the server" in second.stderr
        out, err = first.communicate(timeout=60)
        assert first.returncode == 0, out + err
        assert re.search(r"customers\s+succeeded\s+1500\s+1500", out)
        # the server took the events from the collect webhook at the same time, and answers queries
        assert httpx.post(f"{server.url}/collect/page/website", json={"a": 1}).status_code == 200
        rows = inlet("sql", "SELECT status, count(*) FROM sync_runs GROUP BY 1 ORDER BY 1", "--format", "csv",
                     config=config)
        assert rows.stdout.splitlines()[1:] == ["skipped,1", "succeeded,1"]
        counted = inlet("sql", "SELECT count(*) FROM records", "--format", "csv", config=config)
        assert counted.stdout.splitlines()[1] == "1500"
        status = {r["source_id"]: r for r in orjson.loads(inlet("status", "--format", "json", config=config).stdout)}
        assert status["billing"]["records"] == 1500 and status["billing"]["events"] == 1500
        assert status["billing"]["last_sync"] == "succeeded"  # the run that started, not the slot skipped
        assert status["billing"]["last_sync_at"].endswith("+00:00")
        assert server.stop() == 0
    assert store(config, "SELECT error FROM sync_runs WHERE status = 'skipped'") == [
        ("another sync of this source was running",)]


def wait_until_held(api: SandboxAPI, sync: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while api.faults.held == 0:
        assert sync.poll() is None, sync.communicate()
        assert time.monotonic() < deadline, "the sync never reached the held page"
        time.sleep(0.02)


def test_inlet_sandbox_serves_stripe_and_prints_a_working_snippet(tmp_path):
    from tests.conftest import free_port

    port = free_port()
    proc = subprocess.Popen([*INLET, "sandbox", "--port", str(port), "--customers", "30", "--seed", "7"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        while not any("base_url" in line for line in lines):
            lines.append(proc.stdout.readline())
            assert proc.poll() is None, "".join(lines)
        text = "".join(lines)
        assert f"http://127.0.0.1:{port}" in text and "bridge: stripe" in text
        snippet = text[text.index("  - id: billing"):]
        (tmp_path / "inlet.yaml").write_text("store: {path: inlet.duckdb}\nsources:\n" + snippet)
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/v1/customers", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        result = inlet("sync", "billing", config=tmp_path / "inlet.yaml")
        assert result.returncode == 0, result.stdout + result.stderr
        assert re.search(r"customers\s+succeeded\s+30\s+30", result.stdout)
    finally:
        proc.terminate()
        proc.wait(10)


class _ManyPages:
    """A stream of `pages` generated pages, counting how far fetching ever ran ahead of the store."""

    name, object_type = "things", "thing"

    def __init__(self, pages: int) -> None:
        self.pages, self.yielded, self.committed, self.ahead = pages, 0, 0, 0

    async def read(self, cursor, *, full_refresh):
        for n in range(self.pages):
            self.yielded += 1
            self.ahead = max(self.ahead, self.yielded - self.committed)
            yield Page([RecordIn(f"t{n}-{i}", {"n": n, "i": i, "pad": "x" * 500}) for i in range(100)], {"page": n})


class _Connector:
    def __init__(self, stream) -> None:
        self.stream = stream

    def streams(self):
        return [self.stream]

    def http_stats(self):
        return {"requests": 0, "rate_limited": 0}


def test_pages_stream_through_a_bounded_queue():
    """Memory stays flat: however many records a sync reads, fetching never runs more than the queue and one
    transaction's worth of pages ahead of what the store has committed."""
    stream = _ManyPages(400)

    async def slow_store(fn):
        if isinstance(fn, partial) and fn.func is apply_pages:
            await asyncio.sleep(0.002)  # the store is slower than the fetching
            pages = fn.keywords["pages"]
            stream.committed += len(pages)
            return Counts(read=sum(len(p.records) for p in pages))
        return None  # the run log's begin and end

    result = asyncio.run(run_sync("src", _Connector(stream), slow_store))
    assert result.ok, result.streams[0].error
    assert result.streams[0].counts.read == 40_000
    assert stream.ahead <= QUEUE_PAGES + COMMIT_PAGES + 2


def test_a_sync_holding_the_store_serves_sql_and_other_syncs_and_keeps_a_server_out(tmp_path):
    with SandboxAPI(customers=1500, rate_limit=False) as api:
        config = write_config(tmp_path, [api.stripe_source(objects=["customers"]),
                                         api.stripe_source("billing2", objects=["products"])])
        # the first sync's third page of customers waits until everything below has been tried alongside it
        api.faults.hold("/v1/customers", after=2)
        first = subprocess.Popen([*INLET, "-c", str(config), "sync", "billing"], cwd=ROOT, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_until_held(api, first)
        server = inlet("serve", config=config, timeout=30)
        assert server.returncode == 1
        assert f"`inlet sync` (pid {first.pid}) holds the store" in server.stderr
        live = inlet("sql", "SELECT count(*) > 0 FROM sync_runs WHERE status = 'running'", "--format", "csv",
                     config=config)
        assert live.stdout.splitlines()[1:] == ["true"]
        other = inlet("sync", "billing2", config=config)  # runs in the first sync's process
        assert other.returncode == 0, other.stdout + other.stderr
        assert re.search(r"products\s+succeeded\s+7\s+7", other.stdout)
        assert first.poll() is None  # still at its own sync, and it waited for the other
        api.faults.release()
        out, err = first.communicate(timeout=60)
        assert first.returncode == 0, out + err
    assert store(config, "SELECT source_id, status FROM sync_runs ORDER BY source_id") == [
        ("billing", "succeeded"), ("billing2", "succeeded")]
