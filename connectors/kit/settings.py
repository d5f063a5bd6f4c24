"""The settings every cloud-app source has, whatever its vendor, and that each vendor's settings model extends."""

from __future__ import annotations

from typing import Annotated, ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class CloudAppSettings(BaseModel):
    """`base_url` replaces the vendor's scheme and host (a sandbox, a proxy); `objects` takes the plural API names
    (default: all of `OBJECTS`); `rate_limit` lowers the requests per second below the vendor's; `webhook_secret`
    turns on the vendor's signed webhooks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    OBJECTS: ClassVar[tuple[str, ...]] = ()
    base_url: str | None = None
    objects: list[str] | None = None
    rate_limit: Annotated[float, Field(gt=0, le=10_000)] | None = None
    webhook_secret: SecretStr | None = None

    @field_validator("base_url")
    @classmethod
    def _http_base(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
                or parts.query:
            raise ValueError(f"{value!r} is not a scheme and host like https://api.example.com (no path)")
        return value.rstrip("/")

    @field_validator("objects")
    @classmethod
    def _known_objects(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        unknown = [o for o in value if o not in cls.OBJECTS]
        if unknown:
            raise ValueError(f"unknown object {unknown[0]!r}; this bridge syncs {', '.join(cls.OBJECTS)}")
        if not value:
            raise ValueError("list at least one object, or leave `objects` out to sync all of them")
        return list(dict.fromkeys(value))

    @property
    def object_names(self) -> list[str]:
        return list(self.objects or self.OBJECTS)
