"""A `rest` source's mistakes are config problems naming the file, line and key path; a good one loads with its
declared objects, which its mapping file, schedules and `objects:` are checked against."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from engine.config import ConfigError, load_config, public_settings
from engine.scheduler.plan import planned_jobs
from engine.sync.service import object_types

GOOD = """\
store: {path: inlet.duckdb}
sources:
  - id: people
    name: Our CRM
    channel: crm
    bridge: rest
    base_url: https://api.example.com
    auth: {type: oauth2_client_credentials, token_url: "https://auth.example.com/token", client_id: inlet,
           client_secret: "${CRM_SECRET}", scope: contacts.read}
    rate_limit: {requests: 100, per: 10s}
    headers: {Accept: application/json}
    schedule: {every: 15m, objects: {companies: {every: 1h}}}
    mapping: people.yaml
    resources:
      contacts:
        path: /v3/contacts
        params: {limit: 100}
        records: results
        updated_at: updatedAt
        paginator: {type: cursor, cursor: paging.next.after, param: after}
        incremental: {param: updated_since, field: updatedAt, overlap: 1m}
        deleted: {field: archived, equals: true}
      companies:
        object_type: organisation
        path: /v3/companies
        paginator: {type: link_header}
"""

MAPPING = """\
objects:
  contact:
    identities: [{kind: email, path: email}]
    fields: [{path: name, attribute: name}]
  organisation:
    fields: [{path: name, attribute: company}]
"""


def write(tmp_path: Path, text: str, mapping: str = MAPPING) -> Path:
    (tmp_path / "people.yaml").write_text(mapping)
    path = tmp_path / "inlet.yaml"
    path.write_text(text)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={"CRM_SECRET": "s3cret-value"})
    return [str(p) for p in info.value.problems]


def test_a_declared_source_loads_with_its_objects_and_keeps_its_secrets(tmp_path):
    config = load_config(write(tmp_path, GOOD), environ={"CRM_SECRET": "s3cret-value"})
    source = config.source("people")
    assert source.object_names == ["contacts", "companies"]
    assert source.object_types() == {"contacts": "contact", "companies": "organisation"}
    assert source.rate_limit.requests == 100 and source.rate_limit.per == timedelta(seconds=10)
    assert source.resources["contacts"].incremental.overlap == timedelta(minutes=1)
    assert set(config.mappings["people"].objects) == {"contact", "organisation"}
    assert "s3cret-value" not in str(public_settings(source))
    jobs = planned_jobs(config)  # the scheduler plans a declared source's objects as any source's
    assert {j.objects: j.describe() for j in jobs.values()} == {("contacts",): "every 15m", ("companies",): "every 1h"}
    assert object_types(source, ["companies", "contacts"]) == ["organisation", "contact"]


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("paginator: {type: link_header}", "paginator: {type: links}",
     ":26:21: sources[0].resources.companies.paginator.type: unknown type 'links'; valid types: 'cursor', "
     "'next_url', 'link_header', 'offset', 'page_number', 'starting_after'"),
    ("paginator: {type: link_header}", "paginator: {type: cursor, cursor: next}",
     ":26:9: sources[0].resources.companies.paginator.param: is required"),
    ("        records: results\n", "        records: results\n        primary: id\n",
     ":19:9: sources[0].resources.contacts.primary: unknown key 'primary'"),
    ("path: /v3/companies", "path: https://evil.example.com/v3/companies",
     ":25:9: sources[0].resources.companies.path: 'https://evil.example.com/v3/companies' is not a path like "
     "/v1/contacts"),
    ("rate_limit: {requests: 100, per: 10s}", "rate_limit: {requests: 100, per: often}",
     ":10:33: sources[0].rate_limit.per: 'often' is not a duration"),
    ("rate_limit: {requests: 100, per: 10s}", "rate_limit: 10",
     ":10:5: sources[0].rate_limit: Input should be a valid dictionary"),
    ("headers: {Accept: application/json}", "headers: {Authorization: Bearer abc}",
     ":11:5: sources[0].headers: header 'Authorization': credentials go in `auth`"),
    ("auth: {type: oauth2_client_credentials", "auth: {type: oauth3",
     ":8:12: sources[0].auth.type: unknown type 'oauth3'; valid types: 'bearer', 'basic', 'api_key', "
     "'oauth2_client_credentials'"),
    ("      companies:\n        object_type: organisation", "      companies:\n        object_type: contact",
     ":14:5: sources[0].resources: companies: object type 'contact' is already that of contacts"),
    ("incremental: {param: updated_since,", "incremental: {",
     ":15:7: sources[0].resources.contacts: incremental: give `param`"),
    ("params: {limit: 100}", "params: {limit: 100, since: '{{ cursor }}'}\n        json: {a: 1}",
     ":15:7: sources[0].resources.contacts: `json` is the body of a POST: add `method: POST`"),
    ("params: {limit: 100}", "params: {limit: 100, q: '{{ page }}'}",
     ":15:7: sources[0].resources.contacts: unknown placeholder {{ page }}"),
    ("    schedule: {every: 15m, objects: {companies: {every: 1h}}}",
     "    schedule: {every: 15m, objects: {deals: {every: 1h}}}",
     ":3:5: sources[0]: schedule.objects: 'deals' is not one of this source's objects (contacts, companies)"),
    ("    headers:", "    objects: [deals]\n    headers:",
     ":3:5: sources[0]: objects: unknown resource 'deals'; this source declares contacts, companies"),
    ("    base_url: https://api.example.com\n", "",
     ":3:5: sources[0].base_url: is required"),
    ("    headers:", "    webhook_secret: whsec_abc\n    headers:",
     ":3:5: sources[0]: webhook_secret: the rest bridge receives no webhooks"),
    ("path: /v3/companies", "path: /v3/companies\n        method: POST",
     ":23:7: sources[0].resources.companies: paginator link_header: a POST's next page is asked for in its body"),
    ("records: results", "records: results..data",
     ":18:9: sources[0].resources.contacts.records: 'results..data' is not a dotted path to a key of the answer"),
])
def test_mistakes_name_the_line_and_the_key_path(tmp_path, old, new, expected):
    assert old in GOOD
    got = problems(write(tmp_path, GOOD.replace(old, new)))
    assert any(expected in p and p.startswith(str(tmp_path / "inlet.yaml")) for p in got), got


def test_the_mapping_is_checked_against_the_declared_object_types(tmp_path):
    got = problems(write(tmp_path, GOOD, MAPPING.replace("organisation:", "company:")))
    assert any("people.yaml:5:3: objects.company: unknown rest object type 'company'; valid: contact, organisation"
               in p for p in got), got
    default = problems(write(tmp_path, GOOD.replace("mapping: people.yaml", "mapping: default")))
    assert any("inlet ships no default mapping for the rest bridge" in p for p in default), default


def test_the_readme_examples_are_valid_declarations(tmp_path):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Any REST API", 1)[1].split("\n## ", 1)[0]
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", section, flags=re.S) if "bridge: rest" in b]
    assert len(blocks) == 2
    path = tmp_path / "inlet.yaml"
    path.write_text("store: {path: inlet.duckdb}\nsources:\n" + "".join(blocks))
    config = load_config(path, environ={"GITHUB_TOKEN": "ghp_x", "HUBSPOT_TOKEN": "pat-na1-x"})
    assert {s.id: s.object_types() for s in config.sources} == {"github": {"issues": "issue"},
                                                                "crm-search": {"contacts": "contact"}}
