"""The lake (issue 23): what exporting costs the collect path, how fresh the lake is, and two nodes into one lake.

  (a) off      `POST /collect/bench/website/s{0..999}` on `inlet serve` without `lake:` (bench/collect.py's (a))
  (b) on       the same on `inlet serve` with `lake:` (SQLite catalog, local warehouse, `every` from --every,
               default 5 s: six times as often as the default, so exports run through every round); (a) and (b)
               take turns for several rounds, each pinned to the same CPU, wrk to the other, the one not measured
               stopped (SIGSTOP) meanwhile: 1 - (b)/(a) is what exporting costs
  freshness    after the rounds, (b) under the same load for twice a round while a probe POSTs one event every
               100 ms; acknowledged -> queryable is the time from its 200 to when a reader polling the catalog every
               50 ms (this process, pinned with wrk) first sees a snapshot whose watermark covers it (the event's
               ingest_seq, read afterwards with inlet sql): p50 and p99
  (c) 2 nodes  two `inlet serve` nodes exporting into one lake (a PostgreSQL catalog from Debian's package, one
               warehouse), each loaded by its own wrk (25 connections each) at once, unpinned: combined events/s;
               then the lake is checked to hold every event of both stores exactly once
  (d) export   one export's own speed, in this process on one store (SQLite catalog, local warehouse): EVENTS events
               and RECORDS records sent the first time; then an export that finds nothing (what every export pays to
               look: the digest comparison of the latest-state tables); then 1% of the records changed
Run: .venv/bin/python bench/lake.py [--seconds 5 --rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from statistics import median, quantiles

from collect import BIN, BenchError, Server, run_wrk, write_config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.config import load_config  # noqa: E402
from engine.config.lake import LakeConfig  # noqa: E402
from engine.lake import open_lake  # noqa: E402
from engine.lake.export import Exporter  # noqa: E402
from engine.lake.watermark import PREFIX  # noqa: E402
from engine.store import open_store, store_cursor  # noqa: E402
from tests.lake_services import Postgres  # noqa: E402

PATH = "POST /collect/bench/website/s{n}"
EVENTS, RECORDS = 500_000, 100_000


def with_lake(config: Path, lake: dict) -> Path:
    text = config.read_text() + "lake: " + json.dumps(lake) + "\n"
    config.write_text(text)
    return config


class Probe(threading.Thread):
    """One collect event every 100 ms to `base`; (event_id, wall time of its 200) for each."""

    def __init__(self, base: str):
        super().__init__(daemon=True)
        self.base, self.acked, self.stop = base, [], threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            request = urllib.request.Request(f"{self.base}/collect/probe/website/probe{n}", data=b'{"probe":1}',
                                             headers={"Content-Type": "application/json"}, method="POST")
            with urllib.request.urlopen(request, timeout=10) as answer:
                self.acked.append((json.loads(answer.read())["event_id"], time.time()))
            self.stop.wait(0.1)


class Watcher(threading.Thread):
    """Polls the lake's events table every 50 ms: (wall time first seen, node's watermark) for each new watermark."""

    def __init__(self, config: Path):
        super().__init__(daemon=True)
        lake = load_config(config).lake
        self.table = open_lake(lake).table("events")
        self.key, self.seen, self.stop = PREFIX + lake.node, [], threading.Event()

    def run(self) -> None:
        last = None
        while not self.stop.is_set():
            self.table = self.table.refresh()
            mark = self.table.properties.get(self.key)
            if mark and mark != last:
                self.seen.append((time.time(), int(mark.rpartition(":")[2])))
                last = mark
            self.stop.wait(0.05)


def sql(config: Path, query: str) -> list[list[str]]:
    out = subprocess.run([str(BIN / "inlet"), "-c", str(config), "sql", query, "--format", "csv"],
                         capture_output=True, text=True, check=True).stdout
    return [line.split(",") for line in out.strip().splitlines()[1:]]


def freshness(config: Path, probe: Probe, watcher: Watcher) -> list[float]:
    ids = ", ".join(f"'{e}'" for e, _ in probe.acked)
    seqs = dict(sql(config, f"SELECT event_id, ingest_seq FROM events WHERE event_id IN ({ids})"))
    delays = []
    for event_id, acked_at in probe.acked:
        seq = int(seqs[event_id])
        seen = next((at for at, mark in watcher.seen if mark >= seq), None)
        if seen is None:
            raise BenchError(f"probe event {event_id} (ingest_seq {seq}) never reached the lake")
        delays.append(max(0.0, seen - acked_at))
    return delays


def wait_caught_up(base: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"{base}/status", timeout=30) as answer:
            lake = json.loads(answer.read())["lake"]
        if lake["events_behind"] == 0 and lake["last_export_at"] and not lake["last_error"]:
            return lake
        if time.monotonic() > deadline:
            raise BenchError(f"the lake did not catch up: {lake}")
        time.sleep(0.2)


def one_node(args, work: Path, cpus: list[int]) -> dict:
    server_cpu, wrk_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    if wrk_cpu is not None:  # this process (the freshness watcher) never on the server's CPU
        os.sched_setaffinity(0, {wrk_cpu})
    try:
        return _one_node(args, work, server_cpu, wrk_cpu)
    finally:
        os.sched_setaffinity(0, set(cpus))


def _one_node(args, work: Path, server_cpu: int | None, wrk_cpu: int | None) -> dict:
    off_cfg, off_port = write_config(work, "off")
    on_cfg, on_port = write_config(work, "on")
    with_lake(on_cfg, {"catalog": f"sqlite:///{work}/on/catalog.db", "warehouse": str(work / "on" / "warehouse"),
                       "every": f"{args.every}s", "node": "bench"})
    off = Server([str(BIN / "inlet"), "-c", str(off_cfg), "serve", "--log-level", "warning"], off_port,
                 work / "off.log", server_cpu)
    on = Server([str(BIN / "inlet"), "-c", str(on_cfg), "serve", "--log-level", "warning"], on_port,
                work / "on.log", server_cpu)
    rounds: dict[str, list[dict]] = {"off": [], "on": []}
    try:
        for server in (off, on):
            run_wrk(server, PATH, args.warmup, work, wrk_cpu)
        for n in range(1, args.rounds + 1):
            order = ("off", "on") if n % 2 else ("on", "off")
            for name in order:
                server, idle = (on, off) if name == "on" else (off, on)
                # the idle server is stopped (SIGSTOP) while the other is measured: (b)'s exports between rounds
                # must not run on the CPU that (a) is measured on
                idle.proc.send_signal(signal.SIGSTOP)
                server.proc.send_signal(signal.SIGCONT)
                result = run_wrk(server, PATH, args.seconds, work, wrk_cpu)
                if name == "on":
                    wait_caught_up(on.base)  # before it is stopped: a round's exports all land in that round
                rounds[name].append(result)
                print(f"  round {n} {name:<3} {result['events_per_s']:>8,.0f} events/s  p50 {result['p50_ms']:.2f} ms"
                      f"  p99 {result['p99_ms']:.2f} ms  server CPU {result['cpu_cores']['server']:.2f}", flush=True)
        # freshness on its own, after the rounds: the probe and the watcher's polling (this process, on wrk's CPU)
        # would otherwise take CPU in (b)'s rounds only
        off.proc.send_signal(signal.SIGSTOP)
        on.proc.send_signal(signal.SIGCONT)
        watcher, probe = Watcher(on_cfg), Probe(on.base)
        watcher.start()
        probe.start()
        run_wrk(on, PATH, args.seconds * 2, work, wrk_cpu)
        probe.stop.set()
        probe.join()
        lake = wait_caught_up(on.base)
        time.sleep(0.3)
        watcher.stop.set()
        watcher.join()
        delays = freshness(on_cfg, probe, watcher)
    finally:
        for server in (off, on):
            server.proc.send_signal(signal.SIGCONT)
            server.stop()
    stored = int(sql(on_cfg, "SELECT count(*) FROM events")[0][0])
    in_lake = open_lake(load_config(on_cfg).lake).table("events").scan(selected_fields=("event_id",)).to_arrow()
    ids = in_lake.column("event_id")
    if in_lake.num_rows != stored or len(set(ids.to_pylist())) != stored:
        raise BenchError(f"the lake holds {in_lake.num_rows} events, the store {stored}")
    cuts = quantiles(delays, n=100)
    return {"off": median(r["events_per_s"] for r in rounds["off"]),
            "on": median(r["events_per_s"] for r in rounds["on"]),
            "cost": median(1 - b["events_per_s"] / a["events_per_s"] for a, b in zip(rounds["off"], rounds["on"],
                                                                                    strict=True)),
            "p99_ms": {k: median(r["p99_ms"] for r in v) for k, v in rounds.items()},
            "freshness_s": {"p50": median(delays), "p99": cuts[98], "max": max(delays), "probes": len(delays)},
            "lake_events": stored, "watermark": lake["watermark"], "rounds": rounds}


def two_nodes(args, work: Path) -> dict:
    with Postgres() as pg:
        servers, configs = [], []
        for node in ("node-a", "node-b"):
            cfg, port = write_config(work, node)
            with_lake(cfg, {"catalog": pg.url, "warehouse": str(work / "shared-warehouse"),
                            "every": f"{args.every}s", "node": node})
            configs.append(cfg)
            servers.append(Server([str(BIN / "inlet"), "-c", str(cfg), "serve", "--log-level", "warning"], port,
                                  work / f"{node}.log", None))
        try:
            results: list[dict] = [{}, {}]

            def load(i: int) -> None:
                results[i] = run_wrk(servers[i], PATH, args.seconds * 2, work / ("node-a", "node-b")[i], None)

            threads = [threading.Thread(target=load, args=(i,)) for i in range(2)]
            started = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            marks = [wait_caught_up(s.base) for s in servers]
            caught_up = time.monotonic() - started
        finally:
            for s in servers:
                s.stop()
        stored = sum(int(sql(c, "SELECT count(*) FROM events")[0][0]) for c in configs)
        table = open_lake(load_config(configs[0]).lake).table("events").scan(selected_fields=("event_id",)).to_arrow()
        ids = table.column("event_id").to_pylist()
        if len(ids) != stored or len(set(ids)) != stored:
            raise BenchError(f"the lake holds {len(ids)} events ({len(set(ids))} distinct), the stores {stored}")
    return {"events_per_s": sum(r["events_per_s"] for r in results),
            "per_node": [r["events_per_s"] for r in results], "p99_ms": [r["p99_ms"] for r in results],
            "lake_events": stored, "watermarks": [m["watermark"] for m in marks], "load_to_caught_up_s": caught_up}


def export_speed(work: Path) -> dict:
    con = open_store(work / "speed.duckdb")
    con.execute(f"""INSERT INTO events SELECT uuidv7(), 'website', 'page-view', now(), now() - INTERVAL (i % 2) DAY,
                           NULL, 's' || (i % 5000), json_object('path', '/p/' || (i % 100), 'n', i), '{{}}',
                           nextval('events_ingest_seq') FROM range({EVENTS}) t(i)""")
    con.execute(f"""INSERT INTO records SELECT 'billing', 'customer', 'cus_' || i, now(), false,
                           json_object('id', 'cus_' || i, 'email', 'c' || i || '@example.com',
                                       'note', repeat('x', 300)), now() FROM range({RECORDS}) t(i)""")

    def remember(fn):
        con.execute("BEGIN")
        fn(con)
        con.execute("COMMIT")

    lake = open_lake(LakeConfig(catalog=f"sqlite:///{work}/speed-catalog.db", warehouse=str(work / "speed-wh"),
                                node="bench"))
    exporter = Exporter(lake, lambda: store_cursor(con), remember)
    timed = {}
    for name in ("first", "nothing", "one_percent"):
        if name == "one_percent":
            con.execute("UPDATE records SET data = json_object('v', 2) WHERE hash(external_id) % 100 = 0")
        started = time.perf_counter()
        done = exporter.export()
        timed[name] = {"seconds": time.perf_counter() - started, "events": done.events,
                       "records": done.upserted.get("records", 0)}
        print(f"  export {name:<12} {timed[name]['seconds']:6.2f} s: {done.events:,} events, "
              f"{done.upserted.get('records', 0):,} records", flush=True)
    con.close()
    return timed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--every", type=int, default=5, help="lake.every of the exporting nodes, in seconds")
    parser.add_argument("--json", type=Path, metavar="PATH")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    try:
        with tempfile.TemporaryDirectory(prefix="inlet-bench-lake-") as tmp:
            work = Path(tmp)
            print(f"(a) off vs (b) on: {args.rounds} rounds of {args.seconds} s, taking turns", flush=True)
            one = one_node(args, work, cpus)
            print(f"(c) two nodes, {args.seconds * 2} s of load on each at once", flush=True)
            two = two_nodes(args, work)
            print("(d) one export's own speed", flush=True)
            speed = export_speed(work)
    except (BenchError, subprocess.CalledProcessError, OSError) as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    f = one["freshness_s"]
    print(f"\n(a) export off   {one['off']:>8,.0f} events/s  p99 {one['p99_ms']['off']:.2f} ms")
    print(f"(b) export on    {one['on']:>8,.0f} events/s  p99 {one['p99_ms']['on']:.2f} ms   "
          f"1 - (b)/(a) = {one['cost']:.1%} (median of the rounds' ratios; target <= 10%: "
          f"{'met' if abs(one['cost']) <= 0.10 else 'NOT met'})")
    print(f"freshness, acknowledged -> queryable in the lake: p50 {f['p50']:.2f} s, p99 {f['p99']:.2f} s, "
          f"max {f['max']:.2f} s ({f['probes']} probes; every: {args.every}s; poll 50 ms)")
    print(f"(c) two nodes into one lake: {two['events_per_s']:,.0f} events/s combined "
          f"({' + '.join(f'{x:,.0f}' for x in two['per_node'])}); {two['lake_events']:,} events in the lake, each "
          f"once; load start to lake caught up {two['load_to_caught_up_s']:.1f} s")
    first = speed["first"]
    print(f"(d) first export of {EVENTS:,} events and {RECORDS:,} records: {first['seconds']:.1f} s "
          f"({EVENTS / first['seconds']:,.0f} events/s with the records); an export that finds nothing: "
          f"{speed['nothing']['seconds']:.2f} s; 1% of the records changed: {speed['one_percent']['seconds']:.2f} s")
    if args.json:
        args.json.write_text(json.dumps({"one_node": one, "two_nodes": two, "export": speed}, indent=2,
                                        default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
