"""`server.admin_token`: required off loopback (a config error without it); once set, the console, `/status`, `/docs`
and `/metrics` ask for it (Bearer, or the sign-in form's HttpOnly cookie); collect, tracking, webhook and link routes
do not."""

from __future__ import annotations

import httpx
import pytest

from engine.config import ConfigError, load_config
from tests.browser import Browser
from tests.conftest import InProcessServer, write_config

TOKEN = "console-admin-token-0123456789"
GUARDED = ["/", "/sources/website", "/sources/website/events.json", "/profiles", "/profiles?q=x",
           "/status", "/docs", "/openapi.json", "/metrics"]
SOURCES = [{"id": "website", "name": "Website", "channel": "web", "bridge": "webhook"},
           {"id": "app", "name": "App", "channel": "mobile", "bridge": "tracking", "write_key": "wk_access_test"},
           {"id": "mail", "name": "Mail", "channel": "email", "bridge": "redirect",
            "links": {"sale": {"url": "https://example.com/sale"}}}]


def _problems(tmp_path, server: dict) -> list[str]:
    path = write_config(tmp_path, server=server)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [str(p) for p in caught.value.problems]


def test_a_server_off_loopback_needs_a_long_admin_token(tmp_path):
    for host in ("0.0.0.0", "192.168.1.20", "::", "inlet.internal"):
        problems = _problems(tmp_path, {"host": host})
        assert len(problems) == 1 and "admin_token: required when host is not a loopback address" in problems[0]
    assert "at least 16 characters" in _problems(tmp_path, {"host": "0.0.0.0", "admin_token": "short"})[0]
    for host in ("127.0.0.1", "127.0.0.5", "::1", "localhost"):
        assert load_config(write_config(tmp_path, server={"host": host})).server.admin_token is None
    config = load_config(write_config(tmp_path, server={"host": "0.0.0.0", "admin_token": TOKEN}))
    assert config.server.admin_token.get_secret_value() == TOKEN and TOKEN not in repr(config.server)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    directory = tmp_path_factory.mktemp("guarded")
    with InProcessServer(write_config(directory, sources=SOURCES, server={"admin_token": TOKEN})) as srv, \
            httpx.Client(base_url=srv.url, timeout=30, follow_redirects=False) as http:
        yield srv, http


def test_every_guarded_page_asks_for_the_token(guarded):
    _, http = guarded
    for path in GUARDED:
        answer = http.get(path)
        assert answer.status_code == 401, path
        assert answer.json()["error"] == "admin_token_required" and answer.headers["www-authenticate"] == "Bearer"
        wrong = http.get(path, headers={"Authorization": f"Bearer {TOKEN}x"})
        assert wrong.status_code == 401, path
        assert http.get(path, headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401, path
        assert http.get(path, headers={"Cookie": f"inlet_admin={TOKEN}"}).status_code == 401, path  # not the token
        assert http.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200, path
    assert http.get("/healthz").status_code == 200


def test_a_browser_is_sent_to_the_sign_in_form_and_its_cookie_lets_it_in(guarded):
    srv, http = guarded
    page = http.get("/profiles?q=ada", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"] == "/signin?next=%2Fprofiles%3Fq%3Dada"
    form = http.get("/signin?next=%2Fprofiles%3Fq%3Dada")
    assert form.status_code == 200 and 'type="password"' in form.text and 'value="/profiles?q=ada"' in form.text

    refused = http.post("/signin", data={"token": "guess-guess-guess", "next": "/profiles?q=ada"})
    assert refused.status_code == 401 and "not the admin token" in refused.text and "set-cookie" not in refused.headers

    signed = http.post("/signin", data={"token": TOKEN, "next": "/profiles?q=ada"})
    assert signed.status_code == 303 and signed.headers["location"] == "/profiles?q=ada"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie and TOKEN not in cookie
    value = signed.cookies["inlet_admin"]
    with httpx.Client(base_url=srv.url, cookies={"inlet_admin": value}, follow_redirects=False) as browser:
        for path in GUARDED:
            assert browser.get(path).status_code == 200, path
        assert "Sign out" in browser.get("/").text
        out = browser.post("/signout")
        assert out.status_code == 303 and 'inlet_admin=""' in out.headers["set-cookie"]

    # after signing in, only a path on this server: never another site
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        answer = http.post("/signin", data={"token": TOKEN, "next": target})
        assert answer.status_code == 303 and answer.headers["location"] == "/", target
    assert http.post("/signin", content=b"token=" + b"x" * 5000).status_code == 413
    assert http.post("/signin", content=b"&".join([b"a=1"] * 10)).status_code == 400


def test_collect_tracking_and_links_need_no_token(guarded):
    srv, http = guarded
    assert http.post("/collect/page-view/website/visitor-1", json={"path": "/"}).status_code == 200
    assert http.get("/collect/page-view/website").status_code == 200
    assert http.post("/v1/track", auth=("wk_access_test", ""), json={"userId": "u", "event": "E"}).status_code == 200
    assert http.get("/r/mail/sale").status_code == 302
    assert http.get("/pixel/email-open/mail/v.gif").status_code == 200
    assert http.post("/webhooks/website", content=b"{}").status_code == 401  # its own refusal, not the admin token's
    assert http.post("/webhooks/website", content=b"{}").json()["error"] != "admin_token_required"
    assert srv.sql("SELECT count(*) FROM events")[0][0] == 5


def test_without_a_token_on_loopback_everything_is_open(server, http):
    for path in GUARDED:
        assert http.get(path).status_code == 200, path
    assert http.get("/signin?next=/status", follow_redirects=False).headers["location"] == "/status"


def test_signing_in_with_a_real_browser(guarded, tmp_path):
    srv, _ = guarded
    with Browser(tmp_path) as browser:
        page = browser.open(f"{srv.url}/profiles?q=ada")
        try:
            assert page.url() == f"{srv.url}/signin?next=%2Fprofiles%3Fq%3Dada"
            page.eval("document.querySelector('input[name=token]').value = 'wrong-wrong-wrong-wrong'")
            page.eval("document.querySelector('form[action=\"/signin\"][method=post]').submit()")
            page.wait_for("!!document.getElementById('signin-error')")
            page.eval(f"document.querySelector('input[name=token]').value = {TOKEN!r}")
            page.eval("document.querySelector('form[action=\"/signin\"][method=post]').submit()")
            page.wait_for(f"location.href === {srv.url + '/profiles?q=ada'!r} && !!document.getElementById('results')")
            assert page.eval("document.cookie") == ""  # HttpOnly: no script can read it
            status = "fetch('/status').then(r => r.status)"
            assert page.eval(status) == 200  # the cookie goes with the page's own requests
            page.go(f"{srv.url}/")
            page.eval("document.querySelector('form[action=\"/signout\"]').submit()")
            page.wait_for("location.pathname === '/signin'")
            assert page.eval(status) == 401
        finally:
            page.close()
