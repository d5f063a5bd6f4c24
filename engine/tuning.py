"""The interpreter and allocator settings inlet changes, all of them, each with the measurement that earned it
(figures in BENCHMARKS.md and the commits that added them). A setting whose gain was inside the benchmark's noise
is not here: the start-up GC threshold, skipping httpx's CLI import and the `os._exit` at the end of a command
(each 30-100 ms of a command), and the GC freeze of `inlet sync` (~5% of a first sync) were removed.

- `for_server` (`inlet serve`): freeze what start-up built and raise the first GC threshold. Full collections
  walked every long-lived object (FastAPI, pydantic, DuckDB and Arrow modules): tens of ms each, most of the
  collect path's p99 latency under load (bench/collect.py).
- `for_sync` (a process that syncs): hand the GIL over after 0.5 ms instead of 5. DuckDB's client takes the GIL
  back between the small tasks of a statement, and each time a busy Python thread held it the store writer's
  thread waited out the rest of that thread's interval: 100,000 Stripe customers applied took 1.7 s alone, 11.7 s
  beside a thread running Python at 5 ms, 2.0 s at 0.2 ms (bench/pull.py, unpinned: 5-21% less wall time).
  `inlet serve` keeps the default: at 0.5 ms its collect path answered 20-25% fewer requests per second.
- Both: Arrow's buffers from the C library's allocator instead of the mimalloc bundled with pyarrow, which keeps
  freed pages: ~19 MB of a first sync's peak RSS, at no measurable cost in time.
"""

from __future__ import annotations

import gc
import sys

import pyarrow as pa

SWITCH_INTERVAL = 0.0005  # seconds a thread may hold the GIL while another waits for it (Python's default: 0.005)


def for_server() -> None:
    pa.set_memory_pool(pa.system_memory_pool())
    gc.freeze()
    gc.set_threshold(10_000, 50, 100)


def for_sync() -> None:
    pa.set_memory_pool(pa.system_memory_pool())
    sys.setswitchinterval(SWITCH_INTERVAL)


def release() -> None:
    """At the end of `inlet serve`: what `for_server` froze may be freed (DuckDB's objects, before exit)."""
    gc.unfreeze()
