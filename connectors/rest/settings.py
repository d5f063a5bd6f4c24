"""The settings of a `bridge: rest` source: any JSON API, its resources declared in YAML. Every model forbids
unknown keys; mistakes are config errors naming the key path (`inlet validate`)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, ClassVar, Literal, Union
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from connectors.kit.settings import CloudAppSettings
from connectors.rest.templates import PLACEHOLDER, placeholders

NAME = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"  # a resource: `objects:`, `--object`, schedules
OBJECT_TYPE = r"^[a-z][a-z0-9_]{0,63}$"  # records.object_type, and `<type>.created` event types
DOTTED = r"^[^.\s]+(\.[^.\s]+)*$"  # a.b.c
Dotted = Annotated[str, Field(pattern=DOTTED)]
ParamName = Annotated[str, Field(min_length=1, max_length=200)]
Scalar = str | int | float | bool
HeaderName = Annotated[str, Field(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")]
_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
REFUSED_HEADERS = ("authorization", "cookie", "proxy-authorization", "host", "content-length")
DEFAULT_RATE = (10, 1.0)  # requests per seconds when `rate_limit` is not given


def duration(value: object, *, zero: bool = False) -> timedelta:
    """`500ms`, `10s`, `1m`, `2h`, `1d` or a number of seconds."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = int(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration: write a number and a unit, like 10s, 1m or 500ms")
    if seconds < 0 or (seconds == 0 and not zero):
        raise ValueError(f"{value!r}: the duration must be {'zero or more' if zero else 'positive'}")
    return timedelta(seconds=seconds)


def singular(name: str) -> str:
    """`contacts` -> `contact`, `companies` -> `company`, `addresses` -> `address`; lower case, `-` as `_`."""
    name = name.lower().replace("-", "_")
    if name.endswith("ies") and len(name) > 3:
        return name[:-3] + "y"
    if name.endswith(("sses", "xes", "ches", "shes", "zes")):
        return name[:-2]
    if name.endswith("s") and not name.endswith(("ss", "us", "is")):
        return name[:-1]
    return name


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# -- auth -----------------------------------------------------------------------------------------------------------
class BearerAuth(_Model):
    type: Literal["bearer"]
    token: SecretStr


class BasicAuth(_Model):
    type: Literal["basic"]
    username: Annotated[str, Field(min_length=1)]
    password: SecretStr


class ApiKeyAuth(_Model):
    type: Literal["api_key"]
    name: ParamName  # the header or query parameter
    value: SecretStr
    where: Literal["header", "query"] = Field("header", alias="in")


class OAuth2ClientCredentialsAuth(_Model):
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


class RateLimit(_Model):
    """At most `requests` in any `per` window (proactive; 429s are still retried honouring Retry-After)."""

    requests: Annotated[int, Field(ge=1, le=100_000)]
    per: timedelta = timedelta(seconds=1)

    @field_validator("per", mode="before")
    @classmethod
    def _per(cls, value: object) -> timedelta:
        return duration(value)


# -- paginators -----------------------------------------------------------------------------------------------------
class CursorPaging(_Model):
    """A token at the dotted path `cursor`, sent back in `param` (a query parameter; a body field for POST)."""

    type: Literal["cursor"]
    cursor: Dotted
    param: ParamName


class NextUrlPaging(_Model):
    """A full next-page URL at the dotted path `url`."""

    type: Literal["next_url"]
    url: Dotted = "next"


class LinkHeaderPaging(_Model):
    """RFC 8288 `Link: <...>; rel="next"`."""

    type: Literal["link_header"]


class OffsetPaging(_Model):
    type: Literal["offset"]
    limit: Annotated[int, Field(ge=1, le=100_000)] = 100
    limit_param: ParamName = "limit"
    offset_param: ParamName = "offset"
    total: Dotted | None = None  # where the answer says how many there are


class PageNumberPaging(_Model):
    type: Literal["page_number"]
    page_param: ParamName = "page"
    start: Annotated[int, Field(ge=0)] = 1
    size: Annotated[int, Field(ge=1, le=100_000)] | None = None
    size_param: ParamName | None = None
    total_pages: Dotted | None = None


class StartingAfterPaging(_Model):
    """Stripe style: `param` = the last record's primary key while `has_more` is true."""

    type: Literal["starting_after"]
    param: ParamName = "starting_after"
    has_more: Dotted = "has_more"


PagingConfig = Annotated[Union[CursorPaging, NextUrlPaging, LinkHeaderPaging, OffsetPaging,  # noqa: UP007
                               PageNumberPaging, StartingAfterPaging], Field(discriminator="type")]


# -- resources ------------------------------------------------------------------------------------------------------
class Incremental(_Model):
    """Later syncs send the newest `field` value seen, less `overlap`, in `param` (or where `{{ cursor }}` stands);
    `start` is what `{{ cursor }}` means before any value was seen."""

    param: ParamName | None = None
    field: Dotted
    overlap: timedelta = timedelta(0)
    start: Scalar | None = None

    @field_validator("overlap", mode="before")
    @classmethod
    def _overlap(cls, value: object) -> timedelta:
        return duration(value, zero=True)


class Deleted(_Model):
    """A soft-delete flag: a record whose `field` equals `equals` is stored as deleted."""

    field: Dotted
    equals: Scalar | None = True


class Resource(_Model):
    object_type: Annotated[str, Field(pattern=OBJECT_TYPE)] | None = None
    path: str
    params: dict[ParamName, Scalar | list[Scalar]] = Field(default_factory=dict)
    method: Literal["GET", "POST"] = "GET"
    body: dict[str, Any] | None = Field(None, alias="json")
    records: Annotated[str, Field(pattern=r"^$|" + DOTTED)] = ""
    primary_key: Dotted = "id"
    updated_at: Dotted | None = None
    paginator: PagingConfig | None = None  # None: one request answers the whole list
    incremental: Incremental | None = None
    deleted: Deleted | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
            raise ValueError(f"{value!r} is not a path like /v1/contacts: the host is the source's base_url")
        if parts.query or parts.fragment:
            raise ValueError(f"{value!r}: put query parameters in `params`, not in the path")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Resource:
        if self.body is not None and self.method != "POST":
            raise ValueError("`json` is the body of a POST: add `method: POST`")
        used = placeholders(self.params) | placeholders(self.body)
        unknown = used - {PLACEHOLDER}
        if unknown:
            raise ValueError(f"unknown placeholder {{{{ {sorted(unknown)[0]} }}}}; the one placeholder is "
                             f"{{{{ {PLACEHOLDER} }}}} (the incremental position)")
        if used and self.incremental is None:
            raise ValueError(f"{{{{ {PLACEHOLDER} }}}} stands for the incremental position: add `incremental`")
        if self.incremental is not None and self.incremental.param is None and not used:
            raise ValueError(f"incremental: give `param` (where the position is sent) or put {{{{ {PLACEHOLDER} }}}} "
                             "in `params` or `json`")
        if self.incremental is not None and used and self.incremental.start is None:
            raise ValueError(f"incremental.start: required with {{{{ {PLACEHOLDER} }}}} (what it is before any "
                             "value was seen, e.g. 0 or \"1970-01-01T00:00:00Z\")")
        return self

    def type_for(self, name: str) -> str:
        return self.object_type or singular(name)


class RestSettings(CloudAppSettings):
    """Any REST API returning JSON: `base_url`, `auth`, `rate_limit` ({requests, per}), `headers`, and `resources`
    (object name -> how to list it). `objects` picks some of the resources."""

    OBJECTS: ClassVar[tuple[str, ...]] = ()
    bridge: Literal["rest"]
    base_url: str  # type: ignore[assignment]  # required here
    auth: Auth | None = None
    rate_limit: RateLimit | None = None  # type: ignore[assignment]  # {requests, per} instead of a rate
    headers: dict[HeaderName, str] = Field(default_factory=dict)
    resources: Annotated[dict[Annotated[str, Field(pattern=NAME)], Resource], Field(min_length=1)]

    @field_validator("objects")
    @classmethod
    def _known_objects(cls, value: list[str] | None) -> list[str] | None:  # checked against `resources` below
        if value is not None and not value:
            raise ValueError("list at least one resource, or leave `objects` out to sync all of them")
        return None if value is None else list(dict.fromkeys(value))

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if name.lower() in REFUSED_HEADERS:
                raise ValueError(f"header {name!r}: credentials go in `auth` (kept secret, redacted from errors); "
                                 "inlet sets the others itself")
            if "\n" in text or "\r" in text:
                raise ValueError(f"header {name!r}: a value cannot hold a line break")
        return value

    @model_validator(mode="after")
    def _resources(self) -> RestSettings:
        if self.webhook_secret is not None:
            raise ValueError("webhook_secret: the rest bridge receives no webhooks; it pulls on its schedule")
        unknown = [o for o in self.objects or () if o not in self.resources]
        if unknown:
            raise ValueError(f"objects: unknown resource {unknown[0]!r}; this source declares "
                             f"{', '.join(self.resources)}")
        return self

    @field_validator("resources")
    @classmethod
    def _object_types(cls, value: dict[str, Resource]) -> dict[str, Resource]:
        seen: dict[str, str] = {}
        for name, resource in value.items():
            kind = resource.type_for(name)
            if not re.match(OBJECT_TYPE, kind):
                raise ValueError(f"{name}: the object type {kind!r} made of its name is not one (lower case letters, "
                                 "digits and _): give `object_type`")
            if kind in seen:
                raise ValueError(f"{name}: object type {kind!r} is already that of {seen[kind]}; give each resource "
                                 "its own `object_type`")
            seen[kind] = name
        return value

    @property
    def object_names(self) -> list[str]:
        return list(self.objects or self.resources)

    def object_types(self) -> dict[str, str]:
        """Each resource's name -> its records.object_type."""
        return {name: resource.type_for(name) for name, resource in self.resources.items()}
