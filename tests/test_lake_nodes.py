"""Two inlet nodes take collect traffic and export into one lake (a PostgreSQL catalog, one warehouse); one is
killed -9 while it exports and started again. Every acknowledged event is in the lake exactly once, read back with
pyiceberg and with DuckDB, and each node's profiles are there as its store has them."""

from __future__ import annotations

import asyncio
import signal
import time

import duckdb
import httpx
import pytest

from engine.config.lake import LakeConfig
from engine.lake import open_lake
from tests.conftest import inlet, write_config
from tests.lake_services import Postgres

pytestmark = pytest.mark.xdist_group("lake")


async def _load(url: str, node: str, acked: dict, stop: asyncio.Event, workers: int = 8) -> None:
    counter = iter(range(10**9))

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            while not stop.is_set():
                n = next(counter)
                try:
                    r = await client.post(f"/collect/view/website/{node}-s{n % 40}", json={"n": n})
                except httpx.TransportError:
                    await asyncio.sleep(0.05)  # the node is down (killed, restarting): try again
                    continue
                if r.status_code == 200:
                    acked[r.json()["event_id"]] = node

    await asyncio.gather(*(worker() for _ in range(workers)))


def _lake_status(proc) -> dict:
    return proc.http.get("/status").json()["lake"]


def _exporting(proc) -> bool:
    """True once the node has exported at least once since it started."""
    status = _lake_status(proc)
    return status["last_export_at"] is not None


async def test_two_nodes_one_killed_mid_export_every_acknowledged_event_once(tmp_path, serve_process):
    with Postgres() as pg:
        lake = {"catalog": pg.url, "warehouse": str(tmp_path / "warehouse"), "every": "1s"}
        configs = {}
        for node in ("node-a", "node-b"):
            (tmp_path / node).mkdir()
            configs[node] = write_config(tmp_path / node, lake={**lake, "node": node},
                                         sources=[{"id": "website", "name": "Website", "channel": "web",
                                                   "bridge": "webhook"}])
        procs = {node: serve_process(cfg) for node, cfg in configs.items()}
        acked: dict[str, str] = {}
        stop = asyncio.Event()
        loads = [asyncio.ensure_future(_load(procs[n].url, n, acked, stop)) for n in procs]

        a = procs["node-a"]
        deadline = time.monotonic() + 30
        while sum(1 for v in acked.values() if v == "node-a") < 300 or not _exporting(a):
            assert time.monotonic() < deadline, "node-a took no traffic or exported nothing"
            await asyncio.sleep(0.1)
        # kill node-a while an export is going: right after the loop's next one starts (its status shows the
        # previous export's time until this one ends; exports of 1 s of traffic take a good part of a second)
        last = _lake_status(a)["last_export_at"]
        while _lake_status(a)["last_export_at"] == last:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        a.stop(signal.SIGKILL)
        await asyncio.sleep(0.5)
        procs["node-a"] = a = serve_process(configs["node-a"])  # the same store and spool; node-a again
        await asyncio.sleep(2.0)
        stop.set()
        await asyncio.gather(*loads)

        deadline = time.monotonic() + 30
        for proc in procs.values():  # the lake catches up with everything acknowledged
            while (status := _lake_status(proc))["events_behind"] != 0 or status["last_error"]:
                assert time.monotonic() < deadline, status
                await asyncio.sleep(0.2)

            scraped = proc.http.get("/metrics").text  # the lag for alerts, as /status says it
            assert "\ninlet_lake_events_behind 0.0\n" in scraped and "\ninlet_lake_lag_seconds 0.0\n" in scraped
            assert "\ninlet_lake_last_export_timestamp_seconds " in scraped

        lake_config = LakeConfig(**{**lake, "node": "node-a"})
        events = open_lake(lake_config).table("events").scan(selected_fields=("event_id", "node")).to_arrow()
        in_lake = events.column("event_id").to_pylist()
        assert len(in_lake) == len(set(in_lake))  # none twice
        assert set(acked) <= set(in_lake)  # every acknowledged one
        nodes = dict(zip(in_lake, events.column("node").to_pylist(), strict=True))
        assert all(nodes[event_id] == node for event_id, node in acked.items())  # under the node that took it
        for node, cfg in configs.items():  # and nothing the stores lack: the lake equals the two stores
            stored = inlet("sql", "SELECT event_id FROM events", "--format", "csv", config=cfg, check=True)
            ids = stored.stdout.split()[1:]
            assert sorted(e for e, n in nodes.items() if n == node) == sorted(ids)

        table = open_lake(lake_config).refresh("profiles")
        files = [t.file.file_path.removeprefix("file://") for t in table.scan().plan_files()]
        with duckdb.connect() as con:  # DuckDB on the lake's Parquet files
            lake_profiles = con.execute("SELECT node, count(*), count(DISTINCT profile_id) FROM read_parquet(?) "
                                        "GROUP BY node ORDER BY node", [files]).fetchall()
        for (node, count, distinct), cfg in zip(lake_profiles, configs.values(), strict=True):
            stored = inlet("sql", "SELECT count(*) FROM profiles", "--format", "csv", config=cfg, check=True)
            assert count == distinct == int(stored.stdout.split()[1]), node

        status = inlet("status", config=configs["node-a"], check=True).stdout
        assert "as node node-a: 0 events not yet in the lake" in status
        # `inlet lake export` runs in the server that holds the store, through its control socket
        assert inlet("lake", "export", config=configs["node-a"], check=True).stdout.startswith(
            f"exported 0 events (the node's watermark is now {_lake_status(a)['watermark']})")

        # and without one: node-b killed right after acknowledging more events, still in its spool
        b = procs["node-b"]
        late = [b.http.post(f"/collect/late/website/late-{n}", json={}).json()["event_id"] for n in range(30)]
        b.stop(signal.SIGKILL)
        result = inlet("lake", "export", config=configs["node-b"], check=True)
        assert result.stdout.startswith("exported "), result.stdout
        events = open_lake(lake_config).refresh("events").scan(selected_fields=("event_id",)).to_arrow()
        in_lake = events.column("event_id").to_pylist()
        assert set(late) <= set(in_lake) and len(in_lake) == len(set(in_lake))
