"""Credentials as `httpx.Auth` objects, and `redact`, which keeps secrets out of every message.

Auth lives in the request flow (httpx calls `auth_flow` per request) rather than in default headers, so a
later OAuth refresh-on-401 has one home, and the secret is never part of the client's visible config. The
reprs show only the kind of credential: objects end up in logs and tracebacks more often than one expects.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Generator, Iterable

import httpx
from pydantic import SecretStr

__all__ = ["BasicCredentials", "BearerToken", "HeaderToken", "QueryToken", "redact"]

MASK = "[redacted]"
# Token shapes worth masking even when we do not hold them (a vendor echoing a key, a URL quoted in a body):
# Stripe keys (also Stripe's own `sk_test_****mFeM` masks), Shopify `shpat_`/`shpca_`/`shppa_`, HubSpot private
# app `pat-na1-…`, Bearer/Basic credentials, and token-like query parameters.
_PATTERNS = [  # group 1, when present, is kept: it is the label in front of the secret
    re.compile(r"()\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9*]+"),
    re.compile(r"()\bshp(?:at|ca|pa|ss)_[A-Fa-f0-9]+"),
    re.compile(r"()\bpat-[a-z]{2,4}\d?-[A-Za-z0-9-]{8,}"),
    re.compile(r"(?i)(\b(?:bearer|basic) )[^\s\"',;]{6,}"),
    re.compile(r"(?i)([?&](?:access_token|api_key|apikey|hapikey|token|key)=)[^&\s\"'#]+"),
]


def _reveal(secret: str | SecretStr) -> str:
    return secret.get_secret_value() if isinstance(secret, SecretStr) else secret


def redact(text: str, secrets: Iterable[str | SecretStr] = ()) -> str:
    """`text` with every given secret and every token-looking string replaced by a mask. Longer secrets go
    first so one secret that contains another is masked whole."""
    for pattern in _PATTERNS:  # whole token shapes first, so no fragment of a known token is left around a mask
        text = pattern.sub(lambda match: match.group(1) + MASK, text)
    for secret in sorted((_reveal(s) for s in secrets), key=len, reverse=True):
        if len(secret) >= 4:  # masking "a" everywhere would garble messages and protect nothing
            text = text.replace(secret, MASK)
    return text


class _TokenAuth(httpx.Auth):
    """A static token sent in one header. `secrets` lets the client redact it without reaching into fields."""

    def __init__(self, token: str | SecretStr) -> None:
        if not _reveal(token):
            raise ValueError(f"{type(self).__name__} needs a non-empty token")
        self._token = token if isinstance(token, SecretStr) else SecretStr(token)

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self._token.get_secret_value(),)

    def _header(self) -> tuple[str, str]:
        raise NotImplementedError

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        name, value = self._header()
        request.headers[name] = value
        yield request


class BearerToken(_TokenAuth):
    """`Authorization: Bearer <token>`: Stripe secret keys and HubSpot private-app/OAuth tokens."""

    def _header(self) -> tuple[str, str]:
        return "Authorization", f"Bearer {self._token.get_secret_value()}"

    def __repr__(self) -> str:
        return "BearerToken(token=SecretStr('**********'))"


class HeaderToken(_TokenAuth):
    """A token in a named header: Shopify's `X-Shopify-Access-Token`."""

    def __init__(self, name: str, token: str | SecretStr) -> None:
        super().__init__(token)
        self.name = name

    def _header(self) -> tuple[str, str]:
        return self.name, self._token.get_secret_value()

    def __repr__(self) -> str:
        return f"HeaderToken(name={self.name!r}, token=SecretStr('**********'))"


class QueryToken(_TokenAuth):
    """A token in a named query parameter (`?api_key=...`): APIs that take no header. The URL then holds the secret,
    which the client redacts from every error like any other."""

    def __init__(self, name: str, token: str | SecretStr) -> None:
        super().__init__(token)
        self.name = name

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.url = request.url.copy_merge_params({self.name: self._token.get_secret_value()})
        yield request

    def __repr__(self) -> str:
        return f"QueryToken(name={self.name!r}, token=SecretStr('**********'))"


class BasicCredentials(httpx.Auth):
    """HTTP Basic (RFC 7617): `Authorization: Basic base64(username:password)`. The password and the encoded pair
    are its secrets."""

    def __init__(self, username: str, password: str | SecretStr) -> None:
        if not username:
            raise ValueError("BasicCredentials needs a user name")
        self.username = username
        self._password = password if isinstance(password, SecretStr) else SecretStr(password)

    def _encoded(self) -> str:
        pair = f"{self.username}:{self._password.get_secret_value()}".encode()
        return base64.b64encode(pair).decode("ascii")

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self._password.get_secret_value(), self._encoded()) if s)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Basic {self._encoded()}"
        yield request

    def __repr__(self) -> str:
        return f"BasicCredentials(username={self.username!r}, password=SecretStr('**********'))"
