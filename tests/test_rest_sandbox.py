"""Declared sources against the vendors' sandboxes store what the built-in connectors store: Stripe customers (a
starting_after list) and HubSpot contacts (a cursor list; and the search API by POST, incremental with
`{{ cursor }}`), record for record, event for event."""

from __future__ import annotations

from pathlib import Path

import httpx

from sandbox.hubspot import HUBSPOT_TOKEN
from sandbox.server import STRIPE_KEY
from tests.conftest import inlet, write_config
from tests.sandbox_api import SandboxAPI
from tests.stores import store


def sync(config: Path, source_id: str, *args: str) -> None:
    result = inlet("sync", source_id, *args, config=config, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 answered 429" in result.stdout  # the sandboxes enforce the vendors' limits; the declared ones hold


def records(config: Path, source_id: str, *, times: bool = True) -> dict[tuple[str, str], tuple]:
    """(deleted, updated_at, data) by (object_type, external_id); without `times`, no updated_at (a Stripe list
    gives no version time: the built-in connector then stores when it read the object)."""
    rows = store(config, f"""SELECT object_type, external_id, deleted, updated_at, data::VARCHAR FROM records
                             WHERE source_id = '{source_id}'""")
    return {(t, i): (d, u if times else None, data) for t, i, d, u, data in rows}


def changes(config: Path, source_id: str) -> list[tuple]:
    return store(config, f"""SELECT event_type, context->>'external_id', properties::VARCHAR FROM events
                             WHERE source_id = '{source_id}' ORDER BY 1, 2""")


def rest(source_id: str, base_url: str, token: str, resources: dict, **extra) -> dict:
    return {"id": source_id, "name": source_id, "channel": "crm", "bridge": "rest", "base_url": base_url,
            "auth": {"type": "bearer", "token": token}, "resources": resources, **extra}


def test_stripe_customers_declared_equal_the_built_in_connector(tmp_path):
    with SandboxAPI(customers=250, rate_limit=True) as api:  # Stripe's test-mode limit is enforced: no 429 met
        declared = rest("declared", api.url, STRIPE_KEY, {"customers": {
            "path": "/v1/customers", "params": {"limit": 100}, "records": "data",
            "paginator": {"type": "starting_after"}}}, rate_limit={"requests": 25, "per": "1s"})
        config = write_config(tmp_path, [api.stripe_source(objects=["customers"]), declared])
        sync(config, "billing")
        sync(config, "declared")
        built_in = records(config, "billing", times=False)
        assert len(built_in) == 250 and records(config, "declared", times=False) == built_in
        assert changes(config, "declared") == changes(config, "billing")

        api.stripe.mutate(updates=10, deletes=3, creates=4)
        sync(config, "billing")
        sync(config, "declared")
        built_in = {k: v for k, v in records(config, "billing").items() if not v[0]}
        mine = {k: v for k, v in records(config, "declared").items() if not v[0]}
        assert mine.keys() == built_in.keys()
        # the built-in reads Stripe's events (which do not announce next_invoice_sequence); the list has it all
        assert all(mine[k][2] == built_in[k][2] for k in mine if "next_invoice_sequence" not in built_in[k][2])
        gone = {k for k, v in records(config, "declared").items() if v[0]}
        assert gone == {k for k, v in records(config, "billing").items() if v[0]} and len(gone) == 3


def test_hubspot_contacts_declared_equal_the_built_in_connector_and_a_search_reads_incrementally(tmp_path):
    with SandboxAPI(vendors=("hubspot",), customers=150, rate_limit=True) as api:
        names = [p["name"] for p in httpx.get(f"{api.url}/crm/v3/properties/contacts",
                                              headers={"Authorization": f"Bearer {HUBSPOT_TOKEN}"}).json()["results"]]
        listed = {"path": "/crm/v3/objects/contacts", "records": "results", "updated_at": "updatedAt",
                  "params": {"limit": 100, "archived": "false", "properties": ",".join(names)},
                  "paginator": {"type": "cursor", "cursor": "paging.next.after", "param": "after"}}
        searched = {"path": "/crm/v3/objects/contacts/search", "method": "POST", "records": "results",
                    "updated_at": "updatedAt", "object_type": "contact",
                    "json": {"limit": 100, "properties": names,
                             "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                             "filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE",
                                                            "value": "{{ cursor }}"}]}]},
                    "paginator": {"type": "cursor", "cursor": "paging.next.after", "param": "after"},
                    "incremental": {"field": "updatedAt", "overlap": "1s", "start": "1970-01-01T00:00:00Z"}}
        limit = {"requests": 90, "per": "10s"}  # HubSpot's 100 per 10 s, less a margin
        config = write_config(tmp_path, [
            api.hubspot_source(objects=["contacts"]),
            rest("listed", api.url, HUBSPOT_TOKEN, {"contacts": listed}, rate_limit=limit),
            rest("searched", api.url, HUBSPOT_TOKEN, {"contacts": searched}, rate_limit={"requests": 4, "per": "1s"})])
        for source_id in ("crm", "listed", "searched"):
            sync(config, source_id)
        built_in = records(config, "crm")
        assert len(built_in) == 150
        assert records(config, "listed") == built_in
        assert records(config, "searched") == built_in
        assert changes(config, "listed") == changes(config, "crm") == changes(config, "searched")

        api.hubspot.mutate(object_type="contacts", updates=6, creates=3)
        for source_id in ("crm", "listed", "searched"):
            sync(config, source_id)
        built_in = records(config, "crm")
        assert records(config, "listed") == built_in
        assert records(config, "searched") == built_in
        assert changes(config, "searched") == changes(config, "crm")
        # the search asked only for what changed since the newest version it had seen
        asked = store(config, """SELECT records_read FROM sync_runs WHERE source_id = 'searched'
                                 ORDER BY started_at DESC LIMIT 1""")[0][0]
        assert asked < 20
