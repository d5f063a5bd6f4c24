"""A small JSON API on a real loopback port, for the `rest` bridge's end-to-end tests: the same items listed in each
paging style a declared source can follow, behind the auth kind a test picks, with an OAuth token endpoint and a
rate-limit referee that answers 429 to a request over its window."""

from __future__ import annotations

import base64
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.conftest import free_port

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def stamp(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


class RestAPI:
    """`auth`: ("bearer", token) | ("basic", user, password) | ("header", name, value) | ("query", name, value) |
    ("oauth", client_id, secret) | None. `window`: (requests, seconds) the referee allows, None: no referee."""

    def __init__(self, items: int = 25, *, auth: tuple | None = None, window: tuple[int, float] | None = None,
                 expires_in: int = 3600) -> None:
        self.items = {str(i): {"id": str(i), "name": f"item {i}", "email": f"user{i}@example.com",
                               "updated_at": stamp(i), "archived": False} for i in range(1, items + 1)}
        self.auth, self.window, self.expires_in = auth, window, expires_in
        self.tokens: set[str] = set()
        self.tokens_issued = 0
        self.requests: list[tuple[float, str, dict]] = []  # (time, path, query) of each API request
        self.rejected_429 = 0
        self._sent: deque[float] = deque()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        routes = [Route("/token", self.token, methods=["POST"]), Route("/search", self.search, methods=["POST"]),
                  *[Route(f"/{name}", getattr(self, name)) for name in
                    ("cursor", "next_url", "link", "offset", "pages", "stripe", "evil", "broken")]]
        self.server = uvicorn.Server(uvicorn.Config(Starlette(routes=routes), host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off", access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> RestAPI:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(15)

    # -- changes ---------------------------------------------------------------------------------------------------
    def touch(self, key: str, minutes: int, **fields: Any) -> None:
        item = self.items.get(key, {"id": key, "archived": False})
        self.items[key] = {**item, **fields, "updated_at": stamp(minutes)}

    def revoke(self) -> None:
        """Every OAuth token issued so far is refused from now on (a 401)."""
        self.tokens.clear()

    # -- the gate every API request passes -------------------------------------------------------------------------
    def _gate(self, request: Request) -> Response | None:
        self.requests.append((time.monotonic(), request.url.path, dict(request.query_params)))
        if self.window is not None:
            limit, seconds = self.window
            now = time.monotonic()
            while self._sent and self._sent[0] <= now - seconds:
                self._sent.popleft()
            if len(self._sent) >= limit:
                self.rejected_429 += 1
                return JSONResponse({"message": "rate limited"}, 429, headers={"Retry-After": "1"})
            self._sent.append(now)
        if not self._authorized(request):
            return JSONResponse({"message": "bad credentials"}, 401)
        return None

    def _authorized(self, request: Request) -> bool:
        if self.auth is None:
            return True
        kind, *args = self.auth
        header = request.headers.get("authorization", "")
        if kind == "bearer":
            return header == f"Bearer {args[0]}"
        if kind == "basic":
            return header == "Basic " + base64.b64encode(f"{args[0]}:{args[1]}".encode()).decode()
        if kind == "header":
            return request.headers.get(args[0]) == args[1]
        if kind == "query":
            return request.query_params.get(args[0]) == args[1]
        return header.startswith("Bearer ") and header[7:] in self.tokens  # oauth

    def _listed(self, request: Request) -> list[dict]:
        since = request.query_params.get("updated_since")
        items = sorted(self.items.values(), key=lambda i: int(i["id"]))
        return [i for i in items if since is None or i["updated_at"] >= since]

    # -- endpoints -------------------------------------------------------------------------------------------------
    async def token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        _, client_id, secret = self.auth or (None, None, None)
        basic = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        if form.get("grant_type") != "client_credentials" or request.headers.get("authorization") != basic:
            return JSONResponse({"error": "invalid_client", "error_description": "unknown client"}, 401)
        self.tokens_issued += 1
        token = f"tok-{self.tokens_issued}-{time.monotonic_ns()}"
        self.tokens.add(token)
        return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in})

    async def cursor(self, request: Request) -> Response:
        """HubSpot style: {results, paging.next.after}."""
        if (refused := self._gate(request)) is not None:
            return refused
        items, limit = self._listed(request), int(request.query_params.get("limit", 10))
        start = int(request.query_params.get("after", 0))
        page = items[start:start + limit]
        body: dict[str, Any] = {"results": page}
        if start + limit < len(items):
            body["paging"] = {"next": {"after": str(start + limit)}}
        return JSONResponse(body)

    async def next_url(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        items, start = self._listed(request), int(request.query_params.get("start", 0))
        nxt = f"{self.url}/next_url?start={start + 7}" if start + 7 < len(items) else None
        return JSONResponse({"items": items[start:start + 7], "links": {"next": nxt}})

    async def link(self, request: Request) -> Response:
        """GitHub style: a bare list, `Link: <...?page=2&per_page=10>; rel="next", <...>; rel="last"`."""
        if (refused := self._gate(request)) is not None:
            return refused
        items, page = self._listed(request), int(request.query_params.get("page", 1))
        per = int(request.query_params.get("per_page", 10))
        last = max(1, -(-len(items) // per))
        links = []
        if page < last:
            links.append(f'<{self.url}/link?per_page={per}&page={page + 1}>; rel="next"')
        links.append(f'<{self.url}/link?per_page={per}&page={last}>; rel="last"')
        return JSONResponse(items[(page - 1) * per:page * per], headers={"Link": ", ".join(links)})

    async def offset(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        items = self._listed(request)
        limit, offset = int(request.query_params["limit"]), int(request.query_params["offset"])
        return JSONResponse({"data": items[offset:offset + limit], "meta": {"total": len(items)}})

    async def pages(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        items, page = self._listed(request), int(request.query_params.get("page", 0))
        size = int(request.query_params.get("size", 10))
        return JSONResponse({"data": items[page * size:(page + 1) * size]})

    async def stripe(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        items, limit = self._listed(request), int(request.query_params.get("limit", 10))
        after = request.query_params.get("starting_after")
        start = 0 if after is None else next(i for i, item in enumerate(items) if item["id"] == after) + 1
        return JSONResponse({"object": "list", "data": items[start:start + limit],
                             "has_more": start + limit < len(items)})

    async def search(self, request: Request) -> Response:
        """A search API: POST {"filter": {"updated_since": ...}, "after": token, "limit": n}."""
        if (refused := self._gate(request)) is not None:
            return refused
        body = await request.json()
        since = body["filter"]["updated_since"]
        items = [i for i in sorted(self.items.values(), key=lambda i: int(i["id"])) if i["updated_at"] >= since]
        start, limit = int(body.get("after") or 0), int(body["limit"])
        nxt = str(start + limit) if start + limit < len(items) else None
        return JSONResponse({"results": items[start:start + limit], "next": nxt})

    async def evil(self, request: Request) -> Response:
        """A next-page URL on another host (which must not be followed)."""
        if (refused := self._gate(request)) is not None:
            return refused
        return JSONResponse({"items": list(self.items.values())[:3],
                             "links": {"next": f"http://127.0.0.2:{self.port}/evil?start=3"}})

    async def broken(self, request: Request) -> Response:
        """Hostile answers, picked by `?shape=`."""
        if (refused := self._gate(request)) is not None:
            return refused
        shape = request.query_params.get("shape")
        if shape == "not_a_list":
            return JSONResponse({"results": {"id": "1"}})
        if shape == "no_key":
            return JSONResponse({"results": [{"id": "1"}, {"name": "no id"}]})
        if shape == "not_json":
            return Response("<html>oops</html>", media_type="text/html")
        return JSONResponse({"results": ["just a string"]})
