"""The `inlet` command's entry point: what the command's start-up should not pay for.

- **The garbage collector is held back while the command starts.** Start-up (the CLI, the config models, DuckDB,
  Arrow, httpx and inlet's own modules) builds ~85,000 objects that live as long as the process, and the
  collector's first threshold (700 allocations) had it walk them again and again while they were being built:
  40-60 ms of a command's start (the imports of `inlet sync`, six runs on one core: 0.33-0.51 s with it, 0.29-0.36 s
  without). Collections still happen, just rarely; `inlet serve` and `inlet sync` set their own thresholds once
  started (`tune_gc`).
- **httpx's command-line client is not imported.** httpx imports it on import whenever `rich` and `pygments` are
  installed (many environments have them; the bench extra's dlt brings them), which cost inlet's start-up
  30-40 ms (eight runs on one core: 0.20-0.27 s of CPU for the third-party imports without it, 0.23-0.41 s with
  it). inlet never uses it; httpx then defines its own stand-in that explains how to install it.
"""

from __future__ import annotations

import gc
import sys

STARTUP_THRESHOLD = 100_000  # allocations before a first-generation collection while the command starts


def main() -> None:
    gc.set_threshold(STARTUP_THRESHOLD, *gc.get_threshold()[1:])
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # (None: "import it" fails at once)
    from engine.cli import main as run

    run()
