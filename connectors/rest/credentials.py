"""A source's declared `auth` as the kit's `httpx.Auth` (each knows its secrets, so errors never quote them)."""

from __future__ import annotations

import httpx

from connectors.kit.auth import BasicCredentials, BearerToken, HeaderToken, QueryToken
from connectors.kit.oauth import ClientCredentials
from connectors.rest.settings import ApiKeyAuth, Auth, BasicAuth, BearerAuth, OAuth2ClientCredentialsAuth


def auth_for(config: Auth | None) -> httpx.Auth | None:
    match config:
        case None:
            return None
        case BearerAuth():
            return BearerToken(config.token)
        case BasicAuth():
            return BasicCredentials(config.username, config.password)
        case ApiKeyAuth(where="query"):
            return QueryToken(config.name, config.value)
        case ApiKeyAuth():
            return HeaderToken(config.name, config.value)
        case OAuth2ClientCredentialsAuth():
            return ClientCredentials(config.token_url, config.client_id, config.client_secret, scope=config.scope,
                                     client_auth=config.client_auth)
    raise TypeError(f"no auth for {type(config).__name__}")
