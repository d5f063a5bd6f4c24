"""OAuth 2.0 client credentials (RFC 6749 section 4.4) as an `httpx.Auth`: the token is fetched before the first
request, fetched again shortly before it expires, and once more when an answer is 401 (a token revoked early).

The token request goes through the same httpx client (its transport, timeouts and proxies), from httpx's async auth
flow: the flow yields the token request, reads its answer, then yields the API request with the token. A refusal by
the token endpoint (400 `invalid_client`, 401) is `CredentialsRefused`; its 5xx or 429 a `TransientError`, retried by
the client's policy like any request. The client secret and every token handed out are `secrets`, redacted from
errors.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncGenerator, Callable, Generator
from urllib.parse import quote_plus

import httpx
from pydantic import SecretStr

from connectors.kit.errors import CredentialsRefused, FatalError, TransientError

__all__ = ["ClientCredentials"]

EARLY = 60.0  # seconds before expiry a token is replaced (a tenth of its life when that is shorter)
KEPT_TOKENS = 4  # recent tokens kept for redaction


class ClientCredentials(httpx.Auth):
    """`client_auth`: "basic" sends the client id and secret as HTTP Basic (RFC 6749 2.3.1, which every server must
    accept), "body" as form fields `client_id`/`client_secret`. `clock` is injectable for tests."""

    def __init__(self, token_url: str, client_id: str, client_secret: str | SecretStr, *, scope: str | None = None,
                 client_auth: str = "basic", clock: Callable[[], float] = time.monotonic) -> None:
        if client_auth not in ("basic", "body"):
            raise ValueError("client_auth is basic or body")
        self.token_url, self.client_id, self.scope, self.client_auth = token_url, client_id, scope, client_auth
        self._secret = client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret)
        self._clock = clock
        self._token: str | None = None
        self._renew_at: float | None = None  # clock time to fetch a new token; None: only after a 401
        self._generation = 0  # tokens fetched so far; a 401 to an older token's request needs no new fetch
        self._tokens: list[str] = []

    def __repr__(self) -> str:
        return f"ClientCredentials(token_url={self.token_url!r}, client_id={self.client_id!r}, client_secret=***)"

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self._secret.get_secret_value(), *self._tokens)

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("ClientCredentials fetches its token asynchronously: use it with httpx.AsyncClient")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._token is None or (self._renew_at is not None and self._clock() >= self._renew_at):
            await self._accept((yield self._token_request()))
        sent_with = self._generation
        response = yield self._authorized(request)
        if response.status_code != 401:
            return
        if sent_with == self._generation:  # nobody fetched a newer token meanwhile: this one was refused
            await self._accept((yield self._token_request()))
        yield self._authorized(request)  # once; a second 401 is the answer

    def _authorized(self, request: httpx.Request) -> httpx.Request:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def _token_request(self) -> httpx.Request:
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        headers = {"Accept": "application/json"}
        secret = self._secret.get_secret_value()
        if self.client_auth == "basic":
            pair = f"{quote_plus(self.client_id)}:{quote_plus(secret)}".encode()
            headers["Authorization"] = f"Basic {base64.b64encode(pair).decode('ascii')}"
        else:
            form.update(client_id=self.client_id, client_secret=secret)
        return httpx.Request("POST", self.token_url, data=form, headers=headers)

    async def _accept(self, response: httpx.Response) -> None:
        """Keep the token of the endpoint's answer, or raise why there is none."""
        await response.aread()
        status = response.status_code
        try:
            body = json.loads(response.content or b"null")
        except (ValueError, UnicodeDecodeError):
            body = None
        where = f"the token endpoint {self.token_url}"
        if status >= 500 or status == 429:
            raise TransientError("", "", status, f"{where} answered HTTP {status}")
        if status >= 400:
            said = ""
            if isinstance(body, dict) and isinstance(body.get("error"), str):
                said = body["error"] + (f": {body['error_description']}"
                                        if isinstance(body.get("error_description"), str) else "")
            raise CredentialsRefused("", "", status, f"{where} refused client_id {self.client_id!r} (HTTP {status}"
                                                     f"{', ' + said if said else ''}); check the source's auth")
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise FatalError("", "", status, f"{where} answered HTTP {status} without an access_token")
        kind = body.get("token_type", "bearer")
        if not isinstance(kind, str) or kind.lower() != "bearer":
            raise FatalError("", "", status, f"{where} gave a token of type {kind!r}; only bearer tokens are sent")
        lifetime = body.get("expires_in")
        if isinstance(lifetime, str) and lifetime.strip().isdigit():
            lifetime = int(lifetime)
        if isinstance(lifetime, (int, float)) and not isinstance(lifetime, bool) and lifetime > 0:
            self._renew_at = self._clock() + lifetime - min(EARLY, lifetime / 10)
        else:
            self._renew_at = None
        self._token = token
        self._generation += 1
        self._tokens = [*self._tokens[-(KEPT_TOKENS - 1):], token]
