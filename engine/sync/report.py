"""What `inlet sync` prints: a live line per object on a terminal, then a summary table."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from engine.output import table


class ProgressLine:
    """`customers  12,300 read  12,300 changed  4,100/s`, rewritten in place on a terminal; silent otherwise
    (the summary says it all in logs and pipes)."""

    def __init__(self, out: TextIO = sys.stderr) -> None:
        self.out = out
        self.live = out.isatty()
        self._started: dict[str, float] = {}

    def __call__(self, message: dict) -> None:
        if not self.live:
            return
        name = message["object"]
        started = self._started.setdefault(name, time.monotonic())
        rate = message["read"] / max(time.monotonic() - started, 1e-3)
        line = f"  {name:<14} {message['read']:>10,} read {message['changed']:>10,} changed {rate:>9,.0f}/s"
        self.out.write("\r" + line + ("\n" if message["done"] else ""))
        self.out.flush()


COLUMNS = ["object", "status", "read", "created", "updated", "deleted", "requests", "seconds"]


def summary(result: dict[str, Any]) -> tuple[list[str], list[list], list[str]]:
    """(columns, rows, lines to print after the table: notes and errors)."""
    rows, lines = [], []
    total = dict.fromkeys(("read", "created", "updated", "deleted", "requests"), 0)
    seconds = 0.0
    for s in result["streams"]:
        c = s["counts"]
        rows.append([s["name"], s["status"], c["read"], c["created"], c["updated"], c["deleted"], c["requests"],
                     round(s["seconds"], 2)])
        for key in total:
            total[key] += c[key]
        seconds += s["seconds"]
        lines += [f"{s['name']}: {note}" for note in s["notes"]]
        if s["error"]:
            lines.append(f"{s['name']}: failed: {s['error']}")
    if len(rows) > 1:
        rows.append(["total", "ok" if result["ok"] else "failed", total["read"], total["created"], total["updated"],
                     total["deleted"], total["requests"], round(seconds, 2)])
    return COLUMNS, rows, lines


def print_summary(result: dict[str, Any], echo) -> None:
    columns, rows, lines = summary(result)
    seconds = sum(s["seconds"] for s in result["streams"])
    echo(f"sync of {result['source_id']} (run {result['run_id']}): {'done' if result['ok'] else 'FAILED'} "
         f"in {seconds:.2f} s")
    echo(table(columns, rows))
    http = result.get("http") or {}
    if http:
        line = f"HTTP: {http['requests']:,} requests, {http['rate_limited']:,} answered 429 (rate-limited)"
        if "throttled" in http:  # Shopify GraphQL: throttling answers 200 with a THROTTLED error
            line += f", {http['throttled']:,} THROTTLED"
        echo(line)
    writebacks = result.get("writebacks")
    if writebacks and any(writebacks.values()):
        waiting = writebacks.get("pending", 0)
        echo(f"write-backs: {writebacks.get('sent', 0):,} sent, {writebacks.get('rejected', 0):,} rejected by the "
             f"vendor, {waiting:,} to try again later, {writebacks.get('failed', 0):,} failed for good "
             "(see the writebacks table)")
    for line in lines:
        echo(line)
