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
  - {{id: website, name: Website, channel: web, bridge: webhook}}
  - id: app
    name: Mobile app
    channel: mobile
    bridge: webhook
    secret: "${{INLET_DEMO_SECRET:-demo-secret}}"
  - {{id: legacy, name: Old site, channel: web, bridge: webhook, enabled: false}}
  - id: newsletter
    name: Newsletter
    channel: email
    bridge: redirect
    links:
      spring-sale: {{url: "https://shop.example.com/sale", event_type: email-click, properties: {{campaign: spring}}}}
"""


def run_demo(directory: Path, echo, table) -> int:
    directory = Path(directory)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    config_path = directory / "inlet.yaml"
    port = free_port()
    config_path.write_text(DEMO_CONFIG.format(config=config_path, port=port))
    config = load_config(config_path)
    base = f"http://127.0.0.1:{port}"

    echo(f"1. starting `inlet serve` with {config_path} ...")
    log = open(directory / "server.log", "w")  # noqa: SIM115 - the child keeps writing to it
    server = subprocess.Popen([sys.executable, "-m", "engine", "-c", str(config_path), "serve"],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        if not _wait_healthy(base, server):
            echo(f"the server did not start; see {directory / 'server.log'}")
            return 1
        echo(f"   server up on {base} (pid {server.pid}); API docs at {base}/docs")
        echo("2. sending events to the collect webhooks over HTTP ...")
        sent = _send_events(base)
        for line in sent:
            echo(f"   {line}")
        echo("3. what landed (queried through the running server):")
        with StoreAccess.open(config) as store:
            for title, sql in (
                ("events per source", "SELECT source_id, event_type, count(*) AS events, "
                 "count(DISTINCT profile_id) AS profiles FROM events GROUP BY ALL ORDER BY ALL"),
                ("refused requests", "SELECT source_id, status, reason FROM rejections ORDER BY received_at"),
            ):
                columns, _, chunks = store.query(sql)
                echo(f"\n   {title}:")
                echo("   " + table(columns, [r for rows in chunks for r in rows]).replace("\n", "\n   ").rstrip())
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=30)
        log.close()
    echo(f"\n4. server stopped (exit {code}). Try it yourself:")
    echo(f"   .venv/bin/inlet -c {config_path} sql \"SELECT event_type, properties FROM events LIMIT 5\"")
    return 0 if code == 0 else 1


def _wait_healthy(base: str, server: subprocess.Popen) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            time.sleep(0.1)
    return False


def _send_events(base: str) -> list[str]:
    secret = os.environ.get("INLET_DEMO_SECRET", "demo-secret")
    ok = 0
    with httpx.Client(base_url=base, timeout=10, follow_redirects=False) as http:
        for visitor in range(1, 6):
            session = f"visitor-{visitor}"
            for page in ("/", "/pricing", "/signup"):
                ok += http.get(f"/collect/page-view/website/{session}", params={"path": page}).status_code == 200
            ok += http.post(f"/collect/signup/website/{session}",
                            json={"plan": "pro", "seats": visitor, "trial": True, "utm": {"source": "demo"}}
                            ).status_code == 200
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
