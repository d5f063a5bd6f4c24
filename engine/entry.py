"""The `inlet` command's entry point: what the command's start and end should not pay for.

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
- **The interpreter is not taken apart at the end.** Once the command has returned, the exit handlers have run
  (`atexit`, as Python would run them) and the output is flushed, the process ends there (`os._exit` with the
  command's status) instead of having Python collect and free every object and module one by one: that teardown
  took ~0.1 s of wall time after an `inlet sync` (four pairs of runs: 0.10-0.12 s from the command's return to the
  process's end, 0.03 s without it). Every command closes what it opened itself (the store, sockets, its threads)
  before it returns; should a non-daemon thread still be running, or an exception other than SystemExit (Ctrl-C
  included) escape, the process ends the usual way.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
import threading

STARTUP_THRESHOLD = 100_000  # allocations before a first-generation collection while the command starts


def main() -> None:
    gc.set_threshold(STARTUP_THRESHOLD, *gc.get_threshold()[1:])
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # (None: "import it" fails at once)
    from engine.cli import main as run

    try:
        run()
        code: object = None
    except SystemExit as exc:
        code = exc.code
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)  # Python waits for them
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)  # what Python prints for SystemExit("message")
    end_now(exit_status(code))


def exit_status(code: object) -> int:
    """The status Python itself would exit with for `SystemExit(code)`."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    return 1


def end_now(status: int) -> None:
    """Run the exit handlers, flush the output and end the process, skipping the interpreter's teardown."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):  # closed, or replaced by something without flush
            pass
    os._exit(status)
