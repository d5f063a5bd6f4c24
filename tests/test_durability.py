"""Acknowledged means stored: kill -9 the server under concurrent load; every event that got a 200 is there."""

from __future__ import annotations

import asyncio
import signal
import time

import httpx

from tests.conftest import inlet, write_config


async def _load(url: str, acked: dict, seconds: float, workers: int = 50) -> None:
    deadline = time.monotonic() + seconds
    counter = iter(range(10**9))

    async def worker() -> None:
        # A client (one connection) per worker: 50 requests queued on one shared pool cost httpcore's pool
        # several ms of CPU each, which made the load generator, not the server, the bottleneck.
        async with httpx.AsyncClient(base_url=url, timeout=10, verify=False) as client:
            while time.monotonic() < deadline:
                key = f"k{next(counter)}"
                try:
                    r = await client.post(f"/collect/load/website/s{hash(key) % 50}", json={"event_id": key, "v": 1})
                except httpx.TransportError:
                    return  # the server is gone
                if r.status_code == 200:
                    acked[key] = r.json()["event_id"]

    await asyncio.gather(*(worker() for _ in range(workers)))


async def test_every_acknowledged_event_survives_kill_9(serve_process, tmp_path):
    cfg = write_config(tmp_path)
    proc = serve_process(cfg)
    acked: dict[str, str] = {}
    load = asyncio.ensure_future(_load(proc.url, acked, seconds=30))
    while len(acked) < 1500:
        await asyncio.sleep(0.05)
    proc.proc.send_signal(signal.SIGKILL)  # no drain, no checkpoint
    proc.proc.wait()
    await load
    assert len(acked) >= 1500

    # without a server, the file alone may lack what the spool holds: then the CLI says so
    offline = inlet("sql", "SELECT properties->>'event_id' AS k FROM events", "--format", "csv", config=cfg)
    in_file = set(offline.stdout.splitlines()[1:])
    if "they are safe and go in when `inlet serve` starts again" not in offline.stderr:
        assert set(acked) <= in_file

    proc2 = serve_process(cfg)  # restarts on the same store: spool replayed, stale socket replaced
    rows = inlet("sql", "SELECT properties->>'event_id' AS k, event_id FROM events", "--format", "csv",
                 config=cfg, check=True).stdout.splitlines()[1:]
    stored = dict(line.split(",") for line in rows)
    missing = set(acked) - set(stored)
    assert not missing, f"{len(missing)} acknowledged events were lost, e.g. {sorted(missing)[:3]}"
    assert all(stored[k] == acked[k] for k in acked)
    assert len(rows) == len(stored), "an event was stored twice"

    # the keys survived too: resending an acknowledged event answers the original event
    with httpx.Client(base_url=proc2.url) as client:
        key = next(iter(acked))
        again = client.post("/collect/load/website/s1", json={"event_id": key, "v": 1}).json()
    assert again["event_id"] == acked[key]
    assert proc2.stop() == 0
