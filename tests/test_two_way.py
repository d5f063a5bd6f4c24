"""Two-way sync end to end: the real `inlet sync` and `inlet serve` against the Stripe, HubSpot and Shopify
sandboxes on loopback. One person is a Stripe customer, a HubSpot contact and a Shopify customer with one email:
a HubSpot lifecycle stage mapped two-way and a Stripe plan mapped out reach the other apps; a change made in
HubSpot comes back into the profile and goes out to the others; after convergence, syncing every source again
writes nothing; a 5xx is retried until the write lands; a validation error is recorded once and not retried;
a server killed -9 between the change and its write-back still writes it after restart."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import orjson

from sandbox.hubspot import HUBSPOT_TOKEN
from sandbox.server import STRIPE_KEY
from sandbox.shopify import SHOPIFY_TOKEN
from tests.conftest import inlet, write_config
from tests.sandbox_api import SandboxAPI
from tests.stores import store

EMAIL = "jane.roe@two-way.example.com"
VENDORS = ("stripe", "hubspot", "shopify")
FAST = {"requests_per_10s": 1000, "search_per_second": 100}

BILLING = """
objects:
  customer:
    identities: [{kind: email, path: email}]
    fields:
      - {path: metadata.plan, attribute: plan}
      - {path: metadata.lifecycle, attribute: lifecycle_stage, direction: two-way}
"""
CRM = """
objects:
  contact:
    identities: [{kind: email, path: properties.email}]
    fields:
      - {path: properties.lifecyclestage, attribute: lifecycle_stage, direction: two-way}
      - {path: properties.plan, attribute: plan, direction: out}
"""
SHOP = """
objects:
  customer:
    identities: [{kind: email, path: email}]
    fields:
      - {path: metafields.inlet.plan, attribute: plan, direction: out}
      - {path: metafields.inlet.lifecycle, attribute: lifecycle_stage, direction: out}
"""


class Person:
    """The one person in all three sandboxes, and how each app holds them now (read through its API)."""

    def __init__(self, api: SandboxAPI):
        self.api = api
        self.http = httpx.Client(base_url=api.url, timeout=30)
        # HubSpot needs the `plan` property before anything can be written to it, as in a real portal
        created = self.http.post("/crm/v3/properties/contacts", headers=self._hubspot, json={
            "name": "plan", "label": "Plan", "type": "string", "fieldType": "text",
            "groupName": "contactinformation"})
        assert created.status_code == 201, created.text
        self.stripe_id = api.stripe.create_customer({"email": EMAIL, "name": "Jane Roe",
                                                     "metadata": {"plan": "gold", "lifecycle": "customer"}})["id"]
        self.contact_id = api.hubspot.records("contacts")[0]["id"]
        api.hubspot.update("contacts", self.contact_id, {"email": EMAIL, "lifecyclestage": "lead"})
        self.shop_id = api.shopify.gids("customers")[0]
        api.shopify.update("customers", self.shop_id, email=EMAIL)

    @property
    def _hubspot(self) -> dict:
        return {"authorization": f"Bearer {HUBSPOT_TOKEN}"}

    def hubspot(self) -> dict:
        answer = self.http.get(f"/crm/v3/objects/contacts/{self.contact_id}",
                               params={"properties": "lifecyclestage,plan,email"}, headers=self._hubspot)
        return answer.raise_for_status().json()["properties"]

    def stripe_metadata(self) -> dict:
        answer = self.http.get(f"/v1/customers/{self.stripe_id}", auth=(STRIPE_KEY, ""))
        return answer.raise_for_status().json()["metadata"]

    def shopify_metafields(self) -> dict:
        query = ('query($id: ID!) { customer(id: $id) { plan: metafield(namespace: "inlet", key: "plan") { value } '
                 'lifecycle: metafield(namespace: "inlet", key: "lifecycle") { value } } }')
        answer = self.http.post("/admin/api/2026-10/graphql.json", headers={"x-shopify-access-token": SHOPIFY_TOKEN},
                                json={"query": query, "variables": {"id": self.shop_id}})
        customer = answer.raise_for_status().json()["data"]["customer"]
        return {k: (v or {}).get("value") for k, v in customer.items()}

    def stripe_update(self, **metadata: str) -> None:
        answer = self.http.post(f"/v1/customers/{self.stripe_id}", auth=(STRIPE_KEY, ""),
                                data={f"metadata[{k}]": v for k, v in metadata.items()})
        answer.raise_for_status()


def make_config(tmp_path: Path, api: SandboxAPI, **writebacks) -> Path:
    for name, text in (("billing", BILLING), ("crm", CRM), ("shop", SHOP)):
        (tmp_path / f"{name}.yaml").write_text(text)
    sources = [api.stripe_source(mapping="billing.yaml", objects=["customers"]),
               api.hubspot_source(mapping="crm.yaml", objects=["contacts"], **FAST),
               api.shopify_source(mapping="shop.yaml", objects=["customers"])]
    return write_config(tmp_path, sources, writebacks={"interval": "1s", "backoff": "1s", **writebacks})


def sync(config: Path, source_id: str) -> str:
    result = inlet("sync", source_id, config=config, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def writebacks(config: Path) -> list[tuple]:
    return store(config, """SELECT source_id, changes::VARCHAR, status, attempts, last_error FROM writebacks
                            ORDER BY created_at, writeback_id""")


def profile(config: Path) -> dict:
    rows = store(config, "SELECT p.attributes::VARCHAR FROM profiles p JOIN identities i USING (profile_id) "
                         f"WHERE i.kind = 'email' AND i.identity = '{EMAIL}'")
    assert len(rows) == 1
    return orjson.loads(rows[0][0])


def test_attributes_reach_every_app_a_remote_change_comes_back_and_it_all_converges(tmp_path):
    with SandboxAPI(vendors=VENDORS, customers=3, rate_limit=False) as api:
        person = Person(api)
        config = make_config(tmp_path, api)
        for source_id in ("billing", "crm", "shop"):
            sync(config, source_id)  # each sync sends its own source's write-backs after its pull
        # Stripe objects carry no modification time: the pull that read the customer (after the HubSpot edit)
        # stands in for it, so Stripe's stage is the newest
        assert profile(config) == {"plan": "gold", "lifecycle_stage": "customer"}
        assert person.hubspot()["plan"] == "gold"  # Stripe's plan, out to HubSpot
        assert person.hubspot()["lifecyclestage"] == "customer"  # the two-way stage, written to HubSpot
        assert person.shopify_metafields() == {"plan": "gold", "lifecycle": "customer"}  # both, out to Shopify
        assert [(s, orjson.loads(c), st) for s, c, st, _, _ in writebacks(config)] == [
            ("crm", {"properties.lifecyclestage": "customer", "properties.plan": "gold"}, "sent"),
            ("shop", {"metafields.inlet.lifecycle": "customer", "metafields.inlet.plan": "gold"}, "sent")]

        # converged: syncing every source again (twice) reads inlet's own writes back and writes nothing
        for source_id in ("billing", "crm", "shop") * 2:
            sync(config, source_id)
        assert len(writebacks(config)) == 2
        assert store(config, "SELECT count(*) FROM profile_merges")[0][0] == 0

        # a change made in HubSpot comes back into the profile and goes out to the others
        api.hubspot.update("contacts", person.contact_id, {"lifecyclestage": "opportunity"})
        sync(config, "crm")
        assert profile(config)["lifecycle_stage"] == "opportunity"
        sync(config, "billing")
        sync(config, "shop")
        assert person.stripe_metadata()["lifecycle"] == "opportunity"
        assert person.shopify_metafields()["lifecycle"] == "opportunity"
        sent = len(writebacks(config))
        assert sent == 4
        for source_id in ("billing", "crm", "shop") * 2:
            sync(config, source_id)
        assert len(writebacks(config)) == sent  # and again nothing more
        assert all(status == "sent" for _, _, status, _, _ in writebacks(config))


def test_a_5xx_is_retried_until_the_write_lands_and_a_validation_error_stops_once(tmp_path):
    with SandboxAPI(vendors=VENDORS, customers=3, rate_limit=False) as api:
        person = Person(api)
        config = make_config(tmp_path, api)
        for source_id in ("billing", "crm", "shop", "billing", "crm"):
            sync(config, source_id)
        before = len(writebacks(config))

        # HubSpot answers 503 more often than one request retries: the write-back waits and lands later
        api.hubspot.fail_writes(20, status=503)
        person.stripe_update(plan="platinum")
        sync(config, "billing")
        sync(config, "crm")
        crm = [w for w in writebacks(config)[before:] if w[0] == "crm"]
        assert [(orjson.loads(c), st) for _, c, st, _, _ in crm] == [({"properties.plan": "platinum"}, "pending")]
        assert crm[0][3] == 1 and "503" in crm[0][4]
        api.hubspot.clear_write_faults()
        time.sleep(1.2)  # writebacks.backoff
        out = sync(config, "crm")
        assert "1 sent" in out
        assert person.hubspot()["plan"] == "platinum"
        crm = [w for w in writebacks(config)[before:] if w[0] == "crm"]
        assert [(st, n) for _, _, st, n, _ in crm] == [("sent", 2)]

        # a stage HubSpot does not know: refused once, recorded with HubSpot's reason, never sent again
        person.stripe_update(lifecycle="not-a-stage")
        sync(config, "billing")
        for _ in range(5):  # a passing failure on a busy machine (a timeout) leaves it pending: the next sync sends it
            sync(config, "crm")
            if not [w for w in writebacks(config) if w[0] == "crm" and w[2] == "pending"]:
                break
            time.sleep(1.2)
        refused = [w for w in writebacks(config) if w[2] == "rejected"]
        assert len(refused) == 1 and refused[0][0] == "crm", (writebacks(config), profile(config), store(
            config, "SELECT name, value::VARCHAR, epoch_us(observed_at), source_id FROM profile_attributes"))
        assert "not-a-stage" in refused[0][4]
        attempts = store(config, "SELECT count(*) FROM writeback_attempts a JOIN writebacks w USING (writeback_id) "
                                 "WHERE w.status = 'rejected'")[0][0]
        sync(config, "crm")
        sync(config, "crm")
        assert store(config, "SELECT count(*) FROM writeback_attempts a JOIN writebacks w USING (writeback_id) "
                             "WHERE w.status = 'rejected' AND a.outcome = 'rejected'")[0][0] == 1
        assert store(config, "SELECT count(*) FROM writeback_attempts a JOIN writebacks w USING (writeback_id) "
                             "WHERE w.status = 'rejected'")[0][0] == attempts  # never sent again
        assert person.hubspot()["lifecyclestage"] != "not-a-stage"


def test_a_server_killed_between_the_change_and_the_write_back_writes_it_after_restart(tmp_path, serve_process):
    with SandboxAPI(vendors=VENDORS, customers=3, rate_limit=False) as api:
        person = Person(api)
        config = make_config(tmp_path, api)
        for source_id in ("billing", "crm"):
            sync(config, source_id)
        assert person.hubspot()["plan"] == "gold"

        api.hubspot.fail_writes(10_000, status=503)  # nothing reaches HubSpot while the first server runs
        server = serve_process(config)
        person.stripe_update(plan="diamond")
        sync(config, "billing")  # through the server; its sender keeps failing against HubSpot
        deadline = time.monotonic() + 60
        while api.hubspot.writes_received == 0:
            assert time.monotonic() < deadline, "the server never tried the write-back"
            time.sleep(0.05)
        server.stop(signal.SIGKILL)
        assert person.hubspot()["plan"] == "gold"

        api.hubspot.clear_write_faults()
        serve_process(config)
        deadline = time.monotonic() + 60
        while person.hubspot()["plan"] != "diamond":
            assert time.monotonic() < deadline, f"not written after restart: {writebacks(config)}"
            time.sleep(0.2)
