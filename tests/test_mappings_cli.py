"""The mapping commands and config checks through the real CLI: `inlet validate` names the mapping file's
problems; `inlet mappings preview` shows what mapping stored records would do and changes nothing, here and
through a running server; `inlet mappings apply` maps records stored before the mapping existed."""

from __future__ import annotations

import json

import yaml

from tests.conftest import inlet, write_config
from tests.sandbox_api import SandboxAPI
from tests.stores import store

FAST = {"requests_per_10s": 1000, "search_per_second": 100}


def test_validate_reports_mapping_problems_with_file_line_and_key_path(tmp_path):
    (tmp_path / "crm.yaml").write_text("objects:\n  contact:\n    identities: []\n    fields:\n"
                                       "      - {path: properties.email, attribute: Email, direction: sideways}\n")
    config = write_config(tmp_path, [
        {"id": "crm", "name": "CRM", "channel": "crm", "bridge": "hubspot", "token": "t", "mapping": "crm.yaml"},
        {"id": "shop", "name": "Shop", "channel": "web", "bridge": "shopify", "shop": "a.myshopify.com",
         "access_token": "t", "mapping": "missing.yaml"}])
    result = inlet("validate", config=config)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert any(line.startswith(f"{tmp_path / 'crm.yaml'}:5:") and "objects.contact.fields[0].attribute" in line
               for line in lines), result.stderr
    assert any(f"{tmp_path / 'crm.yaml'}:5:" in line and "direction" in line for line in lines), result.stderr
    assert any(line.startswith(str(config)) and "sources[1].mapping" in line and "missing.yaml" in line
               for line in lines), result.stderr


def test_preview_changes_nothing_and_apply_maps_what_was_stored_before(tmp_path, serve_process):
    with SandboxAPI(vendors=("hubspot",), customers=4, rate_limit=False) as api:
        config = write_config(tmp_path, [api.hubspot_source(objects=["contacts"], **FAST)])
        assert inlet("sync", "crm", config=config).returncode == 0  # no mapping yet: no profiles
        assert store(config, "SELECT count(*) FROM profiles") == [(0,)]

        data = yaml.safe_load(config.read_text())
        data["sources"][0]["mapping"] = "default"
        config.write_text(yaml.safe_dump(data))
        refused = inlet("mappings", "preview", "crm", "--object", "deals", config=config)
        assert refused.returncode == 1 and "does not sync 'deals'" in refused.stderr, refused.stderr
        result = inlet("mappings", "preview", "crm", "--object", "contacts", "--limit", "2", config=config)
        assert result.returncode == 0, result.stderr
        assert result.stdout.count("(new)") == 2 and "identities: email=" in result.stdout
        assert "lifecycle_stage=" in result.stdout and "(a preview: nothing was changed)" in result.stdout
        assert store(config, "SELECT count(*) FROM profiles") == [(0,)]
        assert store(config, "SELECT count(*) FROM identities") == [(0,)]

        previewed = json.loads(inlet("mappings", "preview", "crm", "--object", "contacts", "--format", "json",
                                     config=config, check=True).stdout)
        assert len(previewed) == 4 and all(item["profile_changes"] for item in previewed)

        server = serve_process(config)  # the same through a running server, which holds the store
        assert server is not None
        result = inlet("mappings", "apply", "crm", "--object", "contacts", config=config)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("mapped 4 contacts of crm:")
        counts = inlet("sql", "SELECT count(*) AS n FROM profiles", "--format", "json", config=config, check=True)
        assert json.loads(counts.stdout) == [{"n": 4}]
        again = inlet("mappings", "preview", "crm", "--object", "contacts", "--format", "json", config=config,
                      check=True)
        assert all(not item["new_profile"] and not item["profile_changes"] and not item["writebacks"]
                   for item in json.loads(again.stdout))

        unknown = inlet("mappings", "preview", "nobody", "--object", "contacts", config=config)
        assert unknown.returncode == 1 and "'nobody'" in unknown.stderr
