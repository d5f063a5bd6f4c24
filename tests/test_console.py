"""The console in a real headless Chromium against the real server: the overview, a source's live debugger
receiving an event sent during the test, hostile event properties and names shown as text, the profile search, and
a merged profile's page (the merged id redirects to the live profile, whose timeline has both profiles' events)."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import urlencode

import httpx
import pytest

from engine.console.queries import find_profiles, profile
from engine.store.database import open_store, store_cursor
from tests.browser import Browser
from tests.conftest import InProcessServer, write_config
from tests.sandbox_api import SandboxAPI

WRITE_KEY = "wk_console_test_key"
HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
SOURCES = [
    {"id": "website", "name": f"Web {HOSTILE}", "channel": "web", "bridge": "webhook"},
    {"id": "app", "name": "Mobile app", "channel": "mobile", "bridge": "tracking", "write_key": WRITE_KEY,
     "mapping": "app.mapping.yaml"},
]
# the shipped tracking mapping, with the phone as an identity too
APP_MAPPING = """
events:
  identify:
    identities: [{kind: email, path: properties.email}, {kind: phone, path: properties.phone}]
    fields: [{path: properties.name, attribute: name, type: string}]
"""


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    directory = tmp_path_factory.mktemp("console")
    (directory / "app.mapping.yaml").write_text(APP_MAPPING)
    with InProcessServer(write_config(directory, sources=SOURCES)) as srv, \
            httpx.Client(base_url=srv.url, timeout=30) as http, Browser(directory) as browser:
        yield srv, http, browser


def _identify(http: httpx.Client, user_id: str, anonymous_id: str, email: str, **traits) -> None:
    answer = http.post("/v1/identify", auth=(WRITE_KEY, ""), json={
        "userId": user_id, "anonymousId": anonymous_id, "traits": {"email": email, **traits}})
    assert answer.status_code == 200, answer.text


def test_the_overview_shows_every_source_with_its_chart_and_the_totals(console):
    srv, http, browser = console
    assert http.post("/collect/page-view/website/visitor-1", json={"path": "/pricing"}).status_code == 200
    assert http.get("/status").status_code == 200  # the writer flushed
    page = browser.open(f"{srv.url}/")
    try:
        rows = page.eval("[...document.querySelectorAll('tr[data-source]')].map(r => r.dataset.source)")
        assert rows == ["website", "app"]
        name = page.eval("document.querySelector('tr[data-source=website] td').textContent")
        assert HOSTILE in name  # shown as text, not markup
        assert page.eval("window.pwned") is None and page.eval("document.querySelectorAll('img').length") == 0
        bars = page.eval("document.querySelectorAll('tr[data-source=website] svg.chart rect').length")
        assert bars >= 1
        assert page.eval("document.querySelector('[data-total=events-today] .n').textContent") != "0"
    finally:
        page.close()


def test_the_live_debugger_shows_an_event_sent_while_the_page_is_open(console):
    srv, http, browser = console
    page = browser.open(f"{srv.url}/sources/website")
    try:
        before = page.eval("document.querySelectorAll('#debugger-events details').length")
        properties = {"path": "/live", "note": HOSTILE, "n": 42}
        sent = http.post("/collect/debug-me/website/visitor-live", json=properties)
        assert sent.status_code == 200
        event_id = sent.json()["event_id"]
        page.wait_for(f"!!document.querySelector('details[data-event-id=\"{event_id}\"]')")
        assert page.eval("document.querySelectorAll('#debugger-events details').length") == before + 1
        newest = "document.querySelector('#debugger-events details')"
        assert page.eval(f"{newest}.dataset.eventId") == event_id  # newest first
        assert page.eval(f"{newest}.querySelector('.event-type').textContent") == "debug-me"
        page.eval(f"{newest}.open = true")
        shown = json.loads(page.eval(f"{newest}.querySelector('pre.properties').textContent"))
        assert shown == properties
        context = json.loads(page.eval(f"{newest}.querySelector('pre.context').textContent"))
        assert context["ip"] == "127.0.0.1"
        assert page.eval("window.pwned") is None and page.eval("document.querySelectorAll('img').length") == 0
        # a second one arrives too, once
        again = http.post("/collect/debug-me-too/website/visitor-live", json={"n": 43}).json()["event_id"]
        page.wait_for(f"!!document.querySelector('details[data-event-id=\"{again}\"]')")
        ids = page.eval("[...document.querySelectorAll('#debugger-events details')].map(d => d.dataset.eventId)")
        assert ids[:2] == [again, event_id] and len(ids) == len(set(ids))
        snippet = page.eval("document.querySelector('[data-section=snippet]').textContent")
        assert f"{srv.url}/collect/console-test/website/test-visitor" in snippet
    finally:
        page.close()


def test_profile_search_and_a_merged_profiles_page(console):
    srv, http, browser = console
    # two people's devices identify as two users; then the second user turns out to have the first's email: merge
    _identify(http, "user-ada", "device-1", "ada@example.com", name="Ada")
    assert http.post("/collect/page-view/website/device-1", json={"path": "/docs"}).status_code == 200
    _identify(http, "user-ada-2", "device-2", "ada.work@example.com", phone="+44 20 7946 0000")
    assert http.post("/collect/signup/website/device-2", json={"plan": "pro"}).status_code == 200
    _identify(http, "user-ada-2", "device-2", "ada@example.com")  # the email the first profile holds: they merge
    survivor, merged = srv.sql("SELECT merged_into::VARCHAR, profile_id::VARCHAR FROM profile_merges")[0]

    page = browser.open(f"{srv.url}/profiles?q=ADA@example.com")
    try:
        found = page.eval("[...document.querySelectorAll('#results tr[data-profile]')].map(r => r.dataset.profile)")
        assert found == [survivor]
        for q in ("user-ada-2", "device-2", merged, "+44 20 7946 0000", "+44 (20) 7946-0000"):
            # a user id, a session id, the merged profile's id, the phone (an identity here) as written and otherwise
            page.go(f"{srv.url}/profiles?{urlencode({'q': q})}")
            assert page.eval("[...document.querySelectorAll('#results tr[data-profile]')]"
                             ".map(r => r.dataset.profile)") == [survivor], q
        page.go(f"{srv.url}/profiles?q=nobody%40example.com")
        assert "No profile has" in page.eval("document.querySelector('#results').textContent")

        page.go(f"{srv.url}/profiles/{merged}")  # the merged id leads to the live profile
        assert page.url().startswith(f"{srv.url}/profiles/{survivor}")
        assert page.eval("document.getElementById('profile-id').textContent") == survivor
        assert merged in page.eval("document.getElementById('merged-notice').textContent")
        assert page.eval("[...document.querySelectorAll('[data-merged]')].map(r => r.dataset.merged)") == [merged]
        kinds = page.eval("[...document.querySelectorAll('[data-section=identities] tr[data-kind]')]"
                          ".map(r => r.dataset.kind + ' ' + r.children[1].textContent)")
        assert {"email ada@example.com", "email ada.work@example.com", "user_id user-ada",
                "user_id user-ada-2"} <= set(kinds)
        name = page.eval("document.querySelector('[data-attribute=name]').textContent")
        assert "Ada" in name and "app" in name  # value and provenance
        timeline = page.eval("[...document.querySelectorAll('[data-section=timeline] details')]"
                             ".map(d => d.dataset.source + ' ' + d.querySelector('strong').textContent)")
        assert {"website page-view", "website signup", "app identify"} <= set(timeline)
        assert any(merged in t for t in page.eval(
            "[...document.querySelectorAll('[data-section=timeline] details')].map(d => d.textContent)"))
    finally:
        page.close()


def test_hostile_requests_get_answers_not_errors(console):
    srv, http, _ = console
    assert http.post("/collect/page-view/website/visitor-9", json={"path": "/"}).status_code == 200
    assert http.get("/profiles", params={"q": "x" * 300}).status_code == 400
    assert http.get("/profiles/not-a-profile").status_code == 404
    assert http.get("/profiles/00000000-0000-7000-8000-000000000000").status_code == 404
    assert http.get("/sources/nosuch").status_code == 404
    assert http.get("/sources/nosuch/events.json").json()["error"] == "unknown_source"
    bad = http.get("/sources/website/events.json", params={"since": "yesterday"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_since"
    for q in ("'; DROP TABLE events; --", "%", "\\", "\x00", "😀", "a/b/c", "00000000-0000-0000-0000-00000000000g"):
        assert http.get("/profiles", params={"q": q}).status_code == 200, q
    page = http.get("/profiles", params={"q": HOSTILE})
    assert HOSTILE not in page.text and "&lt;img src=x" in page.text
    refused = http.post("/collect/x/website", content=HOSTILE.encode(), headers={"content-type": "application/json"})
    assert refused.status_code == 400
    source = http.get("/sources/website").text  # the refusal's excerpt is shown, as text
    assert HOSTILE not in source and "&lt;img src=x onerror=&#34;window.pwned=1&#34;&gt;" in source
    for since in ("2999-01-01T00:00:00", "0001-01-01T00:00:00", "9999-12-31T23:59:59.999999-23:59",
                  "0001-01-01T00:00:00+14:00"):
        assert http.get("/sources/website/events.json", params={"since": since}).status_code == 200, since
    for since in ("2026-01-01T00:00:00+25:00", "x" * 5000, "2026-13-01"):
        assert http.get("/sources/website/events.json", params={"since": since}).status_code == 400, since
    assert srv.sql("SELECT count(*) FROM events")[0][0] > 0  # nothing dropped


def test_a_pull_sources_page_and_a_profile_found_by_its_vendor_record_id(tmp_path):
    with SandboxAPI(customers=12, rate_limit=False) as api:
        api.faults.faults = {2: (429, b'{"error": {"type": "invalid_request_error", "code": "rate_limit", '
                                      b'"message": "Too many requests"}}', {"Retry-After": "0.1"})}
        sources = [api.stripe_source(objects=["customers"], mapping="default", schedule={"every": "1h"}),
                   {"id": "app", "name": "App", "channel": "mobile", "bridge": "tracking", "write_key": WRITE_KEY,
                    "mapping": "default"}]
        with InProcessServer(write_config(tmp_path, sources=sources)) as srv, \
                httpx.Client(base_url=srv.url, timeout=30) as http:
            deadline = time.monotonic() + 60  # a source never synced is synced at start
            while srv.sql("SELECT count(*) FROM sync_runs WHERE status = 'succeeded'")[0][0] == 0:
                assert time.monotonic() < deadline, srv.sql("SELECT * FROM sync_runs")
                time.sleep(0.1)
            page = http.get("/sources/billing").text
            runs = re.findall(r'<tr data-run="[^"]+">(.*?)</tr>', page, re.S)
            assert len(runs) == 1 and 'class="badge succeeded"' in runs[0] and "<code>customer</code>" in runs[0]
            assert re.search(r'data-field="rate_limited">1</td>', runs[0])  # the run's one 429, retried
            assert "every 1h" in page and "inlet sync billing" in page
            vendor = re.search(r'data-section="vendor">Since this server started: ([\d,]+) requests', page)
            assert int(vendor.group(1).replace(",", "")) >= 1  # the sync's requests, from the server's metrics
            assert '<tr data-attribute="stripe_delinquent">' in page and "identity <code>stripe_customer</code>" in page
            assert 'data-section="cursors"' in page and "No sync has saved a cursor yet." not in page

            customer, email = srv.sql("SELECT external_id, data->>'email' FROM records LIMIT 1")[0]
            found = http.get("/profiles", params={"q": customer}).text
            profile_ids = re.findall(r'<tr data-profile="([^"]+)">', found)
            assert len(profile_ids) == 1 and f"billing customer {customer}" in found
            assert re.findall(r'<tr data-profile="([^"]+)">', http.get("/profiles", params={"q": email}).text) \
                == profile_ids
            profile = http.get(f"/profiles/{profile_ids[0]}").text
            assert f'data-record="billing/customer/{customer}"' in profile
            assert re.search(r'data-source="billing">\s*<summary>.*?customer\.created', profile, re.S)
            assert "every linked record agrees with the profile" in profile

            # the person renames themself in the app: the newer name wins, and the Stripe record now disagrees
            stripe_name = srv.sql("SELECT data->>'name' FROM records WHERE external_id = ?", [customer])[0][0]
            _identify(http, "user-9", "device-9", email, name="Renamed In The App")
            srv.sql("SELECT 1")  # once the store has it (pages do not wait for the writer)
            profile = http.get(f"/profiles/{profile_ids[0]}").text
            conflict = re.search(r'<tr data-conflict="name">(.*?)</tr>', profile, re.S).group(1)
            assert f"billing customer <span class=\"id\">{customer}</span>" in conflict
            assert f"&#34;{stripe_name}&#34;" in conflict and "Renamed In The App" in conflict
            assert "from app" in conflict and len(re.findall(r"<tr data-conflict=", profile)) == 1


def test_a_phone_kept_as_an_attribute_is_found_digit_for_digit(tmp_path):
    # the shipped mappings keep the phone as the attribute `phone`, as the app wrote it
    con = open_store(tmp_path / "s.duckdb")
    people = {"+1 (555) 012-3456": None, "+44 20 7946 0000": None, "555 0199": None}
    for phone in people:
        people[phone] = con.execute("SELECT uuidv7()::VARCHAR").fetchone()[0]
        con.execute("INSERT INTO profiles VALUES (?::UUID, '{}', now(), now())", [people[phone]])
        con.execute("""INSERT INTO profile_attributes VALUES (?::UUID, 'phone', to_json(?::VARCHAR), 'crm', 'contact',
                       'c1', now(), now())""", [people[phone], phone])
    other = con.execute("SELECT uuidv7()::VARCHAR").fetchone()[0]
    con.execute("INSERT INTO profiles VALUES (?::UUID, '{}', now(), now())", [other])
    con.execute("""INSERT INTO profile_attributes VALUES (?::UUID, 'phone', '15550123456', 'crm', 'contact', 'c2',
                   now(), now())""", [other])  # a number, not text: not a phone as written

    def found(q: str) -> list[str]:
        return [r["profile_id"] for r in find_profiles(store_cursor(con), q, [], [])]

    assert found("+15550123456") == found("1-555-012-3456") == found("+1 555.012.3456") == [people["+1 (555) 012-3456"]]
    assert found("+44 (20) 7946-0000") == [people["+44 20 7946 0000"]]
    assert found("5550199") == [people["555 0199"]]
    for q in ("555", "0123456", "+1 555 012 3456 7890 12", "phone 5550123456", "5550123456"):
        assert found(q) == [], q  # too short, too long, not only a phone, or other digits
    con.close()


def test_a_profiles_timeline_is_its_newest_events_whichever_window_holds_them(tmp_path):
    # read the last day first, then wider windows, then the profile's whole life: the answer is the same newest N
    con = open_store(tmp_path / "s.duckdb")
    busy, quiet = (con.execute("SELECT uuidv7()::VARCHAR").fetchone()[0] for _ in range(2))
    for profile_id in (busy, quiet):
        con.execute("INSERT INTO profiles VALUES (?::UUID, '{}', now() - INTERVAL 40 DAY, now())", [profile_id])

    def events(profile_id: str, n: int, hours_ago: float, step_minutes: float) -> None:
        con.execute("""INSERT INTO events (event_id, source_id, event_type, occurred_at, received_at, profile_id,
                                           session_id, properties, context)
                       SELECT uuidv7(), 'web', 'page-view', t, t, ?::UUID, NULL, json_object('n', i), '{}'
                       FROM (SELECT i, now() - to_milliseconds(
                                              CAST(?::DOUBLE * 3600000 - i * ?::DOUBLE * 60000 AS BIGINT)) AS t
                             FROM range(?) r(i))""", [profile_id, hours_ago, step_minutes, n])

    events(busy, 60, 35 * 24, 1)  # five weeks ago
    events(busy, 130, 20, 1)  # in the last day: more than one page
    events(quiet, 60, 35 * 24, 1)
    events(quiet, 30, 3 * 24, 1)  # three days ago
    cur = store_cursor(con)

    def newest(profile_id: str, limit: int) -> list[int]:
        return [json.loads(r[0])["n"] for r in cur.execute(
            """SELECT properties::VARCHAR FROM events WHERE profile_id = ?::UUID
               ORDER BY received_at DESC, event_id DESC LIMIT ?""", [profile_id, limit]).fetchall()]

    for profile_id in (busy, quiet):
        timeline = profile(cur, profile_id, events=100)["events"]
        assert [json.loads(e["properties"])["n"] for e in timeline] == newest(profile_id, 100)
    assert len(profile(cur, quiet, events=100)["events"]) == 90  # both stretches, the old one too
    con.close()
