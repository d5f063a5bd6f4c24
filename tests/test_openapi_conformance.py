"""The live app against its own OpenAPI document: schemathesis sends what /openapi.json describes (and requests
that break it) to the real server on loopback, and checks every answer against the document.

The run goes through schemathesis's engine (what its CLI runs), not its pytest plugin: the plugin's
`from_fixture` tests rename pytest's node through an attribute pytest 9.2 no longer has."""

from __future__ import annotations

import httpx
import schemathesis
import schemathesis.engine
from schemathesis.engine import events
from schemathesis.openapi.checks import RejectedPositiveData

from engine.server.tracking import CALLS
from tests.conftest import InProcessServer, write_config

WEB_KEY = "wk-conformance-0123456789"
HOOK_SECRET = "conformance-secret"
SOURCES = [
    {"id": "website", "name": "Website", "channel": "web", "bridge": "webhook"},
    {"id": "app", "name": "App", "channel": "mobile", "bridge": "webhook", "secret": HOOK_SECRET},
    {"id": "legacy", "name": "Old", "channel": "web", "bridge": "webhook", "enabled": False},
    {"id": "web", "name": "Web SDK", "channel": "web", "bridge": "tracking", "write_key": WEB_KEY},
    {"id": "news", "name": "Newsletter", "channel": "email", "bridge": "redirect",
     "links": {"sale": {"url": "http://127.0.0.1:9/sale?ref=mail"}}},
    {"id": "billing", "name": "Stripe", "channel": "billing", "bridge": "stripe", "api_key": "sk_test_conformance",
     "webhook_secret": "whsec_conformance", "base_url": "http://127.0.0.1:9"},
]
SHORT_FORMS = "^/v1/[a-z]$"  # the tracking calls' one-letter paths: the same endpoints as the long ones

# From a fixed seed: every phase but the stateful one (the API has no links between operations), 30 examples an
# operation (5 for the short forms, whose documents are the long forms'), no redirects followed. Known source and
# link ids are drawn half the time, and requests carry the webhook source's secret and the tracking source's write
# key, so they get past the source check as well as being refused by it. The checks: no 5xx, and status, content
# type and body as documented; an undocumented method is a 405 with Allow; a request the document allows is not
# refused as malformed (401 for an unknown source is fine).
SETTINGS = {
    "seed": 18,
    "max-redirects": 0,
    "request-timeout": 10,
    "generation": {"max-examples": 30, "deterministic": True, "database": "none"},
    "phases": {"stateful": {"enabled": False}},
    "checks": {
        "enabled": False,
        "not_a_server_error": {"enabled": True},
        "status_code_conformance": {"enabled": True},
        "content_type_conformance": {"enabled": True},
        "response_schema_conformance": {"enabled": True},
        "unsupported_method": {"enabled": True},
        "positive_data_acceptance": {"enabled": True},
    },
    "operations": [
        {"include-path-regex": SHORT_FORMS, "generation": {"max-examples": 5},
         "phases": {"coverage": {"enabled": False}}},
        # A batch's coverage cases multiply its six message shapes (1,400 requests); its fuzzing stays.
        {"include-path-regex": "^/v1/batch$", "phases": {"coverage": {"enabled": False}}},
    ],
    "auth": {"openapi": {"sourceSecret": {"bearer": HOOK_SECRET},
                         "writeKey": {"username": WEB_KEY, "password": ""}}},
    "output": {"sanitization": {"enabled": False}, "truncation": {"enabled": False}},
    "dictionaries": {"sources": {"values": [s["id"] for s in SOURCES]}, "links": {"values": ["sale"]}},
    "parameters": {
        "path.source_id": {"dictionary": "sources", "probability": 0.5},
        "path.link_id": {"dictionary": "links", "probability": 0.5},
    },
}


def skewed_timestamp(context, failure, case, response) -> bool:
    """filter_failure: keep every failure but a tracking message refused for its timestamp, corrected by the
    clock skew `sentAt` shows, falling outside the years 1-9999: a rule between two fields that the document
    states in words only (JSON Schema cannot), which random timestamps break often."""
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 400:
        return True
    try:
        answer = response.json()
    except ValueError:
        return True
    return not (answer["error"] == "invalid_timestamp" and "between the years 1 and 9999" in answer["message"])


def problems(url: str) -> list[str]:
    """Every problem of a run against the server at `url`: a failed check (with the answer and the curl
    command that shows it) or an error."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", config=schemathesis.Config.from_dict(SETTINGS))
    schema.hook("filter_failure")(skewed_timestamp)
    found = []
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            for case_id, checks in event.recorder.checks.items():
                interaction = event.recorder.interactions.get(case_id)
                answer = interaction.response if interaction else None
                for check in checks:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        found.append(f"{event.recorder.label} {check.name}: {failure.title}\n{failure.message}\n"
                                     f"answer: {answer and answer.status_code} {answer and answer.content[:300]!r}\n"
                                     f"{check.failure_info.code_sample[:1500]}")
        elif isinstance(event, events.NonFatalError):
            found.append(f"{event.label}: error {event.value!r}")
        elif isinstance(event, events.FatalError):
            found.append(f"fatal error {event.exception!r}")
    return found


def test_every_operation_answers_as_its_document_says(tmp_path):
    with InProcessServer(write_config(tmp_path, SOURCES)) as srv:
        found = problems(srv.url)
        assert srv.sql("SELECT count(*) FROM events")[0][0] > 0  # authorised requests got through
    assert not found, f"{len(found)} problems:\n\n" + "\n\n".join(dict.fromkeys(found))


def test_every_405_says_which_methods_the_route_takes(tmp_path):
    with InProcessServer(write_config(tmp_path, SOURCES)) as srv, httpx.Client(base_url=srv.url) as http:
        expected = {"/collect/page-view/website": {"GET", "HEAD", "POST"}, "/webhooks/billing": {"POST"},
                    "/r/news/sale": {"GET", "HEAD"}, "/pixel/open/news": {"GET", "HEAD"},
                    **{f"/v1/{name}": {"POST", "OPTIONS"} for name in CALLS}}
        for path, methods in expected.items():
            for method in ("PUT", "DELETE", "PATCH"):
                r = http.request(method, path)
                assert r.status_code == 405 and r.json()["error"] == "method_not_allowed", (method, path)
                assert {m.strip() for m in r.headers["Allow"].split(",")} == methods, (method, path)
        r = http.put("/healthz")  # a FastAPI route: the same handler answers
        assert r.status_code == 405 and r.headers["Allow"] == "GET" and r.json()["error"] == "method_not_allowed"
