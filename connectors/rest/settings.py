"""The settings of a `bridge: rest` source: any JSON API, its resources declared in YAML. Every model forbids
unknown keys; mistakes are config errors naming the key path (`inlet validate`)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from connectors.kit.settings import CloudAppSettings
from connectors.rest.credentials import Auth
from connectors.rest.fields import (
    NAME,
    OBJECT_TYPE,
    Dotted,
    DottedOrWhole,
    HeaderName,
    ParamName,
    Scalar,
    StrictModel,
    duration,
    singular,
)
from connectors.rest.paging import LinkHeaderPaging, NextUrlPaging, PagingConfig
from connectors.rest.templates import PLACEHOLDER, placeholders

REFUSED_HEADERS = ("authorization", "cookie", "proxy-authorization", "host", "content-length")
DEFAULT_RATE = (10, 1.0)  # requests per seconds when `rate_limit` is not given


class RateLimit(StrictModel):
    """At most `requests` in any `per` window (proactive; 429s are still retried honouring Retry-After)."""

    requests: Annotated[int, Field(ge=1, le=100_000)]
    per: timedelta = timedelta(seconds=1)

    @field_validator("per", mode="before")
    @classmethod
    def _per(cls, value: object) -> timedelta:
        return duration(value)


# -- resources ------------------------------------------------------------------------------------------------------
class Incremental(StrictModel):
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


class Deleted(StrictModel):
    """A soft-delete flag: a record whose `field` equals `equals` is stored as deleted."""

    field: Dotted
    equals: Scalar | None = True


class Resource(StrictModel):
    object_type: Annotated[str, Field(pattern=OBJECT_TYPE)] | None = None
    path: str
    params: dict[ParamName, Scalar | list[Scalar]] = Field(default_factory=dict)
    method: Literal["GET", "POST"] = "GET"
    body: dict[str, Any] | None = Field(None, alias="json")
    records: DottedOrWhole = ""
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
        if self.method == "POST" and isinstance(self.paginator, (NextUrlPaging, LinkHeaderPaging)):
            raise ValueError(f"paginator {self.paginator.type}: a POST's next page is asked for in its body; use "
                             "cursor, offset, page_number or starting_after")
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
