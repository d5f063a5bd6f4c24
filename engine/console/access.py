"""Who may see the console, `/status`, `/docs` and `/metrics`: anyone when `server.admin_token` is not set (the
config allows that only on a loopback address), else whoever sends the token, as `Authorization: Bearer <token>`
or in the cookie the sign-in form sets. The collect, tracking, webhook and link routes never ask for it.

The cookie holds an HMAC of the token, not the token, and lives as long as the token does. Every comparison is
constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from engine.server.refusals import error_response

COOKIE = "inlet_admin"
SIGN_IN = "/signin"
# What the token guards: the console's pages, the machine-readable status, the API docs and the metrics.
GUARDED_PREFIXES = ("/sources", "/profiles", "/status", "/docs", "/redoc", "/openapi.json", "/metrics")


def guarded(path: str) -> bool:
    return path == "/" or any(path == p or path.startswith(p + "/") for p in GUARDED_PREFIXES)


def cookie_value(token: SecretStr) -> str:
    return hmac.new(token.get_secret_value().encode(), b"inlet console session", hashlib.sha256).hexdigest()


def token_matches(given: str, token: SecretStr) -> bool:
    return hmac.compare_digest(given.encode(), token.get_secret_value().encode())


def allowed(request: Request, token: SecretStr | None) -> bool:
    """Whether the request may see guarded pages: no token configured, or the token as Bearer or cookie."""
    if token is None:
        return True
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token_matches(given.strip(), token):
        return True
    cookie = request.cookies.get(COOKIE, "")
    return hmac.compare_digest(cookie.encode(), cookie_value(token).encode())


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this server only (never `//host` or a scheme)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class AdminGuard:
    """ASGI middleware asking guarded paths for the admin token. A browser (it asks for HTML) is sent to the
    sign-in form; anything else gets a JSON 401 with `WWW-Authenticate: Bearer`."""

    def __init__(self, app: ASGIApp, token: SecretStr) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not guarded(scope["path"]):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if allowed(request, self.token):
            await self.app(scope, receive, send)
            return
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            target = scope["path"] + (f"?{scope['query_string'].decode('latin-1')}" if scope["query_string"] else "")
            response = RedirectResponse(f"{SIGN_IN}?next={quote(target, safe='')}", status_code=303)
        else:
            response = error_response(401, "admin_token_required", "this page needs the server's admin token: "
                                      "'Authorization: Bearer <token>', or sign in at /signin",
                                      {"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)

