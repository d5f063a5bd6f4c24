"""Config loading: interpolation, and problems that name the file, line, key path and what is wrong."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from engine.config import ConfigError, load_config, public_settings
from tests.conftest import inlet

GOOD = """\
store: {path: data/inlet.duckdb, snapshot: {path: snaps/latest.duckdb, every: 15m}}
server: {host: 127.0.0.1, port: 8787}
sources:
  - {id: website, name: Website, channel: web, bridge: webhook}
  - id: app
    name: Mobile app
    description: events from the iOS and Android apps
    channel: mobile
    bridge: webhook
    secret: "${APP_SECRET}"
  - {id: call-center, name: Calls, channel: call-center, bridge: webhook, enabled: false,
     secret: "${CALLS_SECRET:-fallback}"}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inlet.yaml"
    path.write_text(text)
    return path


def problems(path: Path, env=None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, environ=env or {})
    return [str(p) for p in info.value.problems]


def test_a_good_file_loads_with_interpolated_secrets_and_paths_relative_to_it(tmp_path):
    config = load_config(write(tmp_path, GOOD), environ={"APP_SECRET": "abc"})
    app = config.source("app")
    assert app.secret.get_secret_value() == "abc"
    assert "abc" not in repr(app) and "abc" not in str(config)
    assert config.source("call-center").secret.get_secret_value() == "fallback"
    assert config.source("call-center").enabled is False
    assert config.store.path == tmp_path / "data/inlet.duckdb"
    assert config.store.snapshot.path == tmp_path / "snaps/latest.duckdb"
    assert config.store.snapshot.every == timedelta(minutes=15)
    assert config.server.max_body_bytes == 64 * 1024
    assert "secret" not in public_settings(app)


def test_default_applies_when_variable_is_empty_and_dollar_dollar_escapes(tmp_path):
    text = GOOD.replace('"${APP_SECRET}"', '"$${literal}-${APP_SECRET:-x}"')
    config = load_config(write(tmp_path, text), environ={"APP_SECRET": ""})
    assert config.source("app").secret.get_secret_value() == "${literal}-x"


def test_missing_environment_variable_is_named_with_its_key_path_and_line(tmp_path):
    assert problems(write(tmp_path, GOOD)) == [
        f"{tmp_path}/inlet.yaml:10:5: sources[1].secret: environment variable APP_SECRET is not set "
        "(write ${APP_SECRET:-default} to give a default)"
    ]


def test_duplicate_ids_unknown_bridge_bad_values_are_all_reported_at_once(tmp_path):
    text = """\
sources:
  - {id: web, name: Web, channel: web, bridge: webhook}
  - {id: web, name: Web 2, channel: web, bridge: webhook}
  - {id: crm, name: CRM, channel: crm, bridge: salesforce}
  - {id: x, name: X, channel: web, bridge: webhook, enabled: maybe, colour: blue}
store: {snapshot: {path: s.duckdb, every: often}}
"""
    got = problems(write(tmp_path, text))
    f = f"{tmp_path}/inlet.yaml"
    assert f"{f}:3:6: sources[1].id: duplicate source id 'web' (first used by sources[0])" in got
    assert (f"{f}:4:40: sources[2].bridge: unknown bridge 'salesforce'; valid bridges: webhook, redirect, stripe, "
            "hubspot, shopify, rest, tracking") in got
    assert any(p.startswith(f"{f}:5:53: sources[3].enabled: ") and "boolean" in p for p in got)
    assert f"{f}:5:69: sources[3].colour: unknown key 'colour'" in got
    assert f"{f}:6:36: store.snapshot.every: 'often' is not a duration: write a positive whole number and a unit, " \
        "like 30s, 15m, 2h or 1d" in got
    assert len(got) == 5


def test_missing_required_keys_point_at_the_source(tmp_path):
    got = problems(write(tmp_path, "sources:\n  - id: web\n    bridge: webhook\n"))
    f = f"{tmp_path}/inlet.yaml"
    assert got == [f"{f}:2:5: sources[0].name: is required", f"{f}:2:5: sources[0].channel: is required"]


def test_bad_yaml_names_line_and_column(tmp_path):
    got = problems(write(tmp_path, "sources:\n  - {id: web, name: [unclosed\n"))
    assert len(got) == 1 and got[0].startswith(f"{tmp_path}/inlet.yaml:3:1: invalid YAML")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("- a\n- b\n", "the top level must be a mapping"),
        ("sources: {id: x}\n", "sources: Input should be a valid list"),
        ("sources:\n  - {id: 'has space', name: X, channel: web, bridge: webhook}\n", "is not a valid id"),
        ("server: {port: 70000}\n", "server.port: Input should be less than or equal to 65535"),
    ],
)
def test_other_mistakes_are_clear(tmp_path, text, message):
    assert any(message in p for p in problems(write(tmp_path, text)))


def test_cli_validate_prints_a_summary_or_every_problem_without_a_traceback(tmp_path):
    good = write(tmp_path, GOOD)
    ok = inlet("validate", config=good, env={"APP_SECRET": "abc"})
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == (f"{good}: ok, 3 sources (3 webhook), store {tmp_path}/data/inlet.duckdb, "
                                 "server 127.0.0.1:8787")

    bad = inlet("validate", config=good)  # APP_SECRET unset
    assert bad.returncode == 1
    assert "sources[1].secret: environment variable APP_SECRET is not set" in bad.stderr
    assert "Traceback" not in bad.stderr and bad.stdout == ""

    missing = inlet("validate", config=tmp_path / "nope.yaml")
    assert missing.returncode == 1 and "no such file" in missing.stderr


def test_every_command_reports_config_problems_the_same_way(tmp_path):
    path = write(tmp_path, "sources:\n  - {id: a, name: A, channel: web, bridge: nope}\n")
    for args in (["serve"], ["sql", "SELECT 1"], ["status"], ["snapshot", str(tmp_path / "s.duckdb")]):
        result = inlet(*args, config=path)
        assert result.returncode == 1, args
        assert "sources[0].bridge: unknown bridge 'nope'; valid bridges: webhook, redirect" in result.stderr, args
        assert "Traceback" not in result.stderr


def test_config_comes_from_inlet_config_env_then_cwd(tmp_path):
    path = write(tmp_path, "sources: []\n")
    result = inlet("validate", env={"INLET_CONFIG": str(path)})
    assert result.returncode == 0 and str(path) in result.stdout


def test_redirect_sources_list_their_links_and_their_mistakes_are_named(tmp_path):
    good = write(tmp_path, """\
sources:
  - id: newsletter
    name: Newsletter
    channel: email
    bridge: redirect
    links:
      spring-sale: {url: "https://shop.example.com/sale?ref=mail", event_type: email-click,
                    properties: {campaign: spring, wave: 2}}
      home: {url: "http://example.com"}
""")
    links = load_config(good, environ={}).source("newsletter").links
    assert links["spring-sale"].properties == {"campaign": "spring", "wave": 2}
    assert links["home"].event_type == "link-click" and links["home"].url == "http://example.com"

    bad = write(tmp_path, """\
sources:
  - id: newsletter
    name: Newsletter
    channel: email
    bridge: redirect
    secret: nope
    links:
      a: {url: "javascript:alert(1)"}
      b: {url: "//evil.test/x"}
      c: {url: "https://ok.test", event_type: "bad type"}
  - {id: other, name: O, channel: web}
""")
    got = problems(bad)
    f = f"{tmp_path}/inlet.yaml"
    assert f"{f}:6:5: sources[0].secret: unknown key 'secret'" in got
    assert f"{f}:8:11: sources[0].links.a.url: 'javascript:alert(1)' is not an absolute http(s) URL" in got
    assert f"{f}:9:11: sources[0].links.b.url: '//evil.test/x' is not an absolute http(s) URL" in got
    assert any(p.startswith(f"{f}:10:35: sources[0].links.c.event_type:") for p in got)
    assert f"{f}:11:5: sources[1].bridge: is required; valid bridges: webhook, redirect, stripe, hubspot, " \
           "shopify, rest, tracking" in got


def test_hubspot_and_shopify_sources_load_and_their_mistakes_are_named(tmp_path):
    good = write(tmp_path, """
sources:
  - {id: crm, name: CRM, channel: crm, bridge: hubspot, token: "${HS}", requests_per_10s: 190}
  - {id: shop, name: Shop, channel: web, bridge: shopify, shop: acme.myshopify.com, access_token: shpat_x,
     objects: [orders]}
""")
    config = load_config(good, environ={"HS": "pat-na1-secret"})
    crm, shop = config.sources
    assert crm.token.get_secret_value() == "pat-na1-secret" and crm.object_names == ["contacts", "companies",
                                                                                      "deals", "owners"]
    assert (crm.requests_per_10s, crm.search_per_second) == (190, 5)
    assert shop.api_version == "2026-10" and shop.object_names == ["orders"]
    assert "token" not in public_settings(crm) and "access_token" not in public_settings(shop)
    bad = write(tmp_path, """
sources:
  - {id: crm, name: CRM, channel: crm, bridge: hubspot, objects: [tickets]}
  - {id: shop, name: Shop, channel: web, bridge: shopify, shop: acme.com, access_token: x, api_version: "2026-02"}
""")
    got = problems(bad)
    f = bad
    assert f"{f}:3:5: sources[0].token: is required" in got
    assert (f"{f}:3:57: sources[0].objects: unknown object 'tickets'; this bridge syncs contacts, companies, deals, "
            "owners") in got
    assert f"{f}:4:59: sources[1].shop: 'acme.com' is not a shop's domain like acme.myshopify.com" in got
    assert (f"{f}:4:92: sources[1].api_version: '2026-02' is not a Shopify API version: YYYY-01, -04, -07 or -10 "
            "(or unstable)") in got
