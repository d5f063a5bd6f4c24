"""The `lake:` section: the shared Apache Iceberg lake every inlet node exports its store into (engine/lake/)."""

from __future__ import annotations

import re
import socket
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator

from engine.config.common import ID_PATTERN, STRICT, http_url, parse_duration


class _Model(BaseModel):
    model_config = STRICT


class LakeS3(_Model):
    """Where an `s3://` warehouse is and how to reach it; unset keys fall back to the AWS environment (AWS_REGION,
    AWS_ACCESS_KEY_ID, ...). `endpoint` names an S3-compatible service (MinIO, Ceph, R2) instead of AWS."""

    endpoint: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        return None if value is None else http_url(value)


class LakeConfig(_Model):
    """The shared Apache Iceberg lake every inlet node exports its store into (engine/lake/). `catalog`: a SQLAlchemy
    URL for pyiceberg's SQL catalog (`sqlite:///lake.db` on one machine, `postgresql+psycopg://user@host/db` for
    many); `warehouse`: where the Parquet files go (a directory, or `s3://bucket/prefix`); `node`: this node's name
    in the lake, unique per node (default: the host name); `every`: the export interval of `inlet serve`;
    `compact_every`: how often housekeeping runs (small files rewritten, old snapshots expired); `keep_snapshots`:
    how long snapshots stay readable for time travel."""

    catalog: str
    warehouse: str
    namespace: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")] = "inlet"
    every: timedelta = timedelta(seconds=30)
    node: Annotated[str, Field(pattern=ID_PATTERN)] = Field(default_factory=lambda: _host_name())
    compact_every: timedelta = timedelta(minutes=15)
    # pyiceberg copies a table's metadata, every snapshot in it, several times per commit: an export's cost grows
    # with the snapshots kept (~2 ms each; SCALING.md), so few are kept by default
    keep_snapshots: timedelta = timedelta(hours=1)
    s3: LakeS3 = LakeS3()

    @field_validator("every", "compact_every", "keep_snapshots", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        return parse_duration(value)

    @field_validator("catalog")
    @classmethod
    def _catalog(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme != "sqlite" and scheme.split("+")[0] not in ("postgresql", "postgres"):
            raise ValueError("a SQLAlchemy URL of a SQLite or PostgreSQL database, like sqlite:///lake.db or "
                             "postgresql+psycopg://inlet@db/lake")
        if scheme.split("+")[0] in ("postgresql", "postgres") and "+" not in scheme:
            raise ValueError("name the driver inlet ships: postgresql+psycopg://...")
        return value

    @field_validator("warehouse")
    @classmethod
    def _warehouse(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if "://" in value and scheme not in ("s3", "s3a", "file"):
            raise ValueError(f"a directory, or an s3:// URL (not {scheme}://)")
        if scheme in ("s3", "s3a") and not urlsplit(value).netloc:
            raise ValueError("an s3:// URL needs a bucket: s3://bucket/prefix")
        return value


def _host_name() -> str:
    """The default node name: the host's name, cut to what a node name may hold."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname())[:64].lstrip("._-")
    return name or "node"
