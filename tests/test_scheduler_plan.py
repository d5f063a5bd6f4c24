"""Schedules as data, with a made-up clock: the jobs a config asks for, their triggers, whether a run was missed
while the server was down, retry waits, and schedule mistakes reported with their key path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.config import ConfigError, ObjectSchedule, load_config
from engine.scheduler import describe_schedules, due_at_start, planned_jobs, retry_delay, trigger_for

CONFIG = """
sources:
  - {id: web, name: Web, channel: web, bridge: webhook}
  - {id: billing, name: Stripe, channel: billing, bridge: stripe, api_key: sk_test_x,
     schedule: {every: 15m, objects: {invoices: {cron: "0 */2 * * *", timezone: Europe/Warsaw}}}}
  - {id: crm, name: CRM, channel: crm, bridge: hubspot, token: x, objects: [contacts], schedule: {every: 1h,
     jitter: 30s}}
  - {id: paused, name: Paused, channel: crm, bridge: hubspot, token: x, enabled: false, schedule: {every: 1h}}
  - {id: manual, name: Manual, channel: web, bridge: shopify, shop: a.myshopify.com, access_token: x}
"""


def write(tmp_path, text: str):
    path = tmp_path / "inlet.yaml"
    path.write_text(text)
    return path


def test_jobs_have_fixed_ids_per_source_and_per_object_with_their_own_schedule(tmp_path):
    config = load_config(write(tmp_path, CONFIG))
    jobs = planned_jobs(config)
    assert sorted(jobs) == ["sync:billing", "sync:billing:invoices", "sync:crm"]  # not disabled, not manual
    assert jobs["sync:billing"].objects == ("customers", "charges", "subscriptions", "products", "prices")
    assert jobs["sync:billing:invoices"].objects == ("invoices",)
    assert planned_jobs(load_config(write(tmp_path, CONFIG))) == jobs  # the same config, the same jobs
    assert describe_schedules(jobs) == {"billing": "every 15m; invoices: cron 0 */2 * * * (Europe/Warsaw)",
                                        "crm": "every 1h ±30s"}


def test_triggers_follow_the_schedule_and_its_time_zone():
    now = datetime(2026, 3, 28, 22, 10, tzinfo=UTC)  # 23:10 in Warsaw, the night before summer time
    cron = trigger_for(ObjectSchedule(cron="0 */2 * * *", timezone="Europe/Warsaw"))
    first = cron.get_next_fire_time(None, now)
    assert first.astimezone(ZoneInfo("Europe/Warsaw")).hour == 0
    assert first == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    second = cron.get_next_fire_time(first, first + timedelta(seconds=1))
    # 02:00 does not exist that night: it fires as the clocks jump to 03:00 CEST (timestamps: a time in the gap
    # compares unequal to every other zone's)
    assert second.timestamp() == datetime(2026, 3, 29, 1, 0, tzinfo=UTC).timestamp()
    every = trigger_for(ObjectSchedule(every=timedelta(minutes=15)))
    fired = every.get_next_fire_time(None, now)
    assert every.get_next_fire_time(fired, fired) - fired == timedelta(minutes=15)
    assert trigger_for(ObjectSchedule(every=timedelta(minutes=15), jitter=timedelta(seconds=30))).jitter == 30


@pytest.mark.parametrize(("rule", "last", "due"), [
    (ObjectSchedule(every=timedelta(minutes=15)), None, True),  # never synced
    (ObjectSchedule(every=timedelta(minutes=15)), timedelta(minutes=20), True),  # a slot missed
    (ObjectSchedule(every=timedelta(minutes=15)), timedelta(minutes=10), False),
    (ObjectSchedule(cron="0 * * * *"), timedelta(minutes=50), True),  # 11:00 passed since 10:20
    (ObjectSchedule(cron="0 * * * *"), timedelta(minutes=5), False),  # 11:05: no full hour since
    (ObjectSchedule(cron="0 3 * * *"), timedelta(hours=7), False),  # daily at 03:00, last ran at 04:10
    (ObjectSchedule(cron="0 3 * * *"), timedelta(days=2), True),
], ids=["never", "interval-missed", "interval-fresh", "cron-missed", "cron-fresh", "daily-fresh", "daily-missed"])
def test_a_missed_run_is_caught_up_once_at_start(rule, last, due):
    now = datetime(2026, 11, 23, 11, 10, tzinfo=UTC)
    assert due_at_start(rule, None if last is None else now - last, now) is due


def test_retries_wait_longer_each_time():
    assert [retry_delay(n, timedelta(seconds=30)) for n in (1, 2, 3)] == [
        timedelta(seconds=30), timedelta(minutes=1), timedelta(minutes=2)]


def test_schedule_mistakes_are_config_errors_with_their_key_path(tmp_path):
    path = write(tmp_path, """
sources:
  - {id: a, name: A, channel: billing, bridge: stripe, api_key: x, schedule: {cron: "61 * * * *"}}
  - {id: b, name: B, channel: billing, bridge: stripe, api_key: x, schedule: {every: 15m, cron: "* * * * *"}}
  - {id: c, name: C, channel: billing, bridge: stripe, api_key: x, schedule: {every: 5x, timezone: Mars/Base}}
  - {id: d, name: D, channel: billing, bridge: stripe, api_key: x, schedule: {every: 1m, jitter: soon}}
  - {id: e, name: E, channel: billing, bridge: stripe, api_key: x,
     schedule: {every: 1m, objects: {tickets: {every: 1h}}}}
  - {id: f, name: F, channel: billing, bridge: stripe, api_key: x, schedule: {at: noon}}
scheduler: {max_concurrent: 0}
""")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    got = [str(p).split(": ", 1)[1] for p in caught.value.problems]
    assert any(p.startswith("sources[0].schedule.cron: '61 * * * *' is not a cron expression") for p in got), got
    assert "sources[1].schedule: give either `every` (like 15m) or `cron` (like \"0 */2 * * *\"), not both or " \
           "neither" in got
    assert any(p.startswith("sources[2].schedule.every: '5x' is not a duration") for p in got)
    assert "sources[2].schedule.timezone: 'Mars/Base' is not a time zone name like UTC or Europe/Warsaw" in got
    assert any(p.startswith("sources[3].schedule.jitter: 'soon' is not a duration") for p in got)
    assert any("'tickets' is not one of this source's objects" in p for p in got)
    assert "sources[5].schedule.at: unknown key 'at'" in got
    assert any(p.startswith("scheduler.max_concurrent:") for p in got)


def test_status_shows_the_run_going_on_not_the_slots_skipped_meanwhile():
    import duckdb

    from engine.status import RUNS_SQL

    con = duckdb.connect()
    con.execute("""CREATE TABLE sync_runs(run_id UUID, source_id VARCHAR, object_type VARCHAR,
                   started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, status VARCHAR, records_read BIGINT,
                   records_changed BIGINT, error VARCHAR)""")
    con.execute("""INSERT INTO sync_runs VALUES
        ('00000000-0000-7000-8000-000000000001', 'a', 'customer', '2026-01-01 00:00:00+00', NULL, 'running', 5, 1,
         NULL),
        ('00000000-0000-7000-8000-000000000002', 'a', 'customer', '2026-01-01 00:00:02+00', '2026-01-01 00:00:02+00',
         'skipped', 0, 0, 'scheduled while the previous run of this source was still going'),
        ('00000000-0000-7000-8000-000000000003', 'b', 'customer', '2026-01-01 00:00:02+00', '2026-01-01 00:00:02+00',
         'skipped', 0, 0, 'the process is stopping')""")
    rows = {r[0]: r for r in con.sql(RUNS_SQL).fetchall()}
    assert rows["a"][2:] == ("running", None, 5, 1, None)
    assert rows["b"][2] == "skipped" and rows["b"][6] == "the process is stopping"  # nothing else ran
