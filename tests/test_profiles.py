"""Profiles from mappings against a real store: records resolve to one profile per person through their
identities, profiles merge, attributes follow their conflict policy with provenance, two-way and out fields
queue write-backs, inlet's own writes read back are echoes, and the outbox retries, rejects and gives up."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import duckdb
import orjson
import pytest

from connectors.kit.ids import new_id
from connectors.kit.model import Page, RecordIn
from engine.profiles import Registry, outbox
from engine.profiles.push import map_events
from engine.store.database import open_store
from engine.sync.apply import Target, apply_pages
from mappings import load_mapping

T0 = 1_700_000_000_000_000
S = 1_000_000  # a second in microseconds

CRM = """
objects:
  contact:
    identities: [{kind: email, path: properties.email}]
    fields:
      - {path: properties.lifecyclestage, attribute: lifecycle_stage, direction: two-way}
      - {path: properties.firstname, attribute: first_name, direction: two-way, conflict: local_wins}
      - {path: properties.plan, attribute: plan, direction: out, out: "{{ value | upper }}"}
      - {path: properties.score, attribute: score, type: int}
"""
SHOP = """
objects:
  customer:
    identities: [{kind: email, path: email}, {kind: shopify_customer, path: id}]
    fields:
      - {path: note, attribute: lifecycle_stage, direction: two-way, conflict: remote_wins}
      - {path: tags, attribute: shopify_tags}
  order:
    identities: [{kind: shopify_customer, path: customer.id}]
    fields: []
  product:
    identities: []
    fields: []
"""
BILLING = """
objects:
  customer:
    identities: [{kind: email, path: email}]
    fields:
      - {path: metadata.plan, attribute: plan}
      - {path: name, attribute: first_name, in: "{{ value.split(' ')[0] }}"}
"""
WEB = """
events:
  identify:
    identities: [{kind: email, path: properties.email}]
    fields: [{path: properties.plan, attribute: web_plan}]
"""


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    files = {"crm": ("hubspot", CRM), "shop": ("shopify", SHOP), "billing": ("stripe", BILLING),
             "web": ("webhook", WEB)}
    mappings = {}
    for source_id, (bridge, text) in files.items():
        path = tmp_path / f"{source_id}.yaml"
        path.write_text(text)
        mappings[source_id] = load_mapping(path, bridge)
    return Registry(mappings)


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = open_store(tmp_path / "inlet.duckdb")
    yield con
    con.close()


def pull(con, registry: Registry, source: str, object_type: str, *records: RecordIn) -> None:
    """One pull page through apply_pages, in its own transaction, as the store writer runs it."""
    target = Target(source, object_type, new_id(), registry)
    con.execute("""INSERT INTO sync_runs (run_id, source_id, object_type, started_at, status, records_read,
                   records_changed) VALUES (?::UUID, ?, ?, now(), 'running', 0, 0)""",
                [target.run_id, source, object_type])
    con.execute("BEGIN")
    apply_pages(con, target, [Page(list(records), {"n": 1})])
    con.execute("COMMIT")


def contact(id_: str, at: int, **props) -> RecordIn:
    return RecordIn(id_, {"id": id_, "properties": props}, updated_at_us=at)


def shop_customer(num: int, at: int, **fields) -> RecordIn:
    gid = f"gid://shopify/Customer/{num}"
    return RecordIn(gid, {"id": gid, **fields}, updated_at_us=at)


def attrs(con) -> dict[str, dict]:
    return {p: orjson.loads(a) for p, a in con.execute(
        "SELECT profile_id::VARCHAR, attributes::VARCHAR FROM profiles").fetchall()}


def pending(con) -> list[tuple]:
    return [(r[0], r[1], orjson.loads(r[2])) for r in con.execute(
        "SELECT source_id, external_id, changes::VARCHAR FROM writebacks WHERE status = 'pending' "
        "ORDER BY source_id, external_id").fetchall()]


def test_records_with_one_email_are_one_profile_with_attributes_and_provenance(con, registry) -> None:
    pull(con, registry, "crm", "contact", contact("1", T0, email="Jane@X.com ", lifecyclestage="lead", score="7"))
    pull(con, registry, "billing", "customer",
         RecordIn("cus_1", {"id": "cus_1", "email": "jane@x.com", "name": "Jane Doe", "metadata": {"plan": "gold"}},
                  updated_at_us=T0 + S))
    profiles = attrs(con)
    assert len(profiles) == 1
    (profile, values), = profiles.items()
    assert values == {"lifecycle_stage": "lead", "score": 7, "plan": "gold", "first_name": "Jane"}
    provenance = dict(con.execute("SELECT name, source_id || '/' || external_id FROM profile_attributes").fetchall())
    assert provenance == {"lifecycle_stage": "crm/1", "score": "crm/1", "plan": "billing/cus_1",
                          "first_name": "billing/cus_1"}
    # every change event carries the profile
    assert con.execute("SELECT count(DISTINCT profile_id), count(*) FROM events").fetchone() == (1, 2)
    assert con.execute("SELECT profile_id::VARCHAR FROM events LIMIT 1").fetchone()[0] == profile
    # the out field `plan` goes to the HubSpot contact through its out template, and the two-way first name
    # it lacked comes from Stripe
    assert pending(con) == [("crm", "1", {"properties.firstname": "Jane", "properties.plan": "GOLD"})]


def test_profiles_merge_when_one_record_joins_them_and_history_follows(con, registry) -> None:
    pull(con, registry, "shop", "customer", shop_customer(1, T0, email="a@x.com", note="vip", tags=["t"]))
    pull(con, registry, "shop", "order", RecordIn("gid://shopify/Order/9", {"customer": {"id": "gid://shopify/Customer/1"}},
                                                   updated_at_us=T0))
    pull(con, registry, "crm", "contact", contact("5", T0, email="b@x.com", score="3"))
    assert len(attrs(con)) == 2
    survivor = con.execute("SELECT min(profile_id)::VARCHAR FROM profiles").fetchone()[0]
    # the Shopify customer's email changes to the contact's: the two profiles are one person
    pull(con, registry, "shop", "customer", shop_customer(1, T0 + S, email="b@x.com", note="vip", tags=["t"]))
    profiles = attrs(con)
    assert list(profiles) == [survivor]
    assert profiles[survivor] == {"lifecycle_stage": "vip", "shopify_tags": ["t"], "score": 3}
    merged = con.execute("SELECT profile_id::VARCHAR, merged_into::VARCHAR, reason FROM profile_merges").fetchall()
    assert len(merged) == 1 and merged[0][1] == survivor and merged[0][2] in ("email=b@x.com", "email=a@x.com")
    # the merged id still resolves, and its events are in the survivor's history
    assert con.execute("SELECT count(DISTINCT stored_profile_id), count(DISTINCT profile_id), count(*) "
                       "FROM profile_events").fetchone() == (2, 1, 4)
    assert con.execute("SELECT count(DISTINCT profile_id) FROM identities").fetchone()[0] == 1


def test_a_record_without_identities_is_nobody(con, registry) -> None:
    pull(con, registry, "shop", "product", RecordIn("gid://shopify/Product/1", {"title": "Mug"}, updated_at_us=T0))
    pull(con, registry, "shop", "order", RecordIn("gid://shopify/Order/2", {"customer": None}, updated_at_us=T0))
    assert con.execute("SELECT count(*) FROM profiles").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM identities").fetchone()[0] == 0
    assert con.execute("SELECT count(*), count(profile_id) FROM events").fetchone() == (2, 0)


def test_a_two_way_change_goes_out_and_its_echo_changes_nothing(con, registry) -> None:
    pull(con, registry, "crm", "contact", contact("1", T0, email="a@x.com", lifecyclestage="lead"))
    pull(con, registry, "shop", "customer", shop_customer(1, T0 - S, email="a@x.com", note="lead"))
    assert pending(con) == []  # both hold the same value already
    pull(con, registry, "crm", "contact", contact("1", T0 + 10 * S, email="a@x.com", lifecyclestage="customer"))
    assert pending(con) == [("shop", "gid://shopify/Customer/1", {"note": "customer"})]
    # the write lands; Shopify's next version is inlet's own write read back
    con.execute("UPDATE writebacks SET status = 'sent'")
    events_before = con.execute("SELECT count(*) FROM events").fetchone()[0]
    pull(con, registry, "shop", "customer", shop_customer(1, T0 + 20 * S, email="a@x.com", note="customer"))
    assert pending(con) == []
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == events_before + 1  # the record's own event
    value, source = con.execute("SELECT value::VARCHAR, source_id FROM profile_attributes "
                                "WHERE name = 'lifecycle_stage'").fetchone()
    assert (orjson.loads(value), source) == ("customer", "crm")  # the echo did not take the attribute over
    # and a further pull of both, unchanged, changes nothing anywhere
    pull(con, registry, "crm", "contact", contact("1", T0 + 10 * S, email="a@x.com", lifecyclestage="customer"))
    assert pending(con) == [] and con.execute("SELECT count(*) FROM writebacks").fetchone()[0] == 1


def test_newest_wins_and_an_older_remote_value_is_written_back(con, registry) -> None:
    pull(con, registry, "crm", "contact", contact("1", T0 + 100 * S, email="a@x.com", lifecyclestage="customer"))
    # an older Shopify customer joins with another value: remote_wins on the Shopify field takes it
    pull(con, registry, "shop", "customer", shop_customer(1, T0, email="a@x.com", note="lead"))
    value = con.execute("SELECT value::VARCHAR FROM profile_attributes WHERE name = 'lifecycle_stage'").fetchone()[0]
    assert orjson.loads(value) == "lead"
    # ... and HubSpot (newest policy) gets it written back
    assert pending(con) == [("crm", "1", {"properties.lifecyclestage": "lead"})]
    # an older HubSpot version does not take the attribute back (newest)
    pull(con, registry, "crm", "contact", contact("1", T0 + 50 * S, email="a@x.com", lifecyclestage="other"))
    value = con.execute("SELECT value::VARCHAR FROM profile_attributes WHERE name = 'lifecycle_stage'").fetchone()[0]
    assert orjson.loads(value) == "lead"


def test_local_wins_keeps_the_profile_value(con, registry) -> None:
    pull(con, registry, "billing", "customer",
         RecordIn("cus_1", {"id": "cus_1", "email": "a@x.com", "name": "Ann Lee", "metadata": {}}, updated_at_us=T0))
    pull(con, registry, "crm", "contact", contact("1", T0 + S, email="a@x.com", firstname="Annie"))
    value = con.execute("SELECT value::VARCHAR FROM profile_attributes WHERE name = 'first_name'").fetchone()[0]
    assert orjson.loads(value) == "Ann"
    assert pending(con) == [("crm", "1", {"properties.firstname": "Ann"})]


def test_a_newer_remote_change_cancels_the_pending_write_of_that_field(con, registry) -> None:
    pull(con, registry, "crm", "contact", contact("1", T0, email="a@x.com", lifecyclestage="lead"))
    pull(con, registry, "shop", "customer", shop_customer(1, T0 + S, email="a@x.com", note="vip"))
    assert pending(con) == [("crm", "1", {"properties.lifecyclestage": "vip"})]
    pull(con, registry, "crm", "contact", contact("1", T0 + 9 * S, email="a@x.com", lifecyclestage="customer"))
    assert pending(con) == [("shop", "gid://shopify/Customer/1", {"note": "customer"})]


def test_a_value_the_mapping_cannot_type_is_recorded_and_the_rest_goes_on(con, registry) -> None:
    pull(con, registry, "crm", "contact", contact("1", T0, email="a@x.com", score="many", lifecyclestage="lead"))
    assert attrs(con) == {con.execute("SELECT profile_id::VARCHAR FROM profiles").fetchone()[0]:
                          {"lifecycle_stage": "lead"}}
    source, external, attribute, error = con.execute(
        "SELECT source_id, external_id, attribute, error FROM mapping_errors").fetchone()
    assert (source, external, attribute) == ("crm", "1", "score") and "many" in error


def test_an_identify_event_joins_its_session_to_the_email_profile(con, registry) -> None:
    pull(con, registry, "crm", "contact", contact("1", T0, email="a@x.com", lifecyclestage="lead"))
    crm_profile = con.execute("SELECT profile_id::VARCHAR FROM profiles").fetchone()[0]
    session_profile = new_id()  # later than the CRM's: the CRM profile survives
    con.execute("INSERT INTO profiles VALUES (?::UUID, '{}', now(), now())", [session_profile])
    con.execute("INSERT INTO sessions VALUES ('s1', ?::UUID, 'web', now())", [session_profile])
    event = [new_id(), "web", "identify", T0 + S, T0 + S, session_profile, "s1",
             orjson.dumps({"email": "A@x.com", "plan": "pro"}).decode(), "{}"]
    con.execute("BEGIN")
    con.execute("""INSERT INTO events VALUES (?::UUID, ?, ?, make_timestamp(?)::TIMESTAMPTZ,
                   make_timestamp(?)::TIMESTAMPTZ, ?::UUID, ?, ?, ?, DEFAULT)""", event)
    assert map_events(registry, con, [event], T0 + 2 * S) == 1
    con.execute("COMMIT")
    assert attrs(con) == {crm_profile: {"lifecycle_stage": "lead", "web_plan": "pro"}}
    assert con.execute("SELECT profile_id::VARCHAR FROM sessions").fetchone()[0] == crm_profile
    assert con.execute("SELECT merged_into::VARCHAR FROM profile_merges WHERE profile_id = ?::UUID",
                       [session_profile]).fetchone()[0] == crm_profile


class _Outcome:
    def __init__(self, writeback_id: str, status: str, error: str | None = None):
        self.writeback_id, self.status, self.http_status, self.error = writeback_id, status, 503, error


def test_the_outbox_coalesces_retries_with_backoff_rejects_once_and_gives_up(con, registry) -> None:
    ref = ("crm", "contact", "1")
    now = T0
    outbox.enqueue(con, {ref: {"properties.a": ("a", 1)}}, {}, now)
    outbox.enqueue(con, {ref: {"properties.b": ("b", 2)}}, {}, now)
    assert pending(con) == [("crm", "1", {"properties.a": 1, "properties.b": 2})]
    claimed = outbox.claim(con, ["crm"], now)
    assert [c.changes for c in claimed] == [{"properties.a": 1, "properties.b": 2}]
    settings = {"max_attempts": 3, "backoff": timedelta(seconds=10), "max_backoff": timedelta(seconds=15)}
    first = claimed[0].writeback_id
    assert outbox.finish(con, claimed, [_Outcome(first, "retry", "503")], now, **settings)["pending"] == 1
    assert outbox.claim(con, ["crm"], now + 9 * S) == []  # not due yet
    again = outbox.claim(con, ["crm"], now + 10 * S)
    assert [(c.writeback_id, c.attempts) for c in again] == [(first, 1)]
    outbox.finish(con, again, [_Outcome(first, "retry")], now + 10 * S, **settings)
    due_at = con.execute("SELECT epoch_us(next_attempt_at) FROM writebacks WHERE writeback_id = ?::UUID",
                         [first]).fetchone()[0]
    assert due_at == now + 25 * S  # 20 s (10 s doubled), capped at 15 s
    third = outbox.claim(con, ["crm"], now + 25 * S)
    outbox.finish(con, third, [_Outcome(first, "retry")], now + 25 * S, **settings)
    assert con.execute("SELECT status, attempts FROM writebacks WHERE writeback_id = ?::UUID",
                       [first]).fetchone() == ("failed", 3)
    attempts = con.execute("SELECT count(*) FROM writeback_attempts WHERE writeback_id = ?::UUID", [first]).fetchone()
    assert attempts[0] == 3
    # a rejection is final at once
    outbox.enqueue(con, {ref: {"properties.c": ("c", 3)}}, {}, now)
    other = outbox.claim(con, ["crm"], now)
    outbox.finish(con, other, [_Outcome(o.writeback_id, "rejected", "INVALID_OPTION") for o in other], now, **settings)
    assert con.execute("SELECT count(*) FROM writebacks WHERE status = 'rejected'").fetchone()[0] == len(other) == 1
    assert outbox.claim(con, ["crm"], now + 10**9) == []


def test_a_retry_never_sends_a_value_older_than_a_newer_write_back(con) -> None:
    ref = ("crm", "contact", "1")
    settings = {"max_attempts": 5, "backoff": timedelta(seconds=1), "max_backoff": timedelta(seconds=1)}
    outbox.enqueue(con, {ref: {"properties.a": ("a", "old"), "properties.b": ("b", "kept")}}, {}, T0)
    claimed = outbox.claim(con, ["crm"], T0)
    outbox.enqueue(con, {ref: {"properties.a": ("a", "new")}}, {}, T0)  # while the first is being sent
    assert outbox.finish(con, claimed, [_Outcome(claimed[0].writeback_id, "retry")], T0, **settings)["superseded"] == 1
    assert pending(con) == [("crm", "1", {"properties.a": "new", "properties.b": "kept"})]


def test_sending_rows_left_by_a_crash_are_sent_again(con, registry) -> None:
    outbox.enqueue(con, {("crm", "contact", "1"): {"properties.a": ("a", 1)}}, {}, T0)
    assert len(outbox.claim(con, ["crm"], T0)) == 1
    assert outbox.claim(con, ["crm"], T0) == []
    assert outbox.release_unsent(con) == 1
    assert len(outbox.claim(con, ["crm"], T0)) == 1
