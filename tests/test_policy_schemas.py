"""Per-source event schemas (issue 24): JSON Schema per event type of a push source, in enforce and warn mode, on
the collect webhooks, the tracking API and redirect links; problems in schemas are config problems."""

from __future__ import annotations

import json

import pytest

from engine.config import Config, ConfigError, load_config
from engine.policy.policies import Policies
from engine.policy.rollup import RefusalRollup
from engine.policy.schemas import MAX_VIOLATIONS, SourceSchemas, compile_schema, pointer
from engine.status import status_rows
from tests.conftest import InProcessServer, inlet, write_config
from tests.metrics_scrape import scrape
from tests.tracking_api import basic

SIGNUP = {"type": "object", "required": ["email"],
          "properties": {"email": {"type": "string", "format": "email"}, "seats": {"type": "integer", "minimum": 1}}}
PURCHASE = {"type": "object", "required": ["total"],
            "properties": {"total": {"type": "number", "minimum": 0}, "currency": {"$ref": "#/$defs/currency"}},
            "$defs": {"currency": {"enum": ["EUR", "USD"]}}}
ORDER = {"type": "object", "required": ["total"], "properties": {"total": {"type": "number"}}}
TRAITS = {"type": "object", "properties": {"email": {"type": "string", "format": "email"}}}
WRITE_KEY = "wk-schemas-0123456789"
SOURCES = [
    {"id": "website", "name": "Website", "channel": "web", "bridge": "webhook",
     "schemas": {"mode": "enforce", "allow_unknown": True,
                 "events": {"signup": SIGNUP, "purchase": "schemas/purchase.json"}}},
    {"id": "strict", "name": "Strict", "channel": "web", "bridge": "webhook",
     "schemas": {"mode": "enforce", "allow_unknown": False, "events": {"signup": SIGNUP}}},
    {"id": "lenient", "name": "Lenient", "channel": "web", "bridge": "webhook",
     "schemas": {"mode": "warn", "allow_unknown": False, "events": {"signup": SIGNUP}}},
    {"id": "plain", "name": "No schemas", "channel": "web", "bridge": "webhook"},
    {"id": "app", "name": "App", "channel": "mobile", "bridge": "tracking", "write_key": WRITE_KEY,
     "schemas": {"events": {"Order Completed": ORDER, "identify": TRAITS}}},
    {"id": "mail", "name": "Newsletter", "channel": "email", "bridge": "redirect",
     "links": {"sale": {"url": "https://shop.example.test/sale", "event_type": "email-click"}},
     "schemas": {"events": {"email-click": {"type": "object", "required": ["campaign"]},
                            "email-open": {"type": "object", "required": ["mail"]}}}},
]


@pytest.fixture
def config_path(tmp_path):
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "purchase.json").write_text(json.dumps(PURCHASE, indent=2))
    return write_config(tmp_path, sources=SOURCES)


@pytest.fixture
def server(config_path):
    with InProcessServer(config_path) as srv:
        yield srv


def events(server, source_id: str) -> list[tuple]:
    rows = server.sql("SELECT event_type, properties, context FROM events WHERE source_id = ? ORDER BY event_id",
                      [source_id])
    return [(t, json.loads(p), json.loads(c)) for t, p, c in rows]


def rejections(server, source_id: str) -> list[tuple]:
    rows = server.sql("SELECT status, reason, excerpt, context, count FROM rejections WHERE source_id = ? "
                      "ORDER BY received_at", [source_id])
    return [(status, reason, excerpt, json.loads(context), count) for status, reason, excerpt, context, count in rows]


def status_row(server, source_id: str) -> dict:
    """The source's `inlet status` row, read as GET /status reads it (once the store holds everything)."""
    server.sql("SELECT 1")
    return {r["source_id"]: r for r in status_rows(server.state.config, server.state.query)}[source_id]


# -- enforce ----------------------------------------------------------------------------------------------------

def test_enforce_stores_what_matches_and_refuses_what_does_not_with_the_first_violations(server, http):
    ok = http.post("/collect/signup/website", json={"email": "ada@example.com", "seats": 3})
    assert ok.status_code == 200, ok.text
    bad = http.post("/collect/signup/website", json={"email": "not-an-address", "seats": 0})
    assert bad.status_code == 400
    answer = bad.json()
    assert answer["error"] == "schema_violation" and answer["status"] == 400
    assert answer["violations"] == [{"pointer": "/email", "message": '"not-an-address" is not a "email"'},
                                    {"pointer": "/seats", "message": "0 is less than the minimum of 1"}]
    assert "/email" in answer["message"] and "(and 1 more)" in answer["message"]
    missing = http.post("/collect/signup/website", json={"seats": 2}).json()
    assert missing["violations"] == [{"pointer": "", "message": '"email" is a required property'}]

    assert [(t, p) for t, p, _ in events(server, "website")] == [("signup", {"email": "ada@example.com", "seats": 3})]
    rows = rejections(server, "website")
    assert [(status, reason, count) for status, reason, _, _, count in rows] == [(400, "schema_violation", 1)] * 2
    assert json.loads(rows[0][2]) == {"email": "not-an-address", "seats": 0}  # the excerpt: the body
    assert rows[0][3]["violations"] == answer["violations"]


def test_the_properties_checked_are_url_parameters_and_body_merged(server, http):
    # the query's seats is a string: the stored properties are what is checked, not the body alone
    r = http.post("/collect/signup/website?seats=2", json={"email": "ada@example.com"})
    assert r.status_code == 400 and r.json()["violations"] == [{"pointer": "/seats",
                                                                "message": '"2" is not of type "integer"'}]
    r = http.post("/collect/signup/website?seats=2", json={"email": "ada@example.com", "seats": 2})
    assert r.status_code == 200  # the body wins on a clash, so its integer is what is stored and checked
    assert http.get("/collect/signup/website", params={"email": "ada@example.com"}).status_code == 200


def test_a_schema_file_relative_to_the_config_is_applied_with_its_references(server, http):
    assert http.post("/collect/purchase/website", json={"total": 9.5, "currency": "EUR"}).status_code == 200
    r = http.post("/collect/purchase/website", json={"total": 9.5, "currency": "GBP"})
    assert r.status_code == 400
    assert r.json()["violations"] == [{"pointer": "/currency", "message": '"GBP" is not one of "EUR" or "USD"'}]


def test_unknown_event_types_follow_allow_unknown(server, http):
    assert http.post("/collect/page-view/website", json={"anything": 1}).status_code == 200  # allow_unknown: true
    r = http.post("/collect/page-view/strict", json={"anything": 1})  # allow_unknown: false
    assert r.status_code == 400 and r.json()["error"] == "unknown_event_type"
    assert "page-view" in r.json()["message"]
    assert http.post("/collect/signup/strict", json={"email": "a@b.example"}).status_code == 200
    assert [t for t, _, _ in events(server, "strict")] == ["signup"]
    assert [(s, reason) for s, reason, *_ in rejections(server, "strict")] == [(400, "unknown_event_type")]
    # a source without schemas takes anything
    assert http.post("/collect/signup/plain", json={"email": 5}).status_code == 200


def test_more_violations_than_shown_are_cut_to_the_first_ones():
    schema = {"type": "object", "additionalProperties": {"type": "integer"}}
    validator = compile_schema(schema, lambda path, message: pytest.fail(message))
    schemas = SourceSchemas("enforce", True, {"many": validator})
    verdict = schemas.check("many", {f"k{i}": "x" * 1000 for i in range(MAX_VIOLATIONS + 5)})
    assert verdict.refuse and len(verdict.violations) == MAX_VIOLATIONS
    assert verdict.message.endswith("(and more)")
    assert all(len(v["message"]) <= 300 for v in verdict.violations)
    assert pointer(["a/b", "c~d", 3]) == "/a~1b/c~0d/3"
    assert schemas.check("many", {"a": 1}) is None


# -- warn -------------------------------------------------------------------------------------------------------

def test_warn_stores_the_event_with_its_violations_in_context_and_counts_them(server, http):
    ok = http.post("/collect/signup/lenient", json={"email": "ada@example.com"})
    bad = http.post("/collect/signup/lenient", json={"email": "nope"})
    unknown = http.post("/collect/page-view/lenient", json={})
    assert [r.status_code for r in (ok, bad, unknown)] == [200, 200, 200]
    stored = {e[0] + ("!" if "schema_violations" in e[2] else ""): e for e in events(server, "lenient")}
    assert set(stored) == {"signup", "signup!", "page-view!"}
    assert stored["signup!"][1] == {"email": "nope"}
    assert stored["signup!"][2]["schema_violations"] == [{"pointer": "/email", "message": '"nope" is not a "email"'}]
    assert stored["page-view!"][2]["schema_violations"][0]["pointer"] == ""
    assert "ip" in stored["signup!"][2] and "headers" in stored["signup!"][2]  # the usual context is all there
    assert rejections(server, "lenient") == []
    row = status_row(server, "lenient")
    assert (row["events"], row["schema_violations"], row["rejections"]) == (3, 2, 0)
    assert server.state.policy.counts["lenient", "warned"] == 2
    # enforce-mode refusals count too, from rejections
    http.post("/collect/signup/website", json={"email": "x"})
    assert status_row(server, "website")["schema_violations"] == 1
    assert status_row(server, "plain")["schema_violations"] == 0
    found = scrape(server.url)  # and in /metrics
    assert found.value("inlet_schema_violations_total", source_id="lenient", outcome="warned") == 2
    assert found.value("inlet_schema_violations_total", source_id="website", outcome="refused") == 1


# -- tracking ---------------------------------------------------------------------------------------------------

def test_tracking_checks_a_tracks_properties_and_an_identifys_traits(server, http):
    auth = basic(WRITE_KEY)
    ok = http.post("/v1/track", json={"anonymousId": "a1", "event": "Order Completed", "properties": {"total": 5}},
                   headers=auth)
    assert ok.status_code == 200, ok.text
    bad = http.post("/v1/track", json={"anonymousId": "a1", "event": "Order Completed",
                                       "properties": {"total": "5"}}, headers=auth)
    assert bad.status_code == 400
    assert bad.json()["error"] == "schema_violation"
    assert bad.json()["violations"] == [{"pointer": "/total", "message": '"5" is not of type "number"'}]
    traits = http.post("/v1/identify", json={"userId": "u1", "traits": {"email": "nope"}}, headers=auth)
    assert traits.status_code == 400 and traits.json()["violations"][0]["pointer"] == "/email"
    assert http.post("/v1/identify", json={"userId": "u1", "traits": {"email": "u1@example.com"}},
                     headers=auth).status_code == 200
    assert http.post("/v1/page", json={"anonymousId": "a1", "name": "Home"}, headers=auth).status_code == 200
    assert [t for t, _, _ in events(server, "app")] == ["Order Completed", "identify", "page"]


def test_in_a_tracking_batch_only_the_violating_message_is_refused(server, http):
    batch = {"batch": [
        {"type": "track", "anonymousId": "a1", "event": "Order Completed", "properties": {"total": 1}},
        {"type": "track", "anonymousId": "a1", "event": "Order Completed", "properties": {"total": "one"}},
        {"type": "identify", "userId": "u2", "traits": {"email": "bad"}},
        {"type": "track", "anonymousId": "a1", "event": "Signed Up", "properties": {}},
    ]}
    r = http.post("/v1/batch", json=batch, headers=basic(WRITE_KEY))
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["success"] is True
    assert [(x["index"], x["error"]) for x in answer["rejected"]] == [(1, "schema_violation"), (2, "schema_violation")]
    assert answer["rejected"][0]["message"].startswith("batch[1]: ")
    assert answer["rejected"][0]["violations"] == [{"pointer": "/total", "message": '"one" is not of type "number"'}]
    assert [(t, p) for t, p, _ in events(server, "app")] == [("Order Completed", {"total": 1}), ("Signed Up", {})]
    rows = rejections(server, "app")
    assert [(s, reason) for s, reason, *_ in rows] == [(400, "schema_violation")] * 2
    assert json.loads(rows[0][2])["properties"] == {"total": "one"}  # the excerpt: the message refused


# -- redirect links and the pixel -------------------------------------------------------------------------------

def test_a_click_that_breaks_its_schema_still_redirects_but_stores_only_a_rejection(server, http):
    r = http.get("/r/mail/sale", params={"campaign": "spring"})
    assert r.status_code == 302 and r.headers["location"].startswith("https://shop.example.test/sale")
    r = http.get("/r/mail/sale")  # no campaign: enforce mode refuses the event, never the person's click
    assert r.status_code == 302 and r.headers["location"] == "https://shop.example.test/sale"
    pixel = http.get("/pixel/email-open/mail/m-1.gif")  # no `mail` parameter
    assert pixel.status_code == 200 and pixel.headers["content-type"] == "image/gif"
    assert [t for t, _, _ in events(server, "mail")] == ["email-click"]
    assert [(s, reason) for s, reason, *_ in rejections(server, "mail")] == [(400, "schema_violation")] * 2


# -- config problems --------------------------------------------------------------------------------------------

def _config(tmp_path, events: dict, **schemas) -> str:
    lines = ["sources:", "  - id: website", "    name: Website", "    channel: web", "    bridge: webhook",
             "    schemas:"]
    lines += [f"      {k}: {v}" for k, v in schemas.items()]
    lines.append("      events:")
    lines += [f"        {name}: {json.dumps(schema)}" for name, schema in events.items()]
    path = tmp_path / "inlet.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _problems(path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    return [str(p) for p in info.value.problems]


def test_a_broken_inline_schema_is_a_config_error_with_file_line_and_key_path(tmp_path):
    path = _config(tmp_path, {"signup": {"type": "object", "properties": {"email": {"type": "strin"}}},
                              "ok": {"type": "object"}})
    assert _problems(path) == [
        f"{path}:8:61: sources[0].schemas.events.signup.properties.email.type: not a valid schema: 'strin' is not "
        "one of ['array', 'boolean', 'integer', 'null', 'number', 'object', 'string']"]


def test_a_schema_file_with_a_mistake_is_named_with_its_own_line_and_key_path(tmp_path):
    (tmp_path / "schemas").mkdir()
    schema = tmp_path / "schemas" / "purchase.json"
    schema.write_text('{\n  "type": "object",\n  "properties": {\n    "total": {"type": "number", "minimum": "0"}\n'
                      '  }\n}\n')
    path = _config(tmp_path, {"purchase": "schemas/purchase.json"})
    assert _problems(path) == [f"{schema}:4:33: properties.total.minimum: not a valid schema: '0' is not of type "
                               "'number'"]
    # inlet validate says the same, naming the schema file and the key path in it
    result = inlet("validate", config=path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{schema}:4:33: properties.total.minimum: not a valid schema" in result.stderr


def test_schema_files_that_are_missing_or_not_json_and_references_that_lead_nowhere(tmp_path):
    (tmp_path / "broken.json").write_text('{"type": "object",\n "required": ["a"],,}\n')
    (tmp_path / "tabs.json").write_text('{\n\t"type": "object",\n\t"minProperties": 1e0\n}\n')  # valid JSON
    (tmp_path / "yaml.yaml").write_text("type: object\nproperties:\n  a: {$ref: '#/$defs/nothing'}\n")
    path = _config(tmp_path, {"gone": "missing.json", "broken": "broken.json", "tabs": "tabs.json",
                              "yaml": "yaml.yaml", "remote": {"$ref": "https://schemas.example.test/x.json"}})
    found = _problems(path)
    assert f"{path}:8:9: sources[0].schemas.events.gone: no schema file '{tmp_path}/missing.json' (a JSON or YAML " \
           "file; a path relative to the config file)" in found
    assert any(p.startswith(f"{tmp_path}/broken.json:2:20: invalid JSON") for p in found)
    assert f"{tmp_path}/yaml.yaml:3:7: properties.a.$ref: the reference '#/$defs/nothing' points to nothing; $ref " \
           "may point inside the schema only (#/$defs/..., an $anchor)" in found
    assert any("sources[0].schemas.events.remote.$ref: the reference 'https://schemas.example.test/x.json' points "
               "outside the schema: inlet fetches nothing" in p for p in found)
    assert not any("tabs.json" in p for p in found)
    assert len(found) == 4


@pytest.mark.parametrize(("events", "schemas", "message"), [
    ({"x": 5}, {}, "sources[0].schemas.events: x: give a schema (a mapping, or true or false) or the name of a "
                   "schema file, not 5"),
    ({"x": {"type": "object"}}, {"mode": "strict"}, "sources[0].schemas.mode: Input should be 'enforce' or 'warn'"),
    ({"x": {"$schema": "https://example.test/my-draft", "type": "object"}}, {},
     "sources[0].schemas.events.x.$schema: 'https://example.test/my-draft' is not a JSON Schema draft inlet knows"),
])
def test_other_schema_settings_mistakes_are_clear(tmp_path, events, schemas, message):
    assert any(message in p for p in _problems(_config(tmp_path, events, **schemas)))


def test_boolean_schemas_and_another_declared_draft_are_taken(tmp_path):
    path = _config(tmp_path, {"anything": True, "nothing": False,
                              "old": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                                      "required": ["a"]}}, mode="warn")
    schemas = load_config(path, environ={}).event_schemas["website"]
    assert schemas.check("anything", {"a": 1}) is None
    assert schemas.check("nothing", {}).violations[0]["pointer"] == ""
    verdict = schemas.check("old", {})
    assert not verdict.refuse and verdict.violations == [{"pointer": "", "message": '"a" is a required property'}]


def test_a_config_made_in_code_gets_its_inline_schemas_compiled_and_files_refused():
    source = {"id": "website", "name": "Website", "channel": "web", "bridge": "webhook",
              "schemas": {"mode": "warn", "events": {"signup": SIGNUP}}}
    policies = Policies(Config.model_validate({"sources": [source]}), RefusalRollup(None, None))
    verdict = policies.of("website").schemas.check("signup", {"email": 5})
    assert not verdict.refuse and verdict.violations[0]["pointer"] == "/email"
    source["schemas"]["events"]["purchase"] = "schemas/purchase.json"
    with pytest.raises(ConfigError, match="files are read by load_config"):
        Policies(Config.model_validate({"sources": [source]}), RefusalRollup(None, None))
