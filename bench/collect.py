"""Collect throughput: inlet's collect route against the server stack's ceiling and a naive DuckDB insert.

Each variant gets the same load from wrk (50 connections on loopback, small JSON POSTs). After a warm-up
the three take turns for several rounds, so a drift in the machine's speed touches all alike; each figure is
the median of its rounds (events/s, p50 and p99 latency):
  (a) inlet    `POST /collect/bench/website/s{0..999}` on a real `inlet serve` process
  (a1) (a2)    metrics: (a)'s request to two more processes serving the inlet app as `inlet serve` does
               (bench/variants.py), (a2) counting nothing for GET /metrics (--no-metrics); they get no other
               traffic, so their stores grow alike, and go one after the other (in turn first): 1 - (a1)/(a2) is
               what the counting costs
  (b) ceiling  `POST /bench/ceiling/bench/website`: the same app and uvicorn settings, parse the body, answer
  (c) naive    `POST /bench/naive/bench/website`: one autocommit DuckDB INSERT per request (bench/variants.py)
  (d) clicks   `GET /r/newsletter/sale/s{0..999}` on the same `inlet serve` as (a): clicks/s of redirect links
  (e) tracking `POST /v1/batch` on the same `inlet serve`: Segment-style batches of 100 track messages (each with
               its own messageId and one of 1,000 anonymousIds), as the tracking SDKs send them; events/s
  (f) schema   `POST /collect/bench/checked/s{0..999}` on the same `inlet serve` as (a): (a)'s request to a source
               whose `schemas:` check every event against a small JSON Schema (SCHEMA), right after (a) (before
               it every other round); 1 - (f)/(a) is what the check costs
At the end (a)'s store is counted and checked against what wrk saw. Run with `make bench`.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from statistics import median

from engine.net import free_port

CONNECTIONS = 50
BIN = Path(sys.executable).parent
VARIANTS = Path(__file__).resolve().parent / "variants.py"
CONFIG = """store: {{path: {store}}}
server: {{host: 127.0.0.1, port: {port}}}
sources:
  - {{id: website, name: Website, channel: web, bridge: webhook}}
  - {{id: newsletter, name: Newsletter, channel: email, bridge: redirect,
     links: {{sale: {{url: "https://shop.example.test/sale", event_type: email-click}}}}}}
  - {{id: tracking, name: Tracking, channel: web, bridge: tracking, write_key: {write_key}}}
  - {{id: checked, name: Checked, channel: web, bridge: webhook,
     schemas: {{mode: enforce, events: {{bench: {schema}}}}}}}
"""
WRITE_KEY = "bench-write-key"
# (f)'s schema: the body every collect request sends ({"plan":"pro","n":1}) matches it
SCHEMA = {"type": "object", "required": ["plan"],
          "properties": {"plan": {"type": "string", "enum": ["free", "pro"]}, "n": {"type": "integer", "minimum": 0}}}
BATCH = 100  # messages per tracking batch

# `sent` counts every request handed to a socket; the ones still in flight when wrk stops are sent, not completed.
# wrk calls request() once more before the run, to check the script: that call is subtracted in parse_wrk.
LUA = """sent = 0
local headers = {["Content-Type"] = "application/json"{AUTH}}
local body = '{"plan":"pro","n":1}'
local function batch(n)
  local parts = {}
  for i = 1, {BATCH} do
    parts[i] = string.format('{"type":"track","event":"Order Completed","anonymousId":"a%d",'
      .. '"messageId":"{RUN}-%d-%d","properties":{"plan":"pro","total":42.5,"n":%d}}', (n + i) % 1000, n, i, i)
  end
  return '{"batch":[' .. table.concat(parts, ",") .. ']}'
end
local threads = {}
function setup(thread) table.insert(threads, thread) end
function request()
  sent = sent + 1
  return wrk.format("{METHOD}", string.format("{PATH}", sent % 1000), headers, {BODY})
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("sent") end
  io.write(string.format("SENT %d\\n", total))
end
"""
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
TIME = r"([\d.]+)(us|ms|s|m|h)\b"


class BenchError(Exception):
    """The measurement is not valid (errors, refused requests, a lost or duplicated event)."""


def pinner(cpu: int | None) -> Callable[[], None] | None:
    return None if cpu is None else lambda: os.sched_setaffinity(0, {cpu})


def parse_wrk(out: str) -> dict:
    def grab(pattern: str, default: str | None = None) -> str:
        m = re.search(pattern, out, re.M)
        if m is None and default is None:
            raise BenchError(f"cannot find {pattern!r} in wrk's output:\n{out}")
        return m.group(1) if m else default  # type: ignore[return-value]

    def ms(pct: str) -> float:
        m = re.search(rf"^\s+{pct}%\s+{TIME}", out, re.M)
        if m is None:
            raise BenchError(f"no {pct}% latency line in wrk's output:\n{out}")
        return float(m.group(1)) * UNITS[m.group(2)]

    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    completed, non2xx = int(grab(r"^\s+(\d+) requests in")), int(grab(r"Non-2xx or 3xx responses: (\d+)", "0"))
    return {
        "events_per_s": float(grab(r"^Requests/sec:\s+([\d.]+)")), "p50_ms": ms("50"), "p99_ms": ms("99"),
        "completed": completed, "ok": completed - non2xx, "non2xx": non2xx,
        "socket_errors": dict(zip(("connect", "read", "write", "timeout"),
                                  map(int, errors.groups()) if errors else (0, 0, 0, 0), strict=True)),
        "sent": int(grab(r"^SENT (\d+)")) - 1,  # minus wrk's check call
    }


def cpu_seconds(pid: int | None = None) -> float:
    """Busy CPU seconds of the whole machine (all but idle and iowait), or of one process with all its threads."""
    if pid is None:
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(server: Server, path: str, seconds: int, work: Path, cpu: int | None) -> dict:
    """`path` is "METHOD /path" with `{n}` standing for a counter (0-999) that wrk fills in. A tracking batch
    (`/v1/batch`) stores BATCH events per request: its figures count events, not requests."""
    method, path = path.split(" ", 1)
    tracking = path.startswith("/v1/")
    body = "batch(sent)" if tracking else "body" if method == "POST" else "nil"
    auth = ', ["Authorization"] = "Basic ' + base64.b64encode(f"{WRITE_KEY}:".encode()).decode() + '"'
    script = work / "request.lua"
    script.write_text(LUA.replace("{METHOD}", method).replace("{BODY}", body).replace("{BATCH}", str(BATCH))
                      .replace("{AUTH}", auth if tracking else "").replace("{RUN}", str(time.time_ns()))
                      .replace("{PATH}", path.replace("%", "%%").replace("{n}", "%d")))
    cmd = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", str(script),
           server.base + path.split("{")[0]]
    before = (time.monotonic(), cpu_seconds(), cpu_seconds(server.proc.pid), children_cpu())
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, preexec_fn=pinner(cpu)).stdout
    wall, busy, srv, wrk = (a - b for a, b in zip((time.monotonic(), cpu_seconds(), cpu_seconds(server.proc.pid),
                                                  children_cpu()), before, strict=True))
    result = parse_wrk(out)
    if tracking:
        result["requests_per_s"] = result["events_per_s"]
        for key in ("events_per_s", "completed", "ok", "sent"):
            result[key] *= BATCH
    # CPU used, in cores: "other" is everything else on the machine, including the kernel's loopback work
    result["cpu_cores"] = {"server": srv / wall, "wrk": wrk / wall, "other": (busy - srv - wrk) / wall}
    bad = {k: v for k, v in result["socket_errors"].items() if v}
    if result["non2xx"] or bad:
        raise BenchError(f"{path}: {result['non2xx']} non-2xx responses, socket errors {bad or 'none'}:\n{out}")
    return result


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Server:
    """A server child process pinned to `cpu`, up once /healthz answers, stopped with SIGTERM."""

    def __init__(self, cmd: list[str], port: int, log: Path, cpu: int | None):
        self.base, self.log = f"http://127.0.0.1:{port}", log
        with log.open("w") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, preexec_fn=pinner(cpu))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise BenchError(f"{' '.join(cmd)} did not come up:\n{log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        if (code := self.proc.wait(timeout=60)) != 0:
            raise BenchError(f"server exited {code}:\n{self.log.read_text()[-2000:]}")


def measure(server: Server, name: str, path: str, seconds: int, work: Path, cpu: int | None) -> dict:
    result = run_wrk(server, path, seconds, work, cpu)
    used = result["cpu_cores"]
    print(f"  {name:<8} {result['events_per_s']:>8,.0f} events/s  p50 {result['p50_ms']:.2f} ms  "
          f"p99 {result['p99_ms']:.2f} ms  ({result['ok']:,} 2xx); CPU cores used: server {used['server']:.2f}, "
          f"wrk {used['wrk']:.2f}, other {used['other']:.2f}", flush=True)
    if used["other"] > 0.15:
        print(f"  WARNING: something else used {used['other']:.2f} of a core during this run: figures are disturbed")
    return result


def count_events(config: Path) -> int:
    cmd = [str(BIN / "inlet"), "-c", str(config), "sql", "SELECT count(*) FROM events", "--format", "csv"]
    return int(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])


def write_config(work: Path, name: str) -> tuple[Path, int]:
    """A config with one webhook source and its own store under `work/name`, on a free port."""
    (work / name).mkdir()
    path, port = work / name / "inlet.yaml", free_port()
    path.write_text(CONFIG.format(store=work / name / "inlet.duckdb", port=port, write_key=WRITE_KEY,
                                 schema=json.dumps(SCHEMA)))
    return path, port


PATHS = {"inlet": "POST /collect/bench/website/s{n}", "schema": "POST /collect/bench/checked/s{n}",
         "metrics": "POST /collect/bench/website/s{n}",
         "nometrics": "POST /collect/bench/website/s{n}",
         "ceiling": "POST /bench/ceiling/bench/website",
         "naive": "POST /bench/naive/bench/website", "clicks": "GET /r/newsletter/sale/s{n}?utm_source=bench",
         "tracking": "POST /v1/batch"}


def run(args: argparse.Namespace) -> dict:
    """Both servers run side by side (idle when not measured); the variants take turns for several rounds,
    so a drift in the machine's speed touches all three alike, and each figure is the median of its rounds."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_setaffinity") else []
    server_cpu, wrk_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    pinning = (f"server pinned to CPU {server_cpu}, wrk to CPU {wrk_cpu} (sched_setaffinity)"
               if server_cpu is not None else "no CPU pinning (sched_setaffinity unavailable or one CPU)")
    print(f"wrk -t1 -c{CONNECTIONS}; {args.warmup} s warm-up each, then {args.rounds} rounds of {args.seconds} s "
          f"per variant, taking turns; {pinning}", flush=True)
    rounds: dict[str, list[dict]] = {name: [] for name in PATHS}
    with tempfile.TemporaryDirectory(prefix="inlet-bench-") as tmp:
        work = Path(tmp)
        config, port = write_config(work, "a")
        inlet = Server([str(BIN / "inlet"), "-c", str(config), "serve", "--log-level", "warning"],
                       port, work / "a.log", server_cpu)
        try:
            config_bc, port_bc = write_config(work, "bc")
            others = Server([sys.executable, str(VARIANTS), "-c", str(config_bc), "--naive-db",
                             str(work / "naive.duckdb")], port_bc, work / "bc.log", server_cpu)
            try:
                config_x, port_x = write_config(work, "x")
                bare = Server([sys.executable, str(VARIANTS), "-c", str(config_x), "--no-metrics"], port_x,
                              work / "x.log", server_cpu)
                config_y, port_y = write_config(work, "y")
                counted = Server([sys.executable, str(VARIANTS), "-c", str(config_y)], port_y, work / "y.log",
                                 server_cpu)
                try:
                    servers = {"inlet": inlet, "metrics": counted, "nometrics": bare, "ceiling": others,
                               "naive": others,
                               "clicks": inlet, "tracking": inlet, "schema": inlet}
                    warm = {name: run_wrk(servers[name], path, args.warmup, work, wrk_cpu) if args.warmup else None
                            for name, path in PATHS.items()}
                    for n in range(1, args.rounds + 1):
                        print(f"round {n}:", flush=True)
                        names = list(PATHS)
                        if n % 2 == 0:  # (a2) before (a1) every other round: a drift favours neither
                            i, j = names.index("metrics"), names.index("nometrics")
                            names[i], names[j] = names[j], names[i]
                            i, j = names.index("inlet"), names.index("schema")  # and (f) before (a), for the same
                            names[i], names[j] = names[j], names[i]
                        for name in names:
                            rounds[name].append(measure(servers[name], name, PATHS[name], args.seconds, work,
                                                        wrk_cpu))
                finally:
                    bare.stop()
                    counted.stop()
            finally:
                others.stop()
        finally:
            inlet.stop()
        runs = [r for r in (*rounds["inlet"], *rounds["clicks"], *rounds["tracking"], *rounds["schema"], warm["inlet"],
                            warm["clicks"], warm["tracking"], warm["schema"]) if r]
        ok, sent, stored = sum(r["ok"] for r in runs), sum(r["sent"] for r in runs), count_events(config)
        check = {"stored": stored, "ok_2xx": ok, "sent": sent, "passed": ok <= stored <= sent, "exact": stored == sent}
        print(f"store check (a)+(d)+(e)+(f): {stored:,} events stored; wrk's answers acknowledged {ok:,} events and it "
              f"sent {sent:,} (a batch counts {BATCH}; warm-up + rounds; {sent - ok} in flight when wrk stopped, "
              f"stored but unanswered) -> {'OK' if check['passed'] else 'FAILED'}: need {ok:,} <= stored <= {sent:,}"
              f"{', every event sent is stored exactly once' if check['exact'] else ''}", flush=True)
        if not check["passed"]:
            raise BenchError("the store does not hold what wrk was answered: events were lost or duplicated")
    results = {name: {"events_per_s": median(r["events_per_s"] for r in rs),
                      "events_per_s_range": [min(r["events_per_s"] for r in rs), max(r["events_per_s"] for r in rs)],
                      "p50_ms": median(r["p50_ms"] for r in rs), "p99_ms": median(r["p99_ms"] for r in rs),
                      "rounds": rs}
               for name, rs in rounds.items()}
    a, b, c = rounds["inlet"], rounds["ceiling"], rounds["naive"]
    ratios = {"a_over_b": median(x["events_per_s"] / y["events_per_s"] for x, y in zip(a, b, strict=True)),
              "a_over_c": median(x["events_per_s"] / z["events_per_s"] for x, z in zip(a, c, strict=True)),
              "f_over_a": median(f["events_per_s"] / x["events_per_s"]
                                 for f, x in zip(rounds["schema"], a, strict=True)),
              "metrics_cost": median(1 - x["events_per_s"] / y["events_per_s"]
                                     for x, y in zip(rounds["metrics"], rounds["nometrics"], strict=True))}
    targets = {"a >= 50% of b": ratios["a_over_b"] >= 0.5, "a >= 10x c": ratios["a_over_c"] >= 10,
               "p99 of a <= 50 ms": results["inlet"]["p99_ms"] <= 50,
               "f >= 85% of a": ratios["f_over_a"] >= 0.85,
               "metrics cost <= 3%": ratios["metrics_cost"] <= 0.03}
    return {"seconds": args.seconds, "rounds": args.rounds, "warmup": args.warmup, "connections": CONNECTIONS,
            "pinning": pinning, "variants": results, "ratios": ratios, "targets": targets, "store_check": check}


def report(figures: dict) -> None:
    names = {"inlet": "(a) inlet collect", "metrics": "(a1) collect alone, with metrics",
             "nometrics": "(a2) collect alone, without metrics",
             "ceiling": "(b) ceiling (parse + answer)",
             "naive": "(c) naive (INSERT + commit per request)", "clicks": "(d) inlet link clicks (302)",
             "tracking": f"(e) inlet tracking, batches of {BATCH}",
             "schema": "(f) inlet collect, schema on every event"}
    print(f"\nmedians of {figures['rounds']} rounds")
    print(f"{'variant':<41}{'per s':>11}{'(range)':>18}{'p50 ms':>9}{'p99 ms':>9}")
    for key, label in names.items():
        v = figures["variants"][key]
        low, high = v["events_per_s_range"]
        print(f"{label:<41}{v['events_per_s']:>11,.0f}{f'({low:,.0f}-{high:,.0f})':>18}"
              f"{v['p50_ms']:>9.2f}{v['p99_ms']:>9.2f}")
    r = figures["ratios"]
    print(f"\n(a)/(b) = {r['a_over_b']:.1%}   (a)/(c) = {r['a_over_c']:.1f}x   metrics cost 1 - (a1)/(a2) = "
          f"{r['metrics_cost']:.1%}   (medians of the rounds' ratios)")
    print(f"(f)/(a) = {r['f_over_a']:.1%}: collect with a small schema checked on every event, against none")
    for target, met in figures["targets"].items():
        print(f"  target {target:<20} {'met' if met else 'NOT met'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="timed run per variant and round (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds in which the variants take turns (default 3)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up per variant, not measured (default 2)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON to PATH")
    args = parser.parse_args()
    try:
        figures = run(args)
    except (BenchError, subprocess.CalledProcessError, OSError) as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
