"""The configuration models. Every model forbids unknown keys, so a typo is an error, not a silent default.

Secrets are `SecretStr`: they print as `**********` and `public_settings()` drops them, which is what the
`sources` table and `inlet status` show.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from connectors.kit.settings import CloudAppSettings
from connectors.kit.spec import VendorSpec
from connectors.registry import VENDORS
from engine.config.common import CHANNEL_PATTERN, ID_PATTERN, STRICT, format_duration, http_url, parse_duration
from engine.config.lake import LakeConfig


class _Model(BaseModel):
    model_config = STRICT


class SnapshotConfig(_Model):
    """A periodic consistent copy of the store that analysts' own DuckDB clients can open."""

    path: Path
    every: timedelta

    @field_validator("every", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        return parse_duration(value)


class StoreConfig(_Model):
    path: Path = Path("data/inlet.duckdb")
    snapshot: SnapshotConfig | None = None
    # DuckDB's memory in the process holding the store; bigger queries spill to disk
    memory_limit: Annotated[str, Field(pattern=r"^\d{1,6}(\.\d{1,3})?\s?(MB|GB|TB|MiB|GiB|TiB)$")] = "256MB"


class ServerConfig(_Model):
    """The HTTP server. The request-head limits are enforced while a request is parsed, before it is buffered:
    a request over one of them is refused (414 or 431, JSON, a `rejections` row) and its connection closed."""

    _MAX_DURATIONS: ClassVar[dict[str, timedelta]] = {"header_timeout": timedelta(minutes=5),
                                                      "keepalive_timeout": timedelta(hours=1)}

    host: str = "127.0.0.1"
    port: int = Field(8686, ge=1, le=65535)
    public_url: str | None = None
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=64 * 1024 * 1024)
    # a request URL (path and query) longer than this gets 414
    max_url_bytes: int = Field(8 * 1024, ge=1024, le=1024 * 1024)
    # a request's header lines together (names, values, separators) over this get 431
    max_header_bytes: int = Field(32 * 1024, ge=4 * 1024, le=1024 * 1024)
    # a request with more header lines than this gets 431
    max_headers: int = Field(100, ge=16, le=1000)
    # the request line and headers must all arrive within this (from the connection, or from the first byte of a
    # later request on it); else the client gets 408 and the connection is closed
    header_timeout: timedelta = timedelta(seconds=10)
    # a keep-alive connection left idle this long after an answer is closed
    keepalive_timeout: timedelta = timedelta(seconds=5)
    # open connections at most; one more is answered 503 (JSON, Retry-After) and closed instead of waiting
    max_connections: int = Field(1000, ge=1, le=100_000)
    # what the console, /status, /docs and /metrics ask for (Bearer, or the console's sign-in); required when `host`
    # is not a loopback address, so nothing about the store is open to the network by default
    admin_token: SecretStr | None = None

    @field_validator("admin_token")
    @classmethod
    def _long_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("at least 16 characters: a short token can be guessed")
        return value

    @model_validator(mode="after")
    def _token_off_loopback(self) -> ServerConfig:
        if self.admin_token is None and not is_loopback(self.host):
            raise ValueError(f"admin_token: required when host is not a loopback address ({self.host!r}): the "
                             "console, /status, /docs and /metrics show the store's data; set a long random token, "
                             "e.g. admin_token: \"${INLET_ADMIN_TOKEN}\"")
        return self

    @field_validator("header_timeout", "keepalive_timeout", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        return parse_duration(value)

    @field_validator("header_timeout", "keepalive_timeout")
    @classmethod
    def _bounded(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        most = cls._MAX_DURATIONS[info.field_name]
        if value > most:
            raise ValueError(f"at most {format_duration(most)}")
        return value


def is_loopback(host: str) -> bool:
    """Whether a listening address is reachable from this machine only: localhost, 127.0.0.0/8, ::1."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


class _SourceBase(_Model):
    id: Annotated[str, Field(pattern=ID_PATTERN)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: str = ""
    channel: Annotated[str, Field(pattern=CHANNEL_PATTERN)]
    enabled: bool = True
    # a mapping file (relative to the config file) or `default`, the one inlet ships for the bridge: how the
    # source's records or events become profile identities and attributes, and what is written back
    mapping: Annotated[str, Field(min_length=1)] | None = None


class RateLimit(_Model):
    """A push source's intake: a token bucket holding `burst` events (default `events`) that refills `events`
    per `per`. A request costs its events (a tracking batch, its message count); over the limit it gets 429
    `rate_limited` with Retry-After and nothing of it is stored."""

    events: Annotated[int, Field(ge=1, le=10_000_000)]
    per: timedelta = timedelta(seconds=1)
    burst: Annotated[int, Field(ge=1, le=10_000_000)] | None = None

    @field_validator("per", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        return parse_duration(value)

    @property
    def per_second(self) -> float:
        return self.events / self.per.total_seconds()

    @property
    def capacity(self) -> int:
        return self.burst if self.burst is not None else self.events


class EventSchemas(_Model):
    """JSON Schemas (draft 2020-12) of a push source's event properties, by event type: each inline, or a JSON
    or YAML file relative to the config file. `enforce` refuses an event that does not match (400
    `schema_violation`); `warn` stores it with the violations in `context.schema_violations`. Event types with
    no schema are taken when `allow_unknown`, else treated as violations."""

    mode: Literal["enforce", "warn"] = "enforce"
    allow_unknown: bool = True
    events: dict[Annotated[str, Field(min_length=1, max_length=255)], Any] = {}

    @field_validator("events")
    @classmethod
    def _schema_or_file(cls, value: dict[str, Any]) -> dict[str, Any]:
        for event_type, schema in value.items():
            if not isinstance(schema, dict | bool) and not (isinstance(schema, str) and schema.strip()):
                raise ValueError(f"{event_type}: give a schema (a mapping, or true or false) or the name of a "
                                 f"schema file, not {schema!r}")
        return value


class _PushSource(_SourceBase):
    """A source that sends to inlet: its events may be held to schemas, and its intake to a rate limit."""

    schemas: EventSchemas | None = None
    rate_limit: RateLimit | None = None


class WebhookSource(_PushSource):
    """A push source fed by the collect webhooks. With `secret` set, requests must carry it as a Bearer token."""

    bridge: Literal["webhook"]
    secret: SecretStr | None = None


EVENT_TYPE_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"


class Link(_Model):
    """A redirect link: where `/r/{source_id}/{link_id}` sends the click, and what the click records."""

    url: str
    event_type: Annotated[str, Field(pattern=EVENT_TYPE_PATTERN)] = "link-click"
    properties: dict[str, Any] = {}

    @field_validator("url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        return http_url(value)


class RedirectSource(_PushSource):
    """Email and campaign tracking: redirect links (`/r/...`) and the open pixel (`/pixel/...`)."""

    bridge: Literal["redirect"]
    links: dict[Annotated[str, Field(pattern=ID_PATTERN)], Link] = {}


class ObjectSchedule(_Model):
    """When a pull runs on its own: `every` (30s, 15m, 2h, 1d) or `cron` (five fields, in `timezone`, UTC by
    default), plus an optional random `jitter` added to each run's time."""

    every: timedelta | None = None
    cron: str | None = None
    timezone: str = "UTC"
    jitter: timedelta | None = None

    @field_validator("every", "jitter", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta | None:
        return None if value is None else parse_duration(value)

    @field_validator("cron")
    @classmethod
    def _crontab(cls, value: str | None) -> str | None:
        if value is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(value)
            except ValueError as exc:
                raise ValueError(f"{value!r} is not a cron expression (minute hour day month weekday): {exc}") \
                    from None
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone name like UTC or Europe/Warsaw") from None
        return value

    @model_validator(mode="after")
    def _one_rule(self) -> ObjectSchedule:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give either `every` (like 15m) or `cron` (like \"0 */2 * * *\"), not both or neither")
        return self

    def describe(self) -> str:
        if self.every is not None:
            return f"every {format_duration(self.every)}" + (f" ±{format_duration(self.jitter)}" if self.jitter
                                                              else "")
        zone = "" if self.timezone == "UTC" else f" ({self.timezone})"
        return f"cron {self.cron}{zone}" + (f" ±{format_duration(self.jitter)}" if self.jitter else "")


class Schedule(ObjectSchedule):
    """A source's schedule; `objects` gives some of its objects a schedule of their own (they then leave the
    source's runs)."""

    objects: dict[str, ObjectSchedule] = {}


class PullSource(_SourceBase, CloudAppSettings):
    """A cloud app inlet reads: the keys every source has, the cloud-app settings of the kit (`base_url`, `objects`,
    `rate_limit`, `webhook_secret`) and a `schedule`. Each vendor's model adds its own settings
    (connectors/<vendor>/spec.py), listed by connectors/registry.py."""

    schedule: Schedule | None = None  # None: manual only (`inlet sync`)

    @model_validator(mode="after")
    def _scheduled_objects(self) -> PullSource:
        if self.schedule is not None:
            unknown = [o for o in self.schedule.objects if o not in self.object_names]
            if unknown:
                raise ValueError(f"schedule.objects: {unknown[0]!r} is not one of this source's objects "
                                 f"({', '.join(self.object_names)})")
        return self


def _pull_model(spec: VendorSpec) -> type[PullSource]:
    """The config model of `spec`'s sources: PullSource with the vendor's own settings. A setting the vendor
    redefines (the rest bridge's required `base_url`, its `rate_limit` of {requests, per}) keeps the vendor's
    definition: pydantic would otherwise take PullSource's copy of the kit's."""
    redefined = {name: (spec.settings.model_fields[name].annotation, spec.settings.model_fields[name])
                 for name in vars(spec.settings).get("__annotations__", {}) if name in PullSource.model_fields}
    return create_model(f"{spec.title.replace(' ', '')}Source", __base__=(PullSource, spec.settings),
                        __doc__=spec.settings.__doc__, __module__=__name__, **redefined)


PULL_MODELS: dict[str, type[PullSource]] = {bridge: _pull_model(spec) for bridge, spec in VENDORS.items()}


class TrackingSource(_PushSource):
    """Tracking SDKs (the Segment-compatible API, `POST /v1/...`): callers send `write_key` as the HTTP Basic
    user name or as `writeKey` in the body."""

    bridge: Literal["tracking"]
    write_key: SecretStr

    @field_validator("write_key")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value


# One model per bridge, discriminated on `bridge`.
_MODELS: tuple[type[_SourceBase], ...] = (WebhookSource, RedirectSource, *PULL_MODELS.values(), TrackingSource)
SourceConfig = Annotated[Union[_MODELS], Field(discriminator="bridge")]  # noqa: UP007 (a Union of a tuple)
AnySource = WebhookSource | RedirectSource | PullSource | TrackingSource
BRIDGES: tuple[str, ...] = ("webhook", "redirect", *VENDORS, "tracking")
PULL_BRIDGES: frozenset[str] = frozenset(VENDORS)
PUSH_BRIDGES: frozenset[str] = frozenset({"webhook"})  # the bridges the collect webhooks accept


class SchedulerConfig(_Model):
    """Scheduled pulls inside `inlet serve`: how many sources may sync at once, and how a run that failed for a
    passing reason (a network error, 5xx or 429 after the request retries) is tried again before its next slot."""

    max_concurrent: Annotated[int, Field(ge=1, le=64)] = 2
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    retry_backoff: timedelta = timedelta(seconds=30)  # doubled for each retry

    @field_validator("retry_backoff", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        return parse_duration(value)


class WritebackConfig(_Model):
    """The two-way outbox's worker: how often it looks for due write-backs, and how a write-back that failed for
    a passing reason (5xx, 429, the network) is tried again: `backoff` doubled per attempt, up to `max_backoff`,
    at most `max_attempts` times before it is marked failed."""

    interval: timedelta = timedelta(seconds=2)
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 8
    backoff: timedelta = timedelta(seconds=10)
    max_backoff: timedelta = timedelta(minutes=10)

    @field_validator("interval", "backoff", "max_backoff", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        return parse_duration(value)


class LoggingConfig(_Model):
    """`inlet serve`'s log lines: `text` (the default) or `json`, one object per line (time, level, logger, message,
    and the source, sync run, object or request it is about); `access` adds uvicorn's line per HTTP request (it
    costs throughput: off by default). `inlet serve --log-format` overrides `format`."""

    format: Literal["text", "json"] = "text"
    access: bool = False


class Config(_Model):
    _by_id: dict[str, AnySource] = PrivateAttr(default_factory=dict)
    _mappings: dict[str, Any] = PrivateAttr(default_factory=dict)  # source id -> its compiled mapping
    _event_schemas: dict[str, Any] = PrivateAttr(default_factory=dict)  # source id -> its compiled event schemas
    store: StoreConfig = StoreConfig()
    server: ServerConfig = ServerConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    writebacks: WritebackConfig = WritebackConfig()
    logging: LoggingConfig = LoggingConfig()
    lake: LakeConfig | None = None
    sources: list[SourceConfig] = []

    def source(self, source_id: str) -> AnySource | None:
        return self._by_id.get(source_id)

    @property
    def mappings(self) -> dict[str, Any]:
        """source id -> its compiled `mappings.Mapping`, loaded with the config (sources without one absent)."""
        return self._mappings

    @property
    def event_schemas(self) -> dict[str, Any]:
        """source id -> its compiled `engine.policy.schemas.SourceSchemas`, made when the config is loaded
        (sources without `schemas:` absent)."""
        return self._event_schemas

    def model_post_init(self, context: Any) -> None:
        self._by_id = {s.id: s for s in self.sources}

    @model_validator(mode="after")
    def _distinct_write_keys(self) -> Config:
        seen: dict[str, int] = {}  # a write key names its source: two sources may not share one
        for i, s in enumerate(self.sources):
            if isinstance(s, TrackingSource):
                j = seen.setdefault(s.write_key.get_secret_value(), i)
                if j != i:
                    raise ValueError(f"sources[{i}].write_key: the same write key as sources[{j}]; "
                                     "each tracking source needs its own")
        return self


def public_settings(source: _Model) -> dict:
    """A source's settings without its secrets, as JSON-ready values."""
    data = source.model_dump(mode="json")
    for name, field in type(source).model_fields.items():
        if field.annotation is not None and "SecretStr" in str(field.annotation):
            data.pop(name, None)
    return data
