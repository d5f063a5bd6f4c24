"""HubSpot and Shopify in `bench/pull.py`: `inlet sync` of 10,000 records from each vendor's sandbox.

For each vendor, two runs, each `inlet sync` in a child process into a fresh store, checked against the count:
  throughput     the sandbox's limits off (and inlet's lifted the same way, as a user would for a server without
                 limits): records per second, process wall time (start-up included) and the sync's own time;
  rate-limited   the documented limits on, inlet's defaults: the sync's own time over the least the limit allows,
                 with the 429s (HubSpot) or THROTTLED answers (Shopify) it met (target: <= 1.05, none).
The least the limit allows:
  HubSpot   100 requests per rolling 10 s (search apart, 5 per second): request i (from 0) cannot go before
            (i // 100) * 10 s, so n requests need ((n - 1) // 100) * 10 s; the search requests' own bound likewise.
  Shopify   a bucket of `maximum` points restoring `rate` a second, full at the start: the points the queries
            cost beyond the bucket, over the rate. A page of 200 customers is priced 802 points (2 + 200 x 4:
            the customer and its three objects) and costs that much. The plan is Plus (20,000 points, 1,000 a
            second): on the standard plan (100 a second) 10,000 customers would take over six minutes.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from pull import BIN, BenchError, Sandbox, fmt, parse_sync_summary, run_child

RECORDS = 10_000
HUBSPOT_LIMIT, HUBSPOT_WINDOW, SEARCH_LIMIT = 100, 10.0, 5
SHOPIFY_PLUS = (20_000.0, 1_000.0)
SHOPIFY_PAGE_COST = 802  # customers(first: 200) with the connector's selection
SOURCES = {
    "hubspot": ("crm", "contacts", "contact",
                "{{id: crm, name: HubSpot, channel: crm, bridge: hubspot, token: pat-na1-sandbox, base_url: \"{base}\","
                " objects: [contacts]{limit}}}", ", requests_per_10s: 1000, search_per_second: 100"),
    "shopify": ("shop", "customers", "customer",
                "{{id: shop, name: Shopify, channel: web, bridge: shopify, shop: inlet-sandbox.myshopify.com, "
                "access_token: shpat_sandbox, base_url: \"{base}\", objects: [customers]{limit}}}", ""),
}


def run_sync(vendor: str, base: str, root: Path, sandbox: Sandbox, timeout: float, limited: bool,
             env: dict[str, str] | None = None) -> dict:
    source_id, _, object_type, template, no_limit = SOURCES[vendor]
    work = Path(tempfile.mkdtemp(prefix=f"{vendor}-", dir=root))
    config = work / "inlet.yaml"
    config.write_text("store: {path: inlet.duckdb}\nsources:\n  - "
                      + template.format(base=base, limit="" if limited else no_limit) + "\n")
    result = run_child([str(BIN / "inlet"), "-c", str(config), "sync", source_id], work, work / "output.log", None,
                       timeout, sandbox, env=env)
    output = result.pop("output")
    count = _count(config, work, object_type, env)
    if count != RECORDS:
        raise BenchError(f"{vendor}: {count:,} {object_type} records landed, expected {RECORDS:,}:\n{output[-2000:]}")
    result["requests"], result["rate_limited"] = parse_sync_summary(output)
    throttled = re.findall(r"([\d,]+) THROTTLED", output)
    result["throttled"] = int(throttled[-1].replace(",", "")) if throttled else None
    done = re.findall(r": done in ([\d.]+) s", output)
    result["sync_s"] = float(done[-1]) if done else result["wall_s"]
    result["records_per_s"] = RECORDS / result["wall_s"]
    result["requests_per_object"] = _requests(config, work, env)
    return result


def _count(config: Path, work: Path, object_type: str, env: dict[str, str] | None) -> int:
    done = subprocess.run([str(BIN / "inlet"), "-c", str(config), "sql",
                           f"SELECT count(*) FROM records WHERE object_type = '{object_type}'", "--format", "csv"],
                          cwd=work, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise BenchError(f"counting records failed:\n{done.stdout}{done.stderr}")
    return int(done.stdout.strip().splitlines()[-1])


def _requests(config: Path, work: Path, env: dict[str, str] | None) -> int:
    done = subprocess.run([str(BIN / "inlet"), "-c", str(config), "sql", "SELECT sum(requests) FROM sync_runs",
                           "--format", "csv"], cwd=work, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    return int(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else 0


def least_hubspot(requests: int) -> float:
    """A first sync of contacts makes one search request (the window after the list), limited apart; the rest
    go under the rolling limit."""
    general = requests - 1
    return float((general - 1) // HUBSPOT_LIMIT) * HUBSPOT_WINDOW


def least_shopify(requests: int) -> float:
    maximum, rate = SHOPIFY_PLUS
    return max(0.0, (requests * SHOPIFY_PAGE_COST - maximum) / rate)


def measure(vendor: str, root: Path, timeout: float, env: dict[str, str] | None = None, label: str = "") -> dict:
    """`env` (pull.py's BEFORE) runs another checkout's inlet; `label` names it in the output."""
    figures: dict = {}
    started = time.monotonic()
    with Sandbox(RECORDS, "off", root / f"{vendor}-sandbox.log", None) as sandbox:
        print(f"\n{label}{vendor}: {RECORDS:,} records, sandbox up after {time.monotonic() - started:.1f}s", flush=True)
        r = figures["throughput"] = run_sync(vendor, sandbox.base, root, sandbox, timeout, limited=False, env=env)
        print(f"  limits off: {r['records_per_s']:,.0f} records/s (process {r['wall_s']:.2f} s, sync "
              f"{r['sync_s']:.2f} s, {r['requests']} requests, peak RSS {r['peak_rss_mb']:.0f} MB)", flush=True)
    extra = ["--shopify-plan", "plus"] if vendor == "shopify" else []
    with Sandbox(RECORDS, "on", root / f"{vendor}-sandbox-limited.log", None, extra=extra) as sandbox:
        time.sleep(1.1)  # the readiness probes leave the limiters' windows
        r = figures["rate_limited"] = run_sync(vendor, sandbox.base, root, sandbox, timeout, limited=True, env=env)
    least = least_hubspot(r["requests"]) if vendor == "hubspot" else least_shopify(r["requests"])
    r["least_s"] = least
    r["ratio"] = r["sync_s"] / least if least else None
    refused = (r["rate_limited"] or 0) + (r["throttled"] or 0)
    r["met"] = r["ratio"] is not None and r["ratio"] <= 1.05 and refused == 0
    throttled = "" if vendor == "hubspot" else f", THROTTLED {r['throttled']}"
    print(f"  documented limits on: sync {r['sync_s']:.2f} s for {r['requests']} requests; the limit allows "
          f"{least:.2f} s at best -> ratio {fmt(r['ratio'], '.3f')}; 429s {r['rate_limited']}{throttled}", flush=True)
    return figures
