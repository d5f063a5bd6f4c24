"""`inlet demo`, as a newcomer runs it."""

from tests.conftest import inlet


def test_demo_starts_a_server_sends_events_and_shows_what_landed(tmp_path):
    result = inlet("demo", "--dir", str(tmp_path / "demo"), timeout=120)
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
    # the Stripe sandbox: a first sync reads everything, the second only the four changes made through its API
    totals = [line for line in lines if line[:1] == ["total"]]
    assert totals[0][1:4] == ["ok", "609", "609"]
    assert totals[1][1:6] == ["ok", "4", "1", "2", "1"]
    assert ["billing", "customer", "200", "1"] in lines
    assert ["billing", "customer.updated", "2", "0"] in lines
    again = inlet("sql", "SELECT source_id = 'billing', count(*) FROM events GROUP BY 1 ORDER BY 1", "--format", "csv",
                  config=tmp_path / "demo" / "inlet.yaml")
    assert again.stdout.splitlines()[1:] == ["false,28", "true,613"]
