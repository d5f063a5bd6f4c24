"""Structured logs: one JSON object per line (time, level, logger, message, and the source, sync run, object or
request a line is about), from `inlet serve --log-format json` or `logging: {format: json}`, uvicorn's lines
included; text stays the default."""

from __future__ import annotations

import asyncio
import io
import logging
import signal
import subprocess
import time
from datetime import datetime

import httpx
import orjson
import pytest

from connectors.kit import RecordIn
from engine import logs
from engine.config import ConfigError, load_config
from engine.sync.runner import run_sync
from tests.conftest import DEFAULT_SOURCES, INLET, ROOT, write_config
from tests.fake_connector import one_page
from tests.metrics_scrape import scrape
from tests.sandbox_api import SandboxAPI


def json_lines(stream: io.StringIO) -> list[dict]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


@pytest.fixture
def captured():
    """Lines of the `inlet.test` logger, formatted by inlet's JSON formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("inlet.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def test_a_json_line_has_its_fields_and_the_context_it_was_logged_in(captured):
    logger, stream = captured

    async def child() -> None:
        logger.info("in a task started inside")

    async def main() -> None:
        with logs.bound(source_id="crm", run_id="r-1", object="contacts"):
            logger.warning("read %d pages", 3)
            await asyncio.create_task(child())
            logger.info("told otherwise", extra={"object": "deals"})
        logger.info("outside")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("it failed")

    asyncio.run(main())
    first, task, extra, outside, failed = json_lines(stream)
    assert first["message"] == "read 3 pages" and first["level"] == "WARNING" and first["logger"] == "inlet.test"
    assert first["time"].endswith("Z")
    assert abs(datetime.fromisoformat(first["time"]).timestamp() - time.time()) < 60
    assert {k: first[k] for k in ("source_id", "run_id", "object")} == {"source_id": "crm", "run_id": "r-1",
                                                                        "object": "contacts"}
    assert task["source_id"] == "crm" and task["object"] == "contacts"
    assert extra["object"] == "deals"
    assert set(outside) == {"time", "level", "logger", "message"}
    assert failed["level"] == "ERROR" and "ValueError: boom" in failed["exception"]


def test_a_sync_binds_its_source_run_and_object(captured, server):
    logger, stream = captured
    connector = one_page([RecordIn("t1", {"a": 1})], {"at": 1}, lambda: logger.info("reading"))
    writer = server.state.writer
    result = asyncio.run_coroutine_threadsafe(run_sync("website", connector, writer.run), writer._loop).result(30)
    (line,) = json_lines(stream)
    assert line["message"] == "reading"
    assert (line["source_id"], line["run_id"], line["object"]) == ("website", result.run_id, "things")


def test_the_config_section_is_checked(tmp_path):
    config = load_config(write_config(tmp_path))
    assert (config.logging.format, config.logging.access) == ("text", False)
    assert load_config(write_config(tmp_path, logging={"format": "json", "access": True})).logging.format == "json"
    with pytest.raises(ConfigError, match=r"logging\.format"):
        load_config(write_config(tmp_path, logging={"format": "yaml"}))
    with pytest.raises(ConfigError, match=r"logging\.colour"):
        load_config(write_config(tmp_path, logging={"colour": True}))


def serve(config, *args: str) -> tuple[subprocess.Popen, str]:
    """`inlet serve` at info level, up once /healthz answers; its stderr and stdout go to serve.log."""
    log = config.parent / "serve.log"
    proc = subprocess.Popen([*INLET, "-c", str(config), "serve", "--log-level", "info", *args], cwd=ROOT,
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
    url = f"http://127.0.0.1:{load_config(config).server.port}"
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "inlet serve did not come up"
        time.sleep(0.05)


def stop(proc: subprocess.Popen, config) -> list[str]:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    return (config.parent / "serve.log").read_text().splitlines()


def test_serve_logs_json_lines_with_uvicorns_own_and_request_ids(tmp_path):
    with SandboxAPI(customers=1) as api:  # its key is refused: the catch-up run at start fails and is logged
        billing = api.stripe_source(api_key="sk_test_refused", objects=["customers"], schedule={"every": "1h"})
        config = write_config(tmp_path, [*DEFAULT_SOURCES, billing], logging={"format": "json", "access": True})
        lines = _serve_and_send(config)
    entries = [orjson.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    assert any(e["logger"] == "uvicorn.error" and e["message"].startswith("Uvicorn running on") for e in entries)
    access = [e for e in entries if e["logger"] == "uvicorn.access"]
    tagged = [e for e in access if e.get("request_id") == "req-42"]
    assert len(tagged) == 1 and tagged[0]["http"]["status"] == 200 and tagged[0]["http"]["method"] == "POST"
    others = [e["request_id"] for e in access if e["http"]["path"] == "/collect/page/website"]
    assert len(others) == 2 and len(set(others)) == 2  # one made up for the request without a header
    failed = [e for e in entries if e["logger"] == "inlet.scheduler" and e["level"] == "ERROR"]
    assert failed and failed[0]["source_id"] == "billing" and "credentials" in failed[0]["message"]


def _serve_and_send(config) -> list[str]:
    proc, url = serve(config)
    deadline = time.monotonic() + 20
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            assert client.post("/collect/page/website", json={"a": 1},
                               headers={"X-Request-Id": "req-42"}).status_code == 200
            assert client.post("/collect/page/website", json={"a": 2}).status_code == 200
            assert client.get("/collect/page/website?" + "x" * 9000).status_code == 414  # refused before routing
            refused = scrape(client).value("inlet_events_refused_total", source_id="unknown", reason="uri_too_long")
            assert refused == 1
            while not scrape(client).value("inlet_sync_runs_total", source_id="billing", object="customers",
                                           status="failed"):
                assert time.monotonic() < deadline, "the catch-up run never ended"
                time.sleep(0.05)
    finally:
        lines = stop(proc, config)
    return lines


def test_text_is_the_default_and_the_flag_overrides_the_config(tmp_path):
    config = write_config(tmp_path)
    proc, _ = serve(config)
    lines = stop(proc, config)
    started = [line for line in lines if "Uvicorn running on" in line]
    assert started and not started[0].startswith("{")
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(lines[0])
    proc, _ = serve(config, "--log-format", "json")
    lines = stop(proc, config)
    assert lines and all(orjson.loads(line)["time"] for line in lines)
