"""End to end: `bridge: rest` sources declared against a small JSON API on loopback (tests/rest_api.py), through the
real `inlet sync`: every paginator, incremental reads, soft and list deletions, the dry run, and a rate limit kept
with no 429."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from tests.conftest import inlet, write_config
from tests.rest_api import RestAPI, stamp
from tests.stores import events, store

TOKEN = "secret-token-4242"
KINDS = ("contact", "next", "link", "offset", "page", "stripe", "search")


def resources() -> dict:
    return {
        "contacts": {"path": "/cursor", "params": {"limit": 10}, "records": "results", "updated_at": "updated_at",
                     "paginator": {"type": "cursor", "cursor": "paging.next.after", "param": "after"},
                     "incremental": {"param": "updated_since", "field": "updated_at", "overlap": "1m"},
                     "deleted": {"field": "archived", "equals": True}},
        "nexts": {"path": "/next_url", "records": "items", "paginator": {"type": "next_url", "url": "links.next"}},
        "links": {"path": "/link", "params": {"per_page": 10}, "paginator": {"type": "link_header"}},
        "offsets": {"path": "/offset", "records": "data",
                    "paginator": {"type": "offset", "limit": 10, "total": "meta.total"}},
        "pages": {"path": "/pages", "records": "data",
                  "paginator": {"type": "page_number", "start": 0, "size": 10, "size_param": "size"}},
        "stripes": {"path": "/stripe", "params": {"limit": 10}, "records": "data",
                    "paginator": {"type": "starting_after"}},
        "searches": {"path": "/search", "method": "POST", "records": "results",
                     "json": {"filter": {"updated_since": "{{ cursor }}"}, "limit": 10},
                     "paginator": {"type": "cursor", "cursor": "next", "param": "after"},
                     "incremental": {"field": "updated_at", "start": "1970-01-01T00:00:00Z"}},
    }


def source(api: RestAPI, **extra) -> dict:
    return {"id": "api", "name": "Our API", "channel": "crm", "bridge": "rest", "base_url": api.url,
            "auth": {"type": "bearer", "token": TOKEN}, "rate_limit": {"requests": 200, "per": "1s"},
            "resources": resources(), **extra}


def sync(config: Path, *args: str):
    result = inlet("sync", "api", *args, config=config, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def live(config: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for kind, key in store(config, "SELECT object_type, external_id FROM records WHERE NOT deleted"):
        out.setdefault(kind, set()).add(key)
    return out


@pytest.fixture
def api():
    with RestAPI(items=25, auth=("bearer", TOKEN)) as server:
        yield server


def test_every_paginator_reads_the_whole_list_changes_are_picked_up_and_deletions_found(tmp_path, api):
    config = write_config(tmp_path, [source(api)])
    sync(config)
    assert live(config) == {kind: {str(i) for i in range(1, 26)} for kind in KINDS}
    stored = dict(store(config, "SELECT external_id, data::VARCHAR FROM records WHERE object_type = 'contact'"))
    assert orjson.loads(stored["7"]) == api.items["7"]
    assert events(config) == {f"{kind}.created": 25 for kind in KINDS}
    assert store(config, "SELECT min(updated_at) FROM records WHERE object_type = 'contact'")[0][0].isoformat() \
        .startswith("2024-05-01T00:01:00")

    sync(config)  # nothing changed: nothing written (the incremental ones asked only for the newest)
    assert events(config) == {f"{kind}.created": 25 for kind in KINDS}
    asked = [q for _, path, q in api.requests if path == "/cursor"][-1]
    assert asked["updated_since"] == stamp(25 - 1)  # the newest value seen, less the 1m overlap

    api.touch("3", 100, name="renamed")
    api.touch("26", 101, name="new")
    api.touch("4", 102, archived=True)
    del api.items["5"]
    sync(config)
    counts = events(config)
    for kind in ("next", "link", "offset", "page", "stripe"):  # complete reads: the deletion is seen
        assert (counts[f"{kind}.updated"], counts[f"{kind}.created"], counts[f"{kind}.deleted"]) == (2, 26, 1), kind
    # incremental: the changes since the newest value (the archived flag is a deletion); what went is not seen yet
    assert (counts["contact.updated"], counts["contact.created"], counts["contact.deleted"]) == (1, 26, 1)
    assert (counts["search.updated"], counts["search.created"], counts["search.deleted"]) == (2, 26, 0)
    assert "5" in live(config)["contact"] and "4" not in live(config)["contact"]

    sync(config, "--full-refresh")  # a complete read: what the list no longer returns is deleted
    assert "5" not in live(config)["contact"] and "5" not in live(config)["search"]
    assert events(config)["contact.deleted"] == 2


def test_dry_run_prints_the_first_page_and_stores_nothing(tmp_path, api):
    config = write_config(tmp_path, [source(api)])
    result = inlet("sync", "api", "--object", "contacts", "--limit-pages", "1", "--dry-run", config=config)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("# api contacts (records.object_type contact): 10 records in 1 page, more pages follow")
    first = orjson.loads(lines[1])
    assert first == {"external_id": "1", "deleted": False, "updated_at": "2024-05-01T00:01:00+00:00",
                     "data": api.items["1"]}
    assert len(lines) == 11
    assert not (tmp_path / "inlet.duckdb").exists()
    assert 1 <= len(api.requests) <= 2  # the page (and perhaps the one read ahead)
    refused = inlet("sync", "api", "--limit-pages", "1", config=config)
    assert refused.returncode == 1 and "--limit-pages goes with --dry-run" in refused.stderr


def test_a_rate_limit_is_kept_with_no_429(tmp_path):
    # the API allows 10 requests in any second and answers 429 past that; the source declares the same limit
    with RestAPI(items=300, window=(10, 1.0)) as api:
        src = {"id": "api", "name": "Our API", "channel": "crm", "bridge": "rest", "base_url": api.url,
               "rate_limit": {"requests": 10, "per": "1s"},
               "resources": {"contacts": {"path": "/cursor", "params": {"limit": 10}, "records": "results",
                                          "paginator": {"type": "cursor", "cursor": "paging.next.after",
                                                        "param": "after"}}}}
        config = write_config(tmp_path, [src])
        result = sync(config)
        assert api.rejected_429 == 0
        assert "0 answered 429" in result.stdout
        times = [t for t, path, _ in api.requests if path == "/cursor"]
        assert len(times) == 30
        assert times[-1] - times[0] >= 1.9  # 30 requests at 10 in any second: two whole windows at least
        assert live(config)["contact"] == {str(i) for i in range(1, 301)}


def test_a_next_url_on_another_host_is_refused_and_nothing_is_sent_there(tmp_path, api):
    src = source(api, resources={"evils": {"path": "/evil", "records": "items",
                                           "paginator": {"type": "next_url", "url": "links.next"}}})
    config = write_config(tmp_path, [src])
    result = inlet("sync", "api", config=config, timeout=60)
    assert result.returncode == 1
    assert "points at http://127.0.0.2, another origin than http://127.0.0.1" in result.stdout + result.stderr
    assert TOKEN not in result.stdout + result.stderr
    assert store(config, "SELECT count(*) FROM records")[0][0] == 0  # the page before the refusal is not kept


@pytest.mark.parametrize(("shape", "says"), [
    ("not_a_list", "no list of records at ('results',)"),
    ("no_key", "record 1 of the page (at 'results') has no usable primary key at 'id' (missing)"),
    ("strings", "record 0 of the page (at 'results') is a string, not an object"),
])
def test_hostile_answers_fail_the_run_with_a_clear_error(tmp_path, api, shape, says):
    src = source(api, resources={"things": {"path": "/broken", "params": {"shape": shape}, "records": "results"}})
    config = write_config(tmp_path, [src])
    started = time.monotonic()
    result = inlet("sync", "api", config=config, timeout=60)
    out = result.stdout + result.stderr
    assert result.returncode == 1
    assert "source 'api', object 'things'" in out and says in out, out
    assert "Traceback" not in out
    assert time.monotonic() - started < 30  # fatal at once, not retried


def test_a_mapping_builds_profiles_from_declared_records(tmp_path, api):
    (tmp_path / "contacts.yaml").write_text(
        "objects:\n  contact:\n    identities: [{kind: email, path: email}]\n"
        "    fields: [{path: name, attribute: name}]\n")
    src = source(api, mapping="contacts.yaml", resources={"contacts": resources()["contacts"]})
    config = write_config(tmp_path, [src])
    sync(config)
    assert store(config, "SELECT count(*) FROM profiles")[0][0] == 25
    assert store(config, """SELECT value::VARCHAR FROM profile_attributes a JOIN identities i USING (profile_id)
                            WHERE i.identity = 'user7@example.com' AND a.name = 'name'""") == [('"item 7"',)]
    api.touch("7", 200, name="Seven")
    sync(config)
    assert store(config, """SELECT value::VARCHAR FROM profile_attributes a JOIN identities i USING (profile_id)
                            WHERE i.identity = 'user7@example.com' AND a.name = 'name'""") == [('"Seven"',)]
