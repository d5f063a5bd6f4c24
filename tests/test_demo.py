"""`inlet demo`, as a newcomer runs it."""

import pytest

from tests.conftest import inlet


@pytest.mark.xdist_group("demo")
def test_demo_starts_a_server_sends_events_and_shows_what_landed(demo):
    result, directory = demo
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    lines = [line.split() for line in out.splitlines()]
    assert "server up on http://127.0.0.1:" in out
    assert "24 events acknowledged with 200" in out
    assert "401 missing_secret, 401 source_disabled, 400 malformed_json" in out
    assert ("3 link clicks answered 302, 302, 302 to https://shop.example.com/sale?utm_source=april-mail; "
            "the pixel answered image/gif") in out
    assert ["newsletter", "email-click", "3", "1"] in lines and ["newsletter", "email-open", "1", "1"] in lines

    assert ["website", "page-view", "15", "5"] in lines
    assert ["app", "app-open", "3", "1"] in lines
    assert "server and sandbox stopped (server exit 0)" in out
    # the three sandboxes: a first sync reads everything, the second only the changes made through their APIs
    totals = [line for line in lines if line[:1] == ["total"]]
    assert [t[1:4] for t in totals[:3]] == [["ok", "609", "609"], ["ok", "360", "360"], ["ok", "640", "640"]]
    assert totals[3][1:6] == ["ok", "4", "1", "2", "1"]  # Stripe: from its events
    assert totals[4][3:6] == ["1", "2", "1"]  # HubSpot: 2 edited, 1 archived, 1 created (owners are re-read)
    assert totals[5][1:6] == ["ok", "2", "0", "2", "0"]  # Shopify: 2 customers edited
    assert ["billing", "customer", "200", "1"] in lines and ["crm", "contact", "200", "1"] in lines
    # the shipped mappings: every changed customer is a profile; products are nobody
    assert ["billing", "customer.updated", "2", "2"] in lines and ["shop", "customer.updated", "2", "2"] in lines
    assert ["billing", "product.created", "7", "0"] in lines and ["crm", "deal.created", "100", "0"] in lines
    assert "profiles (the shipped mappings: identities, attributes):" in out
    again = inlet("sql", "SELECT source_id, count(*) FROM events WHERE source_id IN ('billing', 'crm', 'shop') "
                  "GROUP BY 1 ORDER BY 1", "--format", "csv", config=directory / "inlet.yaml")
    assert again.stdout.splitlines()[1:] == ["billing,613", "crm,364", "shop,642"]
