"""The Grafana dashboard (engine/server/dashboards/inlet.json) against a real Prometheus: Debian's `prometheus`
(`make test` installs it) scrapes a real `inlet serve` every second while the test pushes events, refuses one,
syncs the Stripe sandbox and has a write-back sent; then every query of every panel must return data through
Prometheus's HTTP API."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import time
from importlib import resources
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, write_config
from tests.metrics_scrape import scrape
from tests.sandbox_api import SandboxAPI

EMAIL = "ops@dashboard.example.com"
SITE_MAPPING = """
events:
  lifecycle:
    identities: [{kind: email, path: properties.email}]
    fields: [{path: properties.stage, attribute: lifecycle_stage, type: string}]
"""
BILLING_MAPPING = """
objects:
  customer:
    identities: [{kind: email, path: email}]
    fields: [{path: metadata.lifecycle, attribute: lifecycle_stage, direction: two-way}]
"""
PROMETHEUS_CONFIG = """global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: inlet
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
"""
# what Grafana puts in place of its variables, for a query sent straight to Prometheus
VARIABLES = {"$__rate_interval": "1m", "$__interval": "5s", "$__range": "5m"}


def dashboard() -> dict:
    return json.loads(resources.files("engine.server").joinpath("dashboards/inlet.json").read_text())


def queries(board: dict) -> list[tuple[str, str]]:
    """(panel title, PromQL with Grafana's variables filled in) for every target of every panel, rows included."""
    found = []
    for panel in board["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets", []):
                expr = target["expr"]
                for name, value in VARIABLES.items():
                    expr = expr.replace(name, value)
                found.append((inner["title"], expr))
    return found


class Prometheus:
    """Debian's prometheus on 127.0.0.1, its data in a temporary directory, stopped at the end."""

    def __init__(self, directory: Path, target_port: int):
        binary = shutil.which("prometheus")
        assert binary, "Debian's prometheus is needed (make test installs it: apt-get install prometheus)"
        config = directory / "prometheus.yml"
        config.write_text(PROMETHEUS_CONFIG.format(port=target_port))
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = directory / "prometheus.log"
        self.proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={directory / 'data'}",
             f"--web.listen-address={self.url.removeprefix('http://')}", "--log.level=warn"],
            stdout=open(self.log, "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
        self.http = httpx.Client(base_url=self.url, timeout=5)
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, f"prometheus exited: {self.log.read_text()}"
            try:
                if self.http.get("/-/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "prometheus did not come up"
            time.sleep(0.1)

    def query(self, expr: str) -> list[dict]:
        answer = self.http.get("/api/v1/query", params={"query": expr}).json()
        assert answer["status"] == "success", (expr, answer)
        return answer["data"]["result"]

    def stop(self) -> None:
        self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def finite(result: list[dict]) -> bool:
    return any(math.isfinite(float(series["value"][1])) for series in result)


def wait_for(what: str, check, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_every_panel_query_returns_data_from_a_real_prometheus(tmp_path, serve_process):
    board = dashboard()
    panels = queries(board)
    assert {p["title"] for p in board["panels"] if p["type"] == "row"} >= {
        "Ingest: pushed events", "Syncs: pulled sources", "Vendors: cloud-app APIs", "Write-backs: two-way sync"}
    (tmp_path / "site.yaml").write_text(SITE_MAPPING)
    (tmp_path / "billing.yaml").write_text(BILLING_MAPPING)
    with SandboxAPI(customers=20) as api:
        customer = api.stripe.create_customer({"email": EMAIL, "metadata": {"lifecycle": "customer"}})["id"]
        api.faults.hold("/v1/", after=0)  # the catch-up sync at start waits until Prometheus has seen the server
        config = write_config(tmp_path, [
            {"id": "website", "name": "Website", "channel": "web", "bridge": "webhook", "mapping": "site.yaml"},
            api.stripe_source(objects=["customers"], schedule={"every": "1h"}, mapping="billing.yaml")],
            writebacks={"interval": "1s"})
        server = serve_process(config)
        prometheus = Prometheus(tmp_path, server.config.server.port)
        try:
            wait_for("a first scrape", lambda: prometheus.query('up{job="inlet"} == 1'))
            api.faults.release()
            wait_for("the sync", lambda: scrape(server.http).value(
                "inlet_sync_runs_total", source_id="billing", object="customers", status="succeeded") == 1)
            for n in range(5):
                assert server.http.post(f"/collect/page/website/s{n}", json={"n": n}).status_code == 200
            assert server.http.post("/collect/page/no-such-source", json={}).status_code == 401
            changed = server.http.post("/collect/lifecycle/website", json={"email": EMAIL, "stage": "vip"})
            assert changed.status_code == 200
            wait_for("the write-back", lambda: scrape(server.http).value(
                "inlet_writebacks", source_id="billing", status="sent") == 1)
            assert api.stripe.collections["customers"].by_id[customer]["metadata"]["lifecycle"] == "vip"

            missing: list[tuple[str, str]] = []

            def all_answer() -> bool:
                missing[:] = [(title, expr) for title, expr in panels if not finite(prometheus.query(expr))]
                return not missing

            try:
                wait_for("every panel's data", all_answer, timeout=25)
            except AssertionError:
                pytest.fail(f"panels without data: {missing}")
            # and what they show is what happened
            acknowledged = prometheus.query('inlet_events_acknowledged_total{source_id="website"}')
            assert float(acknowledged[0]["value"][1]) == 6
            refused = prometheus.query('inlet_events_refused_total{source_id="unknown", reason="unknown_source"}')
            assert float(refused[0]["value"][1]) == 1
            records = prometheus.query('inlet_sync_records_total{source_id="billing", change="created"}')
            assert float(records[0]["value"][1]) == 21
        finally:
            prometheus.stop()
