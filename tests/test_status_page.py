"""The console's overview at `/` (the status page it replaced): rendered from status rows, and served by the real
server to a real headless Chromium."""

from __future__ import annotations

import datetime as dt
import html
import re
import shutil
import subprocess

import httpx
import pytest

from engine.console.routes import render_overview
from tests.conftest import DEFAULT_SOURCES, InProcessServer

NOW = dt.datetime(2025, 3, 1, 12, 0, 0, tzinfo=dt.UTC)

ROWS = [
    {"source_id": "stripe", "name": "Stripe <live>", "bridge": "stripe", "channel": "billing", "enabled": True,
     "events": 0, "last_event_at": None, "rejections": 0, "records": 1234,
     "schedule": "every 15m", "last_sync_at": "2025-03-01T11:45:00.123456+00:00", "last_sync": "failed",
     "last_sync_finished_at": "2025-03-01T11:45:07.9+00:00", "last_sync_read": 40, "last_sync_changed": 3,
     "last_sync_error": 'HTTP 500 from <script>alert("x")</script> & more',
     "next_sync_at": "2025-03-01T12:00:00+00:00"},
    {"source_id": "hubspot", "name": "HubSpot", "bridge": "hubspot", "channel": "crm", "enabled": True,
     "events": 0, "last_event_at": None, "rejections": 0, "records": 0,
     "schedule": "cron 0 */2 * * * (Europe/Warsaw)", "last_sync_at": None, "last_sync": None,
     "last_sync_finished_at": None, "last_sync_read": None, "last_sync_changed": None, "last_sync_error": None,
     "next_sync_at": "2025-03-01T14:00:00+01:00"},
    {"source_id": "website", "name": "Website", "bridge": "webhook", "channel": "web", "enabled": False,
     "events": 17, "last_event_at": "2025-03-01T11:59:30.5+00:00", "rejections": 2, "records": None,
     "schedule": None, "last_sync_at": "2025-03-01T10:00:00+00:00", "last_sync": "succeeded",
     "last_sync_finished_at": None, "last_sync_read": None, "last_sync_changed": None, "last_sync_error": None,
     "next_sync_at": None},
]


TOTALS = {"events_today": 1234567, "profiles": 3, "merges": 1, "pending_writebacks": 0, "spool": 2}
HOUR = NOW.replace(minute=0)


def render_status(rows: list[dict], now: dt.datetime) -> str:
    volumes = {"website": {HOUR: 7, HOUR - dt.timedelta(hours=30): 14, HOUR - dt.timedelta(days=8): 99}}
    return render_overview(rows, volumes, TOTALS, {"stripe", "hubspot"}, now).body.decode()


def _row(page: str, source_id: str) -> str:
    match = re.search(rf'<tr data-source="{re.escape(source_id)}"[^>]*>(.*?)</tr>', page, re.S)
    assert match, f"no row for {source_id} in:\n{page}"
    return match.group(1)


def _cell(row: str, field: str) -> str:
    match = re.search(rf'<td[^>]*data-field="{field}"[^>]*>(.*?)</td>', row, re.S)
    assert match, f"no {field} cell in:\n{row}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip()


def test_page_renders_every_row_escaped_with_times_outcomes_and_schedules():
    page = render_status(ROWS, now=NOW)
    assert "<title>inlet console</title>" in page
    assert '<meta http-equiv="refresh" content="30">' in page
    assert "2025-03-01 12:00:00 UTC" in page  # when it was generated
    assert re.findall(r'<tr data-source="([^"]+)"', page) == ["stripe", "hubspot", "website"]
    assert '<div class="n">1,234,567</div><div class="label">events today (UTC)</div>' in page
    assert '<div class="n">2</div><div class="label">events in the spool</div>' in page

    # Nothing on the page may reach the network: no scripts, no external links, fonts or images.
    assert "<script" not in page and "http://" not in page and "https://" not in page and "url(" not in page

    # the volume chart: the hours of the last 7 days (not older), the tallest bar the full height
    chart = _cell(_row(page, "website"), "chart")
    assert chart == "2025-02-28 06:00 UTC: 14 events 2025-03-01 12:00 UTC: 7 events", chart
    assert 'data-total="21"' in _row(page, "website") and 'height="46.0"' in _row(page, "website")
    assert "<rect" not in _row(page, "stripe")

    stripe = _row(page, "stripe")
    assert "Stripe &lt;live&gt;" in stripe
    assert 'HTTP 500 from &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; more' in stripe
    assert '<span class="badge failed">failed</span>' in stripe
    assert "read 40 · changed 3" in stripe
    assert "2025-03-01 11:45:00 UTC" in stripe and "14m ago" in stripe  # started, shortened to seconds
    assert _cell(stripe, "schedule") == "every 15m"
    assert _cell(stripe, "next-run") == "2025-03-01 12:00:00 UTC now"
    assert _cell(stripe, "records") == "1,234"
    assert _cell(stripe, "last-event") == "—"

    hubspot = _row(page, "hubspot")
    assert _cell(hubspot, "last-run") == "never"
    assert _cell(hubspot, "schedule") == "cron 0 */2 * * * (Europe/Warsaw)"
    assert _cell(hubspot, "next-run") == "2025-03-01 14:00:00 +01:00 in 1h"  # its own offset, timed correctly

    website = _row(page, "website")
    assert _cell(website, "schedule") == "push"
    assert _cell(website, "enabled") == "no"
    assert '<span class="badge succeeded">succeeded</span>' in website
    assert _cell(website, "next-run") == "—"
    assert _cell(website, "records") == "—"
    assert 'href="/sources/website"' in website
    assert (_cell(website, "events"), _cell(website, "rejections")) == ("17", "2")
    assert _cell(website, "last-event") == "2025-03-01 11:59:30 UTC 29s ago"  # whole units, never rounded up
    assert 'class="disabled"' in page.split('data-source="website"')[1].split(">")[0]


def test_page_tolerates_missing_and_none_values_and_says_when_there_are_no_sources():
    sparse = render_status([{"source_id": "x"}, {key: None for key in ROWS[0]}, {"source_id": "y", "last_sync": "odd",
                                                                                "last_sync_at": "not a time"}], now=NOW)
    assert _cell(_row(sparse, "x"), "schedule") == "push"
    assert _cell(_row(sparse, "x"), "last-run") == "—"
    assert '<tr data-source="">' in sparse
    assert '<span class="badge other">odd</span>' in sparse and "not a time" in sparse

    empty = render_status([], now=NOW)
    assert "data-source" not in empty and "No sources are configured." in empty


def _serve(config_path) -> InProcessServer:
    return InProcessServer(config_path)


def test_page_is_served_as_html(config_path):
    with _serve(config_path) as srv, httpx.Client(base_url=srv.url, timeout=10) as http:
        r = http.get("/")
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        assert re.findall(r'<tr data-source="([^"]+)"', r.text) == [s["id"] for s in DEFAULT_SOURCES]
        assert "/" not in http.get("/openapi.json").json()["paths"]


def test_headless_chromium_renders_a_row_for_every_source(config_path, tmp_path):
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not shutil.which(chromium):
        pytest.fail(f"Chromium is needed for this test and was not found at {chromium}; "
                    "`make test` installs it (apt-get install chromium)")
    with _serve(config_path) as srv, httpx.Client(base_url=srv.url, timeout=10) as http:
        assert http.post("/collect/signup/website", json={"email": "ada@example.com"}).status_code == 200
        assert http.get("/collect/page-view/website", params={"path": "/pricing"}).status_code == 200
        assert http.get("/status").status_code == 200  # flushes the writer: the events are in the store now

        result = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'chromium'}", "--dump-dom", f"{srv.url}/"],
            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"chromium failed ({result.returncode}): {result.stderr[-2000:]}"
    dom = result.stdout
    assert "<title>inlet console</title>" in dom, dom[:2000] or result.stderr[-2000:]
    for source in DEFAULT_SOURCES:
        row = _row(dom, source["id"])
        assert html.escape(source["name"]) in row
    assert _cell(_row(dom, "website"), "events") == "2"
    assert _cell(_row(dom, "app"), "events") == "0"
    assert _cell(_row(dom, "legacy"), "enabled") == "no"
    assert _cell(_row(dom, "website"), "schedule") == "push"
    assert 'data-total="2"' in _row(dom, "website")  # both events in the current hour's bar
