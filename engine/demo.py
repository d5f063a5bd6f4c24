"""`inlet demo`: a real server in a child process, real HTTP requests, and a look at what landed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from engine.access import StoreAccess
from engine.config import load_config
from engine.net import free_port

DEMO_CONFIG = """\
# Written by `inlet demo`. Query the store it made with:
#   inlet -c {config} sql "SELECT * FROM events LIMIT 5"
store: {{path: inlet.duckdb}}
server: {{host: 127.0.0.1, port: {port}}}
sources:
  - {{id: website, name: Website, channel: web, bridge: webhook, mapping: website.mapping.yaml}}
  - id: app
    name: Mobile app
    channel: mobile
    bridge: webhook
    secret: "${{INLET_DEMO_SECRET:-demo-secret}}"
  - {{id: legacy, name: Old site, channel: web, bridge: webhook, enabled: false}}
  - id: billing
    name: Stripe (sandbox)
    channel: billing
    bridge: stripe
    api_key: sk_test_sandbox
    base_url: http://127.0.0.1:{sandbox_port}
    mapping: default
  - id: crm
    name: HubSpot (sandbox)
    channel: crm
    bridge: hubspot
    token: pat-na1-sandbox
    base_url: http://127.0.0.1:{sandbox_port}
    mapping: default
  - id: shop
    name: Shopify (sandbox)
    channel: web
    bridge: shopify
    shop: inlet-sandbox.myshopify.com
    access_token: shpat_sandbox
    base_url: http://127.0.0.1:{sandbox_port}
    mapping: default
  - id: newsletter
    name: Newsletter
    channel: email
    bridge: redirect
    links:
      spring-sale: {{url: "https://shop.example.com/sale", event_type: email-click, properties: {{campaign: spring}}}}
"""


# The website's signups name the visitor's email: it ties the visitor's session to the profile the same person has
# from Stripe, HubSpot and Shopify (the sandbox makes a share of its people customers of all three).
WEBSITE_MAPPING = """\
# Written by `inlet demo`: a signup's email joins the visitor to the person's profile from the cloud apps.
events:
  signup:
    identities: [{kind: email, path: properties.email}]
    fields: [{path: properties.plan, attribute: plan, type: string}]
"""

# People in the records of all three apps, by email (the shipped mappings make each of them one profile).
SHARED_EMAILS = """
SELECT email FROM (
    SELECT lower(data->>'email') AS email FROM records WHERE source_id = 'billing' AND object_type = 'customer'
    INTERSECT
    SELECT lower(data->'properties'->>'email') FROM records WHERE source_id = 'crm' AND object_type = 'contact'
    INTERSECT
    SELECT lower(data->>'email') FROM records WHERE source_id = 'shop' AND object_type = 'customer')
ORDER BY email LIMIT 3
"""

UNIFIED = """
WITH linked AS (SELECT profile_id, count(DISTINCT split_part(identity, '/', 1)) AS apps FROM identities
                WHERE kind = 'record' GROUP BY profile_id),
     web AS (SELECT DISTINCT profile_id FROM profile_events WHERE source_id = 'website')
SELECT count(*) FILTER (WHERE apps = 3) AS in_stripe_hubspot_shopify,
       count(*) FILTER (WHERE apps = 3 AND web.profile_id IS NOT NULL) AS and_on_the_website
FROM linked LEFT JOIN web USING (profile_id)
"""

EXAMPLE = """
SELECT p.profile_id, p.attributes->>'email' AS email, p.attributes->>'plan' AS plan,
       list(DISTINCT split_part(i.identity, '/', 1) ORDER BY split_part(i.identity, '/', 1)) AS apps
FROM profiles p JOIN identities i ON i.profile_id = p.profile_id AND i.kind = 'record'
WHERE p.attributes->>'plan' IS NOT NULL GROUP BY ALL HAVING len(apps) = 3 ORDER BY email LIMIT 1
"""


def run_demo(directory: Path, echo, table, *, keep: bool = False) -> int:
    """The demo in `directory`; with `keep`, the server and the sandbox go on running after it."""
    directory = Path(directory)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    config_path = directory / "inlet.yaml"
    port, sandbox_port = free_port(), free_port()
    config_path.write_text(DEMO_CONFIG.format(config=config_path, port=port, sandbox_port=sandbox_port))
    (directory / "website.mapping.yaml").write_text(WEBSITE_MAPPING)
    config = load_config(config_path)
    base = f"http://127.0.0.1:{port}"
    stripe = f"http://127.0.0.1:{sandbox_port}"
    children: list[subprocess.Popen] = []
    logs = []
    kept = False  # set once the demo went through, when the processes are to keep running

    def child(args: list[str], log_name: str) -> subprocess.Popen:
        log = open(directory / log_name, "w")  # noqa: SIM115 - the child keeps writing to it
        logs.append(log)
        proc = subprocess.Popen([sys.executable, "-m", "engine", *args], stdout=log, stderr=subprocess.STDOUT)
        children.append(proc)
        return proc

    try:
        echo(f"1. starting `inlet sandbox` (emulated Stripe, HubSpot and Shopify accounts) on {stripe} ...")
        # Shopify's standard plan restores 100 query-cost points a second: a first read of 400 orders with their
        # line items would take minutes, so the demo's shop is on Plus (1,000 a second).
        sandbox = child(["sandbox", "--port", str(sandbox_port), "--customers", "200", "--seed", "1",
                         "--shopify-plan", "plus"], "sandbox.log")
        if not _wait_up(f"{stripe}/v1/customers", sandbox, headers={"Authorization": "Bearer sk_test_sandbox"}):
            echo(f"the sandbox did not start; see {directory / 'sandbox.log'}")
            return 1
        echo(f"2. starting `inlet serve` with {config_path} ...")
        server = child(["-c", str(config_path), "serve"], "server.log")
        if not _wait_up(f"{base}/healthz", server):
            echo(f"the server did not start; see {directory / 'server.log'}")
            return 1
        echo(f"   server up on {base} (pid {server.pid}); API docs at {base}/docs")

        echo("3. `inlet sync billing`, `crm` and `shop`: the first syncs read every object of the three apps ...")
        if not all(_sync(config, source, echo, table) for source in SOURCES):
            return 1
        echo("4. changing the accounts through their APIs (Stripe and HubSpot: 2 customers or contacts edited,")
        echo("   1 deleted, 1 created; Shopify: 2 customers edited), then syncing again: only those changes come in,")
        echo("   read from Stripe's events, HubSpot's search API and Shopify's updated_at filter ...")
        _change_stripe(stripe)
        _change_hubspot(stripe)
        _change_shopify(stripe)
        if not all(_sync(config, source, echo, table) for source in SOURCES):
            return 1

        with StoreAccess.open(config) as store:
            shared = [r[0] for rows in store.query(SHARED_EMAILS)[2] for r in rows]
        echo("5. sending events to the collect webhooks over HTTP (three visitors sign up with the email of a "
             "customer of all three apps) ...")
        for line in _send_events(base, shared):
            echo(f"   {line}")
        echo("6. what landed (queried through the running server):")
        with StoreAccess.open(config) as store:
            for title, sql in (
                ("events per source", "SELECT source_id, event_type, count(*) AS events, "
                 "count(DISTINCT profile_id) AS profiles FROM events GROUP BY ALL ORDER BY ALL"),
                ("records pulled", "SELECT source_id, object_type, count(*) FILTER (NOT deleted) AS live, "
                 "count(*) FILTER (deleted) AS deleted FROM records GROUP BY ALL ORDER BY ALL"),
                ("profiles (the shipped mappings: identities, attributes)",
                 "SELECT (SELECT count(*) FROM profiles) AS profiles, (SELECT count(*) FROM identities) AS "
                 "identities, (SELECT count(*) FROM profile_attributes) AS attributes, "
                 "(SELECT count(*) FROM profile_merges) AS merges"),
                ("one person, one profile: profiles tied to records of all three apps, and of those, to website "
                 "visits", UNIFIED),
                ("for example", EXAMPLE),
                ("refused requests", "SELECT source_id, status, reason FROM rejections ORDER BY received_at"),
            ):
                columns, _, chunks = store.query(sql)
                echo(f"\n   {title}:")
                echo("   " + table(columns, [r for rows in chunks for r in rows]).replace("\n", "\n   ").rstrip())
        kept = keep
    finally:
        codes = []
        for proc in reversed(children if not kept else []):
            proc.send_signal(signal.SIGTERM)
            codes.append(proc.wait(timeout=30))
        for log in logs:  # a child kept running writes on through its own copy
            log.close()
    if kept:
        echo(f"\n7. the server and the sandbox keep running. The console: {base}/  (profiles: {base}/profiles)")
        echo(f"   .venv/bin/inlet -c {config_path} sql \"SELECT event_type, properties FROM events LIMIT 5\"")
        echo(f"   stop them with: kill {' '.join(str(p.pid) for p in reversed(children))}")
        return 0
    code = codes[0] if codes else 1
    echo(f"\n7. server and sandbox stopped (server exit {code}). Try it yourself (`inlet demo --keep` leaves them "
         "running, with the console):")
    echo(f"   .venv/bin/inlet -c {config_path} sql \"SELECT event_type, properties FROM events LIMIT 5\"")
    echo("   .venv/bin/inlet sandbox   # then paste the snippet it prints into your own inlet.yaml")
    return 0 if code == 0 else 1


SOURCES = ("billing", "crm", "shop")


def _sync(config, source_id: str, echo, table) -> bool:
    from engine.sync.launch import SyncFailed, run
    from engine.sync.report import summary

    echo(f"   {source_id}:")
    try:
        result = run(config, source_id, None, False, lambda message: None)
    except SyncFailed as exc:
        echo(f"   the sync failed: {exc}")
        return False
    columns, rows, lines = summary(result)
    echo("   " + table(columns, rows).replace("\n", "\n   ").rstrip())
    for line in lines:
        echo(f"   {line}")
    return bool(result.get("ok"))


def _change_stripe(stripe: str) -> None:
    """Edits through the emulated Stripe API, as a billing team would make them in the Dashboard."""
    with httpx.Client(base_url=stripe, auth=("sk_test_sandbox", ""), timeout=10) as api:
        customers = api.get("/v1/customers", params={"limit": 3}).json()["data"]
        for customer in customers[:2]:
            api.post(f"/v1/customers/{customer['id']}", data={"metadata[plan]": "enterprise"}).raise_for_status()
        api.delete(f"/v1/customers/{customers[2]['id']}").raise_for_status()
        api.post("/v1/customers", data={"email": "grace@example.com", "name": "Grace Hopper"}).raise_for_status()


def _change_hubspot(base: str) -> None:
    """Edits through the emulated HubSpot API, as a sales team would make them in the CRM."""
    with httpx.Client(base_url=base, headers={"Authorization": "Bearer pat-na1-sandbox"}, timeout=10) as api:
        contacts = api.get("/crm/v3/objects/contacts", params={"limit": 3}).json()["results"]
        for contact in contacts[:2]:
            api.patch(f"/crm/v3/objects/contacts/{contact['id']}",
                      json={"properties": {"lifecyclestage": "customer"}}).raise_for_status()
        api.delete(f"/crm/v3/objects/contacts/{contacts[2]['id']}").raise_for_status()
        api.post("/crm/v3/objects/contacts", json={"properties": {
            "email": "grace@example.com", "firstname": "Grace", "lastname": "Hopper"}}).raise_for_status()


UPDATE_CUSTOMER = "mutation($input: CustomerInput!) { customerUpdate(input: $input) { userErrors { message } } }"


def _change_shopify(base: str) -> None:
    """Edits through the emulated Shopify GraphQL Admin API, as a shop's staff would make them."""
    url = "/admin/api/2026-10/graphql.json"
    with httpx.Client(base_url=base, headers={"X-Shopify-Access-Token": "shpat_sandbox"}, timeout=10) as api:
        found = api.post(url, json={"query": "{ customers(first: 2) { nodes { id } } }"}).json()
        for node in found["data"]["customers"]["nodes"]:
            answer = api.post(url, json={"query": UPDATE_CUSTOMER, "variables": {
                "input": {"id": node["id"], "note": "VIP since the demo"}}}).json()
            errors = answer.get("errors") or answer["data"]["customerUpdate"]["userErrors"]
            if errors:
                raise RuntimeError(f"the Shopify sandbox refused the edit: {errors}")


def _wait_up(url: str, proc: subprocess.Popen, headers: dict | None = None) -> bool:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url, timeout=1, headers=headers).status_code == 200:
                return True
        except httpx.TransportError:
            time.sleep(0.1)
    return False


def _send_events(base: str, emails: list[str]) -> list[str]:
    secret = os.environ.get("INLET_DEMO_SECRET", "demo-secret")
    ok = 0
    with httpx.Client(base_url=base, timeout=10, follow_redirects=False) as http:
        for visitor in range(1, 6):
            session = f"visitor-{visitor}"
            for page in ("/", "/pricing", "/signup"):
                ok += http.get(f"/collect/page-view/website/{session}", params={"path": page}).status_code == 200
            signup = {"plan": "pro", "seats": visitor, "trial": True, "utm": {"source": "demo"}}
            if visitor <= len(emails):  # a customer of the three apps, now on the website too
                signup["email"] = emails[visitor - 1]
            ok += http.post(f"/collect/signup/website/{session}", json=signup).status_code == 200
        ok += http.post("/collect/newsletter-signup/website", data={"email": "ada@example.com"}).status_code == 200
        for n in range(3):
            ok += http.post("/collect/app-open/app/device-42", json={"build": 100 + n},
                            headers={"Authorization": f"Bearer {secret}"}).status_code == 200
        clicks = [http.get("/r/newsletter/spring-sale/visitor-1", params={"utm_source": "april-mail"}),
                  http.get("/r/newsletter/spring-sale", params={"utm_source": "april-mail"})]
        clicks.append(http.get("/r/newsletter/spring-sale"))  # the cookie set by the click before ties it
        opened = http.get("/pixel/email-open/newsletter/visitor-1.gif", params={"mail": "april"})
        refused = [
            http.post("/collect/app-open/app/device-42", json={}),  # no secret
            http.post("/collect/page-view/legacy", json={}),  # disabled source
            http.post("/collect/page-view/website", content=b"{not json", headers={"content-type": "application/json"}),
        ]
    return [f"{ok} events acknowledged with 200",
            f"{len(clicks)} link clicks answered {', '.join(str(c.status_code) for c in clicks)} to "
            f"{clicks[0].headers['location']}; the pixel answered {opened.headers['content-type']}",
            "refused as they should be: " + ", ".join(f"{r.status_code} {r.json()['error']}" for r in refused)]
