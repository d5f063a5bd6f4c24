"""Memory of a long sync: 1,000,000 generated customer-like records through the real sync runner and store
writer (no HTTP), with the process's resident memory sampled as it goes. Flat means the pages stream through;
growing with the records read would mean something holds them.

    .venv/bin/python bench/sync_million.py [--records 1000000] [--memory-limit 256MB]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import threading
import time
from pathlib import Path

from connectors.kit.model import Page, RecordIn
from engine import tuning
from engine.store import StoreWriter, open_store, spool_dir
from engine.store.database import tune_for_sync_only
from engine.sync.runner import run_sync

PAGE = 100


def rss_mb() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 // 2**20


class Generated:
    name, object_type = "customers", "customer"

    def __init__(self, records: int) -> None:
        self.pages = records // PAGE

    async def read(self, cursor, *, full_refresh):
        for n in range(self.pages):
            yield Page([RecordIn(f"cus_{n:06d}{i:02d}", {
                "id": f"cus_{n:06d}{i:02d}", "object": "customer", "created": 1_700_000_000 + n,
                "email": f"person{n}.{i}@example.com", "name": f"Person {n} {i}",
                "metadata": {"plan": "pro", "seats": i}, "address": {"city": "Paris", "line1": f"{n} rue " + "x" * 300},
            }) for i in range(PAGE)], {"page": n})


class Connector:
    def __init__(self, records: int) -> None:
        self.stream = Generated(records)

    def streams(self):
        return [self.stream]

    def http_stats(self):
        return {"requests": 0, "rate_limited": 0}


async def run(records: int, memory_limit: str) -> None:
    samples: list[tuple[float, int]] = []
    started = time.monotonic()
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append((time.monotonic() - started, rss_mb()))
            time.sleep(0.2)

    threading.Thread(target=sample, daemon=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "million.duckdb"
        con = open_store(path, memory_limit=memory_limit)
        tuning.for_sync()
        tune_for_sync_only(con)  # as `inlet sync` holding the store sets it
        writer = StoreWriter(con, spool_dir(path))
        writer.start(asyncio.get_running_loop())
        result = await run_sync("bench", Connector(records), writer.run)
        writer.stop()
        con.close()
    stop.set()
    seconds = time.monotonic() - started
    stream = result.streams[0]
    if not result.ok or stream.counts.created != records:
        raise SystemExit(f"BENCHMARK FAILED: {stream.status} {stream.error} {stream.counts}")
    tenths = [max(m for t, m in samples if i * seconds / 10 <= t < (i + 1) * seconds / 10) for i in range(10)]
    print(f"{records:,} records in {seconds:.1f} s ({records / seconds:,.0f}/s), DuckDB memory_limit {memory_limit}")
    print("peak RSS (MB) in each tenth of the run:", ", ".join(map(str, tenths)))
    print(f"peak {max(m for _, m in samples)} MB; data written ~{records * 0.6 / 1000:,.0f} MB of JSON twice "
          "(records and events)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--memory-limit", default="256MB")
    args = parser.parse_args()
    asyncio.run(run(args.records, args.memory_limit))
    gc.collect()  # DuckDB's objects are freed now, not reported as leaks at interpreter exit


if __name__ == "__main__":
    main()
