"""The `inlet` command's entry point: the garbage collector held back while the command starts.

Start-up (the CLI, the config models, DuckDB, Arrow, httpx and inlet's own modules) builds ~85,000 objects that
live as long as the process, and the collector's first threshold (700 allocations) had it walk them again and
again while they were being built: 40-60 ms of a command's start (the imports of `inlet sync`, six runs on one core:
0.33-0.51 s with it, 0.29-0.36 s without). Collections still happen, just rarely; `inlet serve` and `inlet sync`
set their own thresholds once started (`tune_gc`).
"""

from __future__ import annotations

import gc

STARTUP_THRESHOLD = 100_000  # allocations before a first-generation collection while the command starts


def main() -> None:
    gc.set_threshold(STARTUP_THRESHOLD, *gc.get_threshold()[1:])
    from engine.cli import main as run

    run()
