"""The configuration models. Every model forbids unknown keys, so a typo is an error, not a silent default.

Secrets are `SecretStr`: they print as `**********` and `public_settings()` drops them, which is what the
`sources` table and `inlet status` show.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
CHANNEL_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: object) -> timedelta:
    """`30s`, `15m`, `2h`, `1d` (or a number of seconds) as a timedelta; anything else is an error."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return timedelta(seconds=value)
    if isinstance(value, str) and (m := _DURATION.match(value)) and int(m.group(1)) > 0:
        return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    raise ValueError(f"{value!r} is not a duration: write a positive whole number and a unit, like 30s, 15m, 2h or 1d")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class ServerConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(8686, ge=1, le=65535)
    public_url: str | None = None
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=64 * 1024 * 1024)


class _SourceBase(_Model):
    id: Annotated[str, Field(pattern=ID_PATTERN)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: str = ""
    channel: Annotated[str, Field(pattern=CHANNEL_PATTERN)]
    enabled: bool = True


class WebhookSource(_SourceBase):
    """A push source fed by the collect webhooks. With `secret` set, requests must carry it as a Bearer token."""

    bridge: Literal["webhook"]
    secret: SecretStr | None = None


# One model per bridge; later bridges join this union (discriminated on `bridge`).
SourceConfig = WebhookSource
BRIDGES: tuple[str, ...] = ("webhook",)
PUSH_BRIDGES: frozenset[str] = frozenset({"webhook"})


class Config(_Model):
    store: StoreConfig = StoreConfig()
    server: ServerConfig = ServerConfig()
    sources: list[SourceConfig] = []

    def source(self, source_id: str) -> SourceConfig | None:
        return next((s for s in self.sources if s.id == source_id), None)


def public_settings(source: _Model) -> dict:
    """A source's settings without its secrets, as JSON-ready values."""
    data = source.model_dump(mode="json")
    for name, field in type(source).model_fields.items():
        if field.annotation is not None and "SecretStr" in str(field.annotation):
            data.pop(name, None)
    return data
