"""Pushes feeding profiles through mappings: a tracking SDK's `identify` (the real segment-analytics-python
client) and a collect webhook event carry an email that a HubSpot contact already holds, so the anonymous
session, the tracked user and the contact become one profile with the attributes of all three; the events
stored under the merged profile stay in its history. A vendor webhook feeds the mapping too, and the write-back
it causes is sent by the running server."""

from __future__ import annotations

import time

import httpx
import orjson

from tests.conftest import InProcessServer, inlet, write_config
from tests.sandbox_api import SandboxAPI
from tests.test_two_way import Person, make_config
from tests.test_vendor_webhooks import SECRET, hubspot_signed

EMAIL = "ann.lee@push.example.com"
WRITE_KEY = "wk_push_profiles"
CRM = """
objects:
  contact:
    identities: [{kind: email, path: properties.email}]
    fields:
      - {path: properties.lifecyclestage, attribute: lifecycle_stage}
"""
SITE = """
events:
  signup:
    identities: [{kind: email, path: properties.email}]
    fields: [{path: properties.plan, attribute: plan}]
"""


def test_an_identify_and_a_collect_event_join_the_contacts_profile(tmp_path):
    with SandboxAPI(vendors=("hubspot",), customers=3, rate_limit=False) as api:
        contact = api.hubspot.records("contacts")[0]["id"]
        api.hubspot.update("contacts", contact, {"email": EMAIL, "lifecyclestage": "lead"})
        (tmp_path / "crm.yaml").write_text(CRM)
        (tmp_path / "site.yaml").write_text(SITE)
        config = write_config(tmp_path, [
            api.hubspot_source(mapping="crm.yaml", objects=["contacts"], requests_per_10s=1000, search_per_second=100),
            {"id": "web", "name": "Web app", "channel": "web", "bridge": "tracking", "write_key": WRITE_KEY,
             "mapping": "default"},
            {"id": "site", "name": "Site", "channel": "web", "bridge": "webhook", "mapping": "site.yaml"}])
        assert inlet("sync", "crm", config=config).returncode == 0

        with InProcessServer(config) as server:
            from segment.analytics import Client

            client = Client(WRITE_KEY, host=server.url, max_retries=1, upload_interval=0.05)
            try:
                client.page(anonymous_id="anon-1", name="Pricing", properties={"path": "/pricing"})
                client.flush()  # the anonymous session gets its own profile first
                client.identify(user_id="user-1", anonymous_id="anon-1",
                                traits={"email": f"  {EMAIL.upper()} ", "name": "Ann Lee"})
                client.flush()
            finally:
                client.shutdown()
            answer = httpx.post(f"{server.url}/collect/signup/site/sess-9", json={"email": EMAIL, "plan": "pro"})
            assert answer.status_code in (200, 201, 202), answer.text

            (profile,) = server.sql("SELECT profile_id::VARCHAR FROM identities WHERE kind = 'email' "
                                    "AND identity = ?", [EMAIL])[0]
            attributes = orjson.loads(server.sql("SELECT attributes::VARCHAR FROM profiles WHERE profile_id = ?::UUID",
                                                 [profile])[0][0])
            assert attributes == {"lifecycle_stage": "lead", "name": "Ann Lee", "plan": "pro"}
            history = [t for (t,) in server.sql("SELECT event_type FROM profile_events WHERE profile_id = ?::UUID "
                                                "ORDER BY event_id", [profile])]
            assert history == ["contact.created", "page", "identify", "signup"]
            assert server.sql("SELECT count(*) FROM profiles")[0][0] == 3  # the other two contacts
            merged = server.sql("SELECT merged_into::VARCHAR, reason FROM profile_merges")
            assert merged == [(profile, f"email={EMAIL}")] * 2  # the tracked user's, then the collect session's
            provenance = dict(server.sql("SELECT name, source_id FROM profile_attributes WHERE profile_id = ?::UUID",
                                         [profile]))
            assert provenance == {"lifecycle_stage": "crm", "name": "web", "plan": "site"}
            # the user id and the session now lead to the same profile as the email
            assert {p for (p,) in server.sql("SELECT profile_id::VARCHAR FROM identities WHERE identity IN "
                                             "('user-1', ?)", [EMAIL])} == {profile}
            assert {p for (p,) in server.sql("SELECT profile_id::VARCHAR FROM sessions")} == {profile}


def test_a_vendor_webhook_feeds_the_mapping_and_the_server_writes_back(tmp_path, serve_process):
    with SandboxAPI(vendors=("stripe", "hubspot", "shopify"), customers=3, rate_limit=False) as api:
        person = Person(api)
        config = make_config(tmp_path, api)
        text = config.read_text().replace("bridge: hubspot", f"bridge: hubspot\n  webhook_secret: {SECRET}")
        config.write_text(text.replace("server:\n", "server:\n  public_url: https://inlet.example.com\n", 1))
        server = serve_process(config)
        for source_id in ("billing", "crm", "shop"):
            assert inlet("sync", source_id, config=config).returncode == 0
        api.hubspot.update("contacts", person.contact_id, {"lifecyclestage": "evangelist"})
        body = orjson.dumps([{"eventId": 11, "subscriptionId": 7, "portalId": 123,
                              "occurredAt": int(time.time() * 1000), "subscriptionType": "contact.propertyChange",
                              "attemptNumber": 0, "objectId": int(person.contact_id),
                              "propertyName": "lifecyclestage", "propertyValue": "evangelist"}])
        answer = httpx.post(f"{server.url}/webhooks/crm", content=body,
                            headers=hubspot_signed(body, "https://inlet.example.com/webhooks/crm"))
        assert answer.status_code == 200 and answer.json()["changed"] == 1, answer.text
        deadline = time.monotonic() + 30  # no sync: the server's sender writes the change to Stripe and Shopify
        while person.stripe_metadata().get("lifecycle") != "evangelist" or \
                person.shopify_metafields()["lifecycle"] != "evangelist":
            assert time.monotonic() < deadline, "the webhook's change was not written back"
            time.sleep(0.2)
