"""Helpers shared by the tracking API tests: the tracking sources and write keys, and senders and readers."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from tests.conftest import write_config

WEB_KEY, APP_KEY, OLD_KEY = "wk-web-0123456789", "wk-app-9876543210", "wk-old-5555"
SOURCES = [
    {"id": "web", "name": "Website", "channel": "web", "bridge": "tracking", "write_key": WEB_KEY},
    {"id": "app", "name": "Mobile app", "channel": "mobile", "bridge": "tracking", "write_key": APP_KEY},
    {"id": "old", "name": "Old app", "channel": "mobile", "bridge": "tracking", "write_key": OLD_KEY,
     "enabled": False},
    {"id": "website", "name": "Collect", "channel": "web", "bridge": "webhook"},
]


def basic(key: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


@pytest.fixture(name="config_path")
def tracking_config_path(tmp_path):
    return write_config(tmp_path, sources=SOURCES)


def events(server, where: str = "true", params=None) -> list[dict]:
    rows = server.sql(
        "SELECT source_id, event_type, profile_id::VARCHAR, session_id, properties, context, occurred_at, "
        f"received_at FROM events WHERE {where} ORDER BY event_id", params)
    return [{"source_id": r[0], "event_type": r[1], "profile_id": r[2], "session_id": r[3],
             "properties": json.loads(r[4]), "context": json.loads(r[5]), "message": json.loads(r[5]).get("message"),
             "occurred_at": r[6], "received_at": r[7]} for r in rows]


def rejections(server) -> list[tuple]:
    return server.sql("SELECT source_id, status, reason, size, excerpt, path FROM rejections ORDER BY received_at")


def profile_of_user(server, user_id: str) -> str | None:
    rows = server.sql("SELECT profile_id::VARCHAR FROM identities WHERE kind = 'user_id' AND identity = ?", [user_id])
    return rows[0][0] if rows else None


def send(http, path: str, body, key: str | None = WEB_KEY, **headers) -> httpx.Response:
    return http.post(path, json=body, headers={**(basic(key) if key else {}), **headers})
