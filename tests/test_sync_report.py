"""What `inlet sync` prints: the live line on a terminal (and nothing in a pipe), and the summary."""

from __future__ import annotations

import io

from engine.sync.report import ProgressLine, print_summary


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_one_line_rewritten_in_place_on_a_terminal_only():
    tty = _Terminal()
    line = ProgressLine(tty)
    line({"object": "customers", "read": 100, "changed": 100, "done": False})
    line({"object": "customers", "read": 1200, "changed": 1150, "done": False})
    line({"object": "customers", "read": 1250, "changed": 1150, "done": True})
    out = tty.getvalue()
    assert out.count("\r") == 3 and out.count("\n") == 1 and out.endswith("\n")
    assert "customers" in out and "1,250 read" in out and "1,150 changed" in out and "/s" in out
    pipe = io.StringIO()
    ProgressLine(pipe)({"object": "customers", "read": 1, "changed": 1, "done": True})
    assert pipe.getvalue() == ""


def test_summary_has_a_row_per_object_a_total_and_the_reasons():
    result = {"source_id": "billing", "run_id": "r1", "ok": False, "http": {"requests": 12, "rate_limited": 2},
              "streams": [
                  {"name": "customers", "status": "succeeded", "seconds": 1.5, "error": None,
                   "notes": ["the cursor is older than the 30 days"],
                   "counts": {"read": 10, "created": 3, "updated": 2, "deleted": 1, "requests": 4, "changed": 6}},
                  {"name": "charges", "status": "failed", "seconds": 0.5, "error": "HTTP 500 twice", "notes": [],
                   "counts": {"read": 0, "created": 0, "updated": 0, "deleted": 0, "requests": 8, "changed": 0}}]}
    lines: list[str] = []
    print_summary(result, lines.append)
    text = "\n".join(lines)
    assert text.startswith("sync of billing (run r1): FAILED in 2.00 s")
    rows = [row.split() for row in text.splitlines()]
    assert ["customers", "succeeded", "10", "3", "2", "1", "4", "1.5"] in rows
    assert ["total", "failed", "10", "3", "2", "1", "12", "2.0"] in rows
    assert "HTTP: 12 requests, 2 answered 429 (rate-limited)" in text
    assert "customers: the cursor is older than the 30 days" in text and "charges: failed: HTTP 500 twice" in text
