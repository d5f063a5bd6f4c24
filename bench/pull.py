"""Pull throughput: `inlet sync` of Stripe customers from the sandbox, against a plain HTTP loop and dlt;
then HubSpot and Shopify (bench/vendors.py).

All contenders page through the same `GET /v1/customers?limit=100&starting_after=<last id>` of one
`inlet sandbox` (rate limit off, seeded once, read-only), each in a child process of its own:
  (a) inlet          `inlet -c CONFIG sync billing` into a fresh store; afterwards `inlet sql` must count N customers
  (b) ceiling        an httpx.Client loop that parses each page's JSON and discards it
  (c) dlt            dlt's rest_api source into a DuckDB file, with dlt's default settings
  (d) dlt parquet    the same with `loader_file_format="parquet"`
Each child ((b)-(d): bench/pull_children.py) is timed from start to exit (interpreter start-up and imports
included); its peak RSS comes from `os.wait4`. The contenders take turns for `--rounds` rounds and each figure
is the median of its rounds.
Then, unless `--skip-rate-limited`: a sandbox with Stripe's test-mode limit (25 reads/s, sliding window) and
`--rate-records` customers, and one `inlet sync` against it: wall time over the least the limit allows.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from statistics import median

import httpx

from engine.net import free_port

BIN = Path(sys.executable).parent
KEY = "sk_test_sandbox"
PAGE = 100
RATE = 25  # Stripe test mode: read requests per second (sliding one-second window)
CONFIG = """store: {{path: inlet.duckdb}}
sources:
  - {{id: billing, name: Stripe, channel: billing, bridge: stripe, api_key: {key}, base_url: "{base}",
     objects: [customers]{limit}}}
"""
# With the sandbox's limit off, inlet's own limiter (Stripe's test-mode 25/s) is lifted too, as a user would
# for a server without limits; the rate-limited run keeps the default.
NO_LIMIT = ", rate_limit: 10000"
CONTENDERS = {"inlet": "(a) inlet sync", "ceiling": "(b) ceiling (httpx loop)", "dlt": "(c) dlt rest_api",
              "dlt-parquet": "(d) dlt rest_api, parquet", "inlet-before": "(a0) inlet sync, --before tree"}
# `--before TREE`: the inlet of another checkout (an earlier commit's worktree) runs as contender "inlet-before", in
# the same rounds and for the rate-limited and vendors' runs too: before and after side by side in one run.
BEFORE: dict[str, str] = {}  # PYTHONPATH of the "before" inlet, set by --before


class BenchError(Exception):
    """The measurement is not valid (a child failed, or the wrong number of records landed)."""


def pinner(cpus: set[int] | None) -> Callable[[], None] | None:
    return None if cpus is None else lambda: os.sched_setaffinity(0, cpus)


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) one process has used so far, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Sandbox:
    """`inlet sandbox` as a child process, up once a list request answers 200; stopped with SIGTERM."""

    def __init__(self, records: int, rate_limit: str, log: Path, cpus: set[int] | None, extra: list[str] = ()):
        port = free_port()
        self.base, self.log = f"http://127.0.0.1:{port}", log
        cmd = [str(BIN / "inlet"), "sandbox", "--port", str(port), "--seed", "1", "--customers", str(records),
               "--rate-limit", rate_limit, *extra]
        with log.open("w") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, preexec_fn=pinner(cpus))
        try:
            self._wait_ready(cmd)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, cmd: list[str]) -> None:
        deadline = time.monotonic() + 180
        with httpx.Client(headers={"Authorization": f"Bearer {KEY}"}, timeout=2) as client:
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if client.get(f"{self.base}/v1/customers", params={"limit": 1}).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.25)
        raise BenchError(f"{' '.join(cmd)} did not come up:\n{self.log.read_text()[-2000:]}")

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_child(cmd: list[str], work: Path, log: Path, cpus: set[int] | None, timeout: float,
              sandbox: Sandbox, env: dict[str, str] | None = None) -> dict:
    """Run `cmd` in `work` to its exit: wall seconds, peak RSS (MB), CPU seconds, and the sandbox's CPU meanwhile.
    `env` adds to the environment (`BEFORE`: run another checkout's inlet; `work` is never that checkout, so its
    PYTHONPATH comes before the editable install)."""
    env = {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false", "DLT_DATA_DIR": str(work / "dlt-data"), **(env or {})}
    sandbox_before = sandbox.cpu()
    with log.open("w") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=pinner(cpus))
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    output = log.read_text()
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} exited {proc.returncode} after {wall:.1f}s:\n{output[-3000:]}")
    return {"wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime,
            "sandbox_cores": (sandbox.cpu() - sandbox_before) / wall, "output": output}


def inlet_count(config: Path, work: Path, env: dict[str, str] | None = None) -> int:
    cmd = [str(BIN / "inlet"), "-c", str(config), "sql", "SELECT count(*) FROM records WHERE object_type='customer'",
           "--format", "csv"]
    done = subprocess.run(cmd, cwd=work, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise BenchError(f"counting (a)'s customers failed ({' '.join(cmd)}):\n{done.stdout}{done.stderr}")
    return int(done.stdout.strip().splitlines()[-1])


def dlt_count(database: Path) -> int:
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute("SELECT count(*) FROM stripe.customers").fetchone()[0]


def parse_sync_summary(output: str) -> tuple[int | None, int | None]:
    """(requests made, 429 answers seen) from `inlet sync`'s line "HTTP: 203 requests, 0 answered 429 ..."."""
    found = re.findall(r"HTTP: ([\d,]+) requests, ([\d,]+) answered 429", output)
    if not found:
        return None, None
    requests, limited = found[-1]
    return int(requests.replace(",", "")), int(limited.replace(",", ""))


def contender(name: str, base: str, records: int, root: Path, cpus: set[int] | None, timeout: float,
              sandbox: Sandbox, *, limited: bool = False) -> dict:
    """One run of one contender in a fresh directory under `root`, checked: exactly `records` customers."""
    work = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root))
    log = work / "output.log"
    if name in ("inlet", "inlet-before"):
        config = work / "inlet.yaml"
        config.write_text(CONFIG.format(key=KEY, base=base, limit="" if limited else NO_LIMIT))
        result = run_child([str(BIN / "inlet"), "-c", str(config), "sync", "billing"], work, log, cpus, timeout,
                           sandbox, env=BEFORE if name == "inlet-before" else None)
        landed = inlet_count(config, work, BEFORE if name == "inlet-before" else None)
        result["requests"], result["rate_limited"] = parse_sync_summary(result["output"])
        found = re.findall(r": done in ([\d.]+) s", result["output"])
        result["sync_s"] = float(found[-1]) if found else None
    else:
        cmd = [sys.executable, str(Path(__file__).resolve().with_name("pull_children.py")), name, base, str(work)]
        result = run_child(cmd, work, log, cpus, timeout, sandbox)
        if name == "ceiling":
            landed = json.loads(result["output"].strip().splitlines()[-1])["records"]
        else:
            landed = dlt_count(work / "dlt.duckdb")
    if landed != records:
        raise BenchError(f"{CONTENDERS[name]}: {landed:,} customers landed, expected {records:,}; "
                         f"output:\n{result['output'][-2000:]}")
    result["records_per_s"] = records / result["wall_s"]
    result["landed"] = landed
    del result["output"]
    return result


def show(name: str, r: dict) -> None:
    print(f"  {CONTENDERS[name]:<28}{r['records_per_s']:>9,.0f} records/s  {r['wall_s']:6.2f} s  "
          f"peak RSS {r['peak_rss_mb']:6.1f} MB  CPU {r['cpu_s']:6.2f} s  (sandbox {r['sandbox_cores']:.2f} cores)",
          flush=True)


def pinning() -> tuple[set[int] | None, set[int] | None, str]:
    """The sandbox on the first CPU, the contenders on the others, when there are at least two."""
    if not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2:
        return None, None, "no CPU pinning (one CPU, or no sched_setaffinity)"
    first, *rest = sorted(os.sched_getaffinity(0))
    return {first}, set(rest), f"sandbox pinned to CPU {first}, contenders to CPU {','.join(map(str, rest))}"


def measure_pull(args: argparse.Namespace, root: Path, names: list[str]) -> dict:
    sandbox_cpus, child_cpus, pins = pinning() if args.pin else (None, None, "no CPU pinning (--no-pin)")
    print(f"{args.records:,} customers, {args.rounds} round(s), contenders taking turns: {', '.join(names)}; {pins}",
          flush=True)
    rounds: dict[str, list[dict]] = {name: [] for name in names}
    started = time.monotonic()
    with Sandbox(args.records, "off", root / "sandbox.log", sandbox_cpus) as sandbox:
        print(f"sandbox up on {sandbox.base} after {time.monotonic() - started:.1f}s", flush=True)
        for n in range(1, args.rounds + 1):
            print(f"round {n}:", flush=True)
            for name in names:
                rounds[name].append(contender(name, sandbox.base, args.records, root, child_cpus, args.timeout,
                                              sandbox))
                show(name, rounds[name][-1])
    results = {name: {"records_per_s": median(r["records_per_s"] for r in rs),
                      "records_per_s_range": [min(r["records_per_s"] for r in rs),
                                              max(r["records_per_s"] for r in rs)],
                      "wall_s": median(r["wall_s"] for r in rs), "peak_rss_mb": median(r["peak_rss_mb"] for r in rs),
                      "peak_rss_mb_max": max(r["peak_rss_mb"] for r in rs), "cpu_s": median(r["cpu_s"] for r in rs),
                      "rounds": rs}
               for name, rs in rounds.items()}
    return {"pinning": pins, "contenders": results, "ratios": ratios(rounds)}


def ratios(rounds: dict[str, list[dict]]) -> dict:
    """Medians of the per-round ratios; None where a side was not run."""
    def per_round(a: str, bs: list[str]) -> float | None:
        if a not in rounds or not (bs := [b for b in bs if b in rounds]):
            return None
        return median(x["records_per_s"] / max(rounds[b][i]["records_per_s"] for b in bs)
                      for i, x in enumerate(rounds[a]))

    return {"a_over_b": per_round("inlet", ["ceiling"]), "a_over_best_dlt": per_round("inlet", ["dlt", "dlt-parquet"]),
            "a0_over_b": per_round("inlet-before", ["ceiling"]),
            "a0_over_best_dlt": per_round("inlet-before", ["dlt", "dlt-parquet"])}


def measure_rate_limited(args: argparse.Namespace, root: Path, name: str = "inlet") -> dict:
    n = args.rate_records
    print(f"\nrate-limited, {CONTENDERS[name]}: {n:,} customers, sandbox with Stripe's test-mode limit ({RATE} "
          "reads/s)", flush=True)
    with Sandbox(n, "on", root / f"sandbox-limited-{name}.log", None) as sandbox:
        time.sleep(1.1)  # let the readiness probes leave the limiter's one-second window
        r = contender(name, sandbox.base, n, root, None, args.timeout, sandbox, limited=True)
    # A 429 does not enter the sandbox's window, so only answered requests count against the limit. When inlet's
    # output does not say, the fewest the sync can need: the list pages plus one events request.
    estimated = r["requests"] is None
    answered = math.ceil(n / PAGE) + 1 if estimated else r["requests"] - (r["rate_limited"] or 0)
    # In a one-second sliding window of RATE, request i (from 0) can go at second i // RATE at the earliest:
    # the last of n goes at (n - 1) // RATE seconds.
    least = float((answered - 1) // RATE)
    # The sync's own duration (first request to last commit, as `inlet sync` reports it); the process's wall
    # time also holds the interpreter's start-up, which no limit governs.
    r["sync_s"] = r["sync_s"] or r["wall_s"]
    r.update({"requests_used": answered, "requests_estimated": estimated, "least_s": least,
              "ratio": r["sync_s"] / least if least else None})
    print(f"  (a) inlet sync {r['sync_s']:.2f} s (process {r['wall_s']:.2f} s) for {answered} answered requests"
          f"{' (estimated: not in its output)' if estimated else ''}; the limit allows {least:.2f} s at best "
          f"-> ratio {fmt(r['ratio'], '.3f')}; 429s seen: {fmt(r['rate_limited'], 'd')}", flush=True)
    return r


def targets(pull: dict | None, limited: dict | None) -> dict[str, bool | None]:
    """True met, False not met, None not measured (or not known)."""
    def check(value: float | None, ok: Callable[[float], bool]) -> bool | None:
        return None if value is None else ok(value)

    c = pull["contenders"] if pull else {}
    r = pull["ratios"] if pull else {}
    limit_ok = None
    if limited and not limited["requests_estimated"] and None not in (limited["rate_limited"], limited["ratio"]):
        limit_ok = limited["ratio"] <= 1.05 and limited["rate_limited"] == 0
    return {"(a) >= 70% of (b)": check(r.get("a_over_b"), lambda v: v >= 0.7),
            "(a) >= 3x the faster dlt": check(r.get("a_over_best_dlt"), lambda v: v >= 3),
            "peak RSS of (a) < 300 MB": check(c["inlet"]["peak_rss_mb_max"] if "inlet" in c else None,
                                              lambda v: v < 300),
            "rate-limited <= 1.05 of least, no 429": limit_ok}


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown")
    versions = {}
    for package in ("inlet", "duckdb", "dlt", "httpx", "pyarrow"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {"cpu": model, "cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
            "python": platform.python_version(), "platform": platform.platform(), "versions": versions}


def fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "n/a" if value is None else format(value, spec) + suffix


def report(figures: dict) -> None:
    pull = figures.get("pull")
    if pull:
        print(f"\nmedians of {figures['rounds']} round(s), {figures['records']:,} customers")
        print(f"{'contender':<30}{'records/s':>11}{'(range)':>20}{'wall s':>9}{'peak RSS MB':>13}{'CPU s':>8}")
        for name, v in pull["contenders"].items():
            low, high = v["records_per_s_range"]
            print(f"{CONTENDERS[name]:<30}{v['records_per_s']:>11,.0f}{f'({low:,.0f}-{high:,.0f})':>20}"
                  f"{v['wall_s']:>9.2f}{v['peak_rss_mb']:>13.1f}{v['cpu_s']:>8.2f}")
        r = pull["ratios"]
        print(f"\n(a)/(b) = {fmt(r['a_over_b'], '.1%')}   (a)/(best dlt) = {fmt(r['a_over_best_dlt'], '.2f', 'x')}"
              "   (medians of the rounds' ratios)")
        if r.get("a0_over_b") is not None:
            print(f"before: (a0)/(b) = {fmt(r['a0_over_b'], '.1%')}   "
                  f"(a0)/(best dlt) = {fmt(r['a0_over_best_dlt'], '.2f', 'x')}")
    for label, key in (("", "rate_limited"), ("before, ", "rate_limited_before")):
        if not (limited := figures.get(key)):
            continue
        print(f"{label}rate-limited ({figures['rate_records']:,} customers): sync {limited['sync_s']:.2f} s "
              f"(process {limited['wall_s']:.2f} s), least "
              f"{limited['least_s']:.2f} s for {limited['requests_used']} answered requests"
              f"{' (estimated)' if limited['requests_estimated'] else ''}, ratio {fmt(limited['ratio'], '.3f')}, "
              f"429s {fmt(limited['rate_limited'], 'd')}")
    print("\ntargets")
    for target, met in figures["targets"].items():
        print(f"  {target:<40} {'met' if met else 'not measured' if met is None else 'NOT met'}")


def compile_inlet() -> None:
    """inlet's modules as an install leaves them, compiled to bytecode (as `make bench` does): this editable checkout
    would otherwise have `inlet` compile them on every start wherever PYTHONDONTWRITEBYTECODE is set."""
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0",
                    *(str(root / p) for p in ("engine", "connectors", "sandbox", "mappings"))],
                   check=True, stdout=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="customers in the sandbox (default 100000)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds in which the contenders take turns (default 1)")
    parser.add_argument("--contenders", default=",".join(CONTENDERS),
                        help=f"comma-separated subset of {','.join(CONTENDERS)} (default all)")
    parser.add_argument("--rate-records", type=int, default=20_000,
                        help="customers for the rate-limited run (default 20000)")
    parser.add_argument("--skip-rate-limited", action="store_true", help="leave out the rate-limited run")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin sandbox and contenders to CPUs")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before a contender is killed")
    parser.add_argument("--vendors", default="hubspot,shopify",
                        help="also measure these connectors, 10,000 records each (default hubspot,shopify; '' none)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON to PATH")
    parser.add_argument("--before", type=Path, metavar="TREE",
                        help="also run the inlet of this checkout (e.g. `git worktree add /tmp/before <commit>`) "
                             "as contender inlet-before, in every run: before and after side by side")
    args = parser.parse_args()

    names = [n.strip() for n in args.contenders.split(",") if n.strip() and n.strip() != "inlet-before"]
    if args.before:
        if not (args.before / "engine" / "cli.py").is_file():
            parser.error(f"--before {args.before}: not an inlet checkout (no engine/cli.py)")
        BEFORE["PYTHONPATH"] = str(args.before.resolve())
        names.insert(names.index("inlet") if "inlet" in names else 0, "inlet-before")
    if unknown := [n for n in names if n not in CONTENDERS]:
        parser.error(f"unknown contenders: {', '.join(unknown)}")
    compile_inlet()
    info = machine()
    print(f"CPU: {info['cpu']}, {info['cores']} cores ({info['usable_cores']} usable); Python {info['python']}; "
          f"{info['platform']}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()), flush=True)
    figures: dict = {"records": args.records, "rounds": args.rounds, "rate_records": args.rate_records,
                     "machine": info}
    try:
        with tempfile.TemporaryDirectory(prefix="inlet-pull-") as tmp:
            root = Path(tmp)
            figures["pull"] = measure_pull(args, root, names) if names else None
            run_limited = not args.skip_rate_limited and "inlet" in names
            figures["rate_limited"] = measure_rate_limited(args, root) if run_limited else None
            if run_limited and args.before:
                figures["rate_limited_before"] = measure_rate_limited(args, root, "inlet-before")
            import vendors  # bench/vendors.py: HubSpot and Shopify

            chosen = list(filter(None, (x.strip() for x in args.vendors.split(","))))
            figures["vendors"] = {v: vendors.measure(v, root, args.timeout) for v in chosen}
            if args.before:
                figures["vendors_before"] = {v: vendors.measure(v, root, args.timeout, env=BEFORE, label="before, ")
                                             for v in chosen}
    except (BenchError, subprocess.CalledProcessError, OSError) as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    figures["targets"] = targets(figures["pull"], figures["rate_limited"])
    for vendor, v in figures["vendors"].items():
        figures["targets"][f"{vendor}: rate-limited <= 1.05 of least, no 429/THROTTLED"] = v["rate_limited"]["met"]
    for vendor, v in figures.get("vendors_before", {}).items():
        figures["targets"][f"before, {vendor}: rate-limited <= 1.05, no 429/THROTTLED"] = v["rate_limited"]["met"]
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
