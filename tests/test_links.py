"""Redirect links and the open pixel, over real HTTP, with a real target server for the clicks."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image

from tests.conftest import InProcessServer, write_config


class _Target(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def target():
    """Stateless (it echoes the path it was asked for), so one serves the module: stopping one waits out its
    0.5 s poll."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def links_server(tmp_path, target):
    sources = [
        {"id": "website", "name": "Website", "channel": "web", "bridge": "webhook"},
        {"id": "newsletter", "name": "Newsletter", "channel": "email", "bridge": "redirect", "links": {
            "spring-sale": {"url": f"{target}/sale?ref=mail&utm_source=default", "event_type": "email-click",
                            "properties": {"campaign": "spring", "utm_medium": "fixed"}},
            "home": {"url": f"{target}/"},
        }},
        {"id": "old-news", "name": "Old", "channel": "email", "bridge": "redirect", "enabled": False,
         "links": {"home": {"url": f"{target}/old"}}},
    ]
    with InProcessServer(write_config(tmp_path, sources)) as srv:
        yield srv


def events(server) -> list[dict]:
    rows = server.sql("SELECT source_id, event_type, session_id, profile_id::VARCHAR, properties FROM events "
                      "ORDER BY event_id")
    return [{"source_id": r[0], "event_type": r[1], "session_id": r[2], "profile_id": r[3],
             "properties": json.loads(r[4])} for r in rows]


def rejections(server) -> list[tuple]:
    return server.sql("SELECT source_id, status, reason FROM rejections ORDER BY received_at")


def test_a_click_lands_the_event_and_follows_to_the_target_with_the_parameters(links_server, target):
    with httpx.Client(base_url=links_server.url, follow_redirects=True) as client:
        r = client.get("/r/newsletter/spring-sale", params={"utm_source": "april-mail", "utm_campaign": "spring"})
    assert r.status_code == 200 and r.url.host == "127.0.0.1" and str(r.url).startswith(target)
    assert r.history[0].status_code == 302
    landed = parse_qs(urlsplit(r.json()["path"]).query)
    assert urlsplit(r.json()["path"]).path == "/sale"
    assert landed == {"ref": ["mail"], "utm_source": ["april-mail"], "utm_campaign": ["spring"]}
    [event] = events(links_server)
    assert event["source_id"] == "newsletter" and event["event_type"] == "email-click"
    assert event["properties"] == {"utm_source": "april-mail", "utm_campaign": "spring", "campaign": "spring",
                                   "utm_medium": "fixed", "link_id": "spring-sale"}
    assert event["session_id"] and event["profile_id"]


def test_the_session_cookie_ties_clicks_on_different_links_to_one_profile(links_server):
    with httpx.Client(base_url=links_server.url) as client:
        first = client.get("/r/newsletter/spring-sale")
        assert first.status_code == 302 and "no-store" in first.headers["cache-control"]
        cookie = first.cookies["inlet_session"]
        set_cookie = first.headers["set-cookie"]
        assert set_cookie == f"inlet_session={cookie}; Max-Age=31536000; Path=/; HttpOnly; SameSite=Lax"
        client.get("/r/newsletter/home")
        client.get("/r/newsletter/home/sess-from-mail")  # a session in the path wins, and becomes the cookie
        client.get("/r/newsletter/spring-sale")
    clicks = events(links_server)
    assert [c["session_id"] for c in clicks] == [cookie, cookie, "sess-from-mail", "sess-from-mail"]
    assert clicks[0]["profile_id"] == clicks[1]["profile_id"] != clicks[2]["profile_id"] == clicks[3]["profile_id"]


@pytest.mark.parametrize(
    "path",
    [
        "/r/newsletter/spring-sale?url=https://evil.test/",
        "/r/newsletter/spring-sale?next=%2F%2Fevil.test",
        "/r/newsletter/spring-sale/..%2F..%2Fevil.test",
        "/r/newsletter//evil.test",
        "/r/newsletter/%2F%2Fevil.test",
        "/r/newsletter/https:%2F%2Fevil.test",
        "/r/newsletter/%68ttps%3A%2F%2Fevil.test",
        "/r//evil.test",
        "/r/%2F%2Fevil.test/x",
        "/r/https://evil.test",
        "/r/newsletter/evil.test",
        "/r/website/spring-sale",
        "/r/nosuch/spring-sale",
        "/r/newsletter",
        "/r/",
    ],
)
def test_nothing_in_the_request_redirects_anywhere_but_a_configured_url(links_server, target, path):
    r = httpx.get(links_server.url + path, follow_redirects=False)
    location = r.headers.get("location")
    if location is None:
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/plain")
        assert "Link not found" in r.text
        assert rejections(links_server)[-1][1:] == (404, "unknown_link")
    else:
        assert r.status_code == 302
        parts = urlsplit(location)
        assert f"{parts.scheme}://{parts.netloc}" == target and parts.path == "/sale"
        assert "evil" not in parts.netloc


def test_a_disabled_source_still_redirects_but_records_no_event(links_server, target):
    r = httpx.get(f"{links_server.url}/r/old-news/home", follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == f"{target}/old"
    assert events(links_server) == []
    assert rejections(links_server) == [("old-news", 403, "source_disabled")]


@pytest.mark.parametrize("path", ["/pixel/email-open/newsletter", "/pixel/email-open/newsletter.gif",
                                  "/pixel/email-open/newsletter/sess-9", "/pixel/email-open/newsletter/sess-9.gif"])
def test_the_pixel_answers_a_transparent_gif_and_records_the_open(links_server, path):
    r = httpx.get(f"{links_server.url}{path}", params={"mail_id": "m-1", "n": "2"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/gif"
    assert "no-store" in r.headers["cache-control"] and r.headers["pragma"] == "no-cache"
    image = Image.open(io.BytesIO(r.content))
    assert image.format == "GIF" and image.size == (1, 1)
    assert image.convert("RGBA").getpixel((0, 0))[3] == 0  # transparent
    [event] = events(links_server)
    assert event["event_type"] == "email-open" and event["properties"] == {"mail_id": "m-1", "n": "2"}
    assert event["session_id"] == ("sess-9" if "sess-9" in path else None)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/pixel/open/nosuch.gif", "unknown_source"),
        ("/pixel/open/website.gif", "unknown_source"),  # a webhook source takes no pixels
        ("/pixel/open/old-news.gif", "source_disabled"),
        ("/pixel/bad%20type/newsletter.gif", "invalid_event_type"),
        ("/pixel/open/newsletter/bad%20session.gif", "invalid_session_id"),
    ],
)
def test_a_refused_pixel_still_answers_the_gif_but_stores_only_a_rejection(links_server, path, reason):
    r = httpx.get(f"{links_server.url}{path}")
    assert r.status_code == 200 and r.headers["content-type"] == "image/gif"
    assert Image.open(io.BytesIO(r.content)).size == (1, 1)
    assert events(links_server) == []
    assert rejections(links_server)[-1][2] == reason


def test_collect_refuses_a_redirect_source(links_server):
    r = httpx.post(f"{links_server.url}/collect/x/newsletter", json={})
    assert r.status_code == 401 and r.json()["error"] == "not_a_push_source"


def test_the_routes_are_in_the_openapi_description(links_server):
    paths = httpx.get(f"{links_server.url}/openapi.json").json()["paths"]
    assert {"/r/{source_id}/{link_id}", "/r/{source_id}/{link_id}/{session_id}", "/pixel/{event_type}/{source_id}",
            "/pixel/{event_type}/{source_id}/{session_id}"} <= set(paths)
