"""A `rest` source's `auth`: the kinds it may declare, and each as the kit's `httpx.Auth` (which knows its secrets,
so errors never quote them)."""

from __future__ import annotations

from typing import Annotated, Literal, Union
from urllib.parse import urlsplit

import httpx
from pydantic import Field, SecretStr, field_validator

from connectors.kit.auth import BasicCredentials, BearerToken, HeaderToken, QueryToken
from connectors.kit.oauth import ClientCredentials
from connectors.rest.fields import ParamName, StrictModel


class BearerAuth(StrictModel):
    type: Literal["bearer"]
    token: SecretStr


class BasicAuth(StrictModel):
    type: Literal["basic"]
    username: Annotated[str, Field(min_length=1)]
    password: SecretStr


class ApiKeyAuth(StrictModel):
    type: Literal["api_key"]
    name: ParamName  # the header or query parameter
    value: SecretStr
    where: Literal["header", "query"] = Field("header", alias="in")


class OAuth2ClientCredentialsAuth(StrictModel):
    type: Literal["oauth2_client_credentials"]
    token_url: str
    client_id: Annotated[str, Field(min_length=1)]
    client_secret: SecretStr
    scope: str | None = None
    client_auth: Literal["basic", "body"] = "basic"  # how the client id and secret reach the token endpoint

    @field_validator("token_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value


Auth = Annotated[Union[BearerAuth, BasicAuth, ApiKeyAuth, OAuth2ClientCredentialsAuth],  # noqa: UP007
                 Field(discriminator="type")]


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
