"""Opening the lake: pyiceberg's SQL catalog (SQLite or PostgreSQL through SQLAlchemy), the warehouse's file IO, the
namespace and inlet's tables. Whatever goes wrong here is a `LakeError` naming the `lake.` key to look at, with the
catalog URL's password hidden."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy.exc
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import (
    NamespaceAlreadyExistsError,
    NoSuchNamespaceError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.io import load_file_io
from pyiceberg.table import Table

from engine.config.lake import LakeConfig
from engine.lake import watermark
from engine.lake.tables import EVENTS, TABLES, TableSpec
from engine.lake.watermark import Watermark

CONNECT_TIMEOUT = 10  # seconds to reach a PostgreSQL catalog


class LakeError(Exception):
    """The lake cannot be used as configured, or an export failed; the message names the key and the cause."""


@dataclass
class Lake:
    config: LakeConfig
    catalog: SqlCatalog
    tables: dict[str, Table]  # spec name -> its Iceberg table

    def table(self, name: str) -> Table:
        return self.tables[name]

    def close(self) -> None:
        """Close the catalog's database connections (a lake opened again gets new ones)."""
        self.catalog.engine.dispose()

    def refresh(self, name: str) -> Table:
        """The table as the catalog has it now (other nodes commit too)."""
        try:
            return self.tables[name].refresh()
        except NoSuchTableError:
            raise LakeError(f"lake.catalog: the table {self.config.namespace}.{name} is gone from "
                            f"{redact(self.config.catalog)}; it is made again when the exporter starts") from None


def redact(url: str) -> str:
    """The catalog URL without its password, for messages and /status."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def warehouse_location(config: LakeConfig) -> str:
    """The warehouse as pyiceberg wants it: a URL (`s3://...`, `file:///abs/dir`)."""
    if "://" in config.warehouse:
        return config.warehouse.rstrip("/")
    return Path(config.warehouse).absolute().as_uri()


def catalog_properties(config: LakeConfig) -> dict[str, str]:
    uri = config.catalog
    if not uri.startswith("sqlite") and "connect_timeout=" not in uri:  # an unreachable catalog says so in seconds
        uri += ("&" if "?" in uri else "?") + f"connect_timeout={CONNECT_TIMEOUT}"
    props = {"uri": uri, "warehouse": warehouse_location(config), "pool_pre_ping": "true"}
    s3 = config.s3
    for key, value in (("s3.endpoint", s3.endpoint), ("s3.region", s3.region),
                       ("s3.access-key-id", s3.access_key_id),
                       ("s3.secret-access-key", s3.secret_access_key and s3.secret_access_key.get_secret_value())):
        if value:
            props[key] = value
    return props


def open_lake(config: LakeConfig) -> Lake:
    """Connect to the catalog, check that the warehouse takes files, and make the namespace and tables that are
    missing (another node making them at the same time is fine)."""
    if "://" not in config.warehouse:
        try:
            Path(config.warehouse).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LakeError(f"lake.warehouse: cannot make the directory {config.warehouse}: {exc.strerror}") from None
    try:
        catalog = SqlCatalog("inlet", **catalog_properties(config))
    except (sqlalchemy.exc.SQLAlchemyError, OSError, ValueError) as exc:
        raise LakeError(f"lake.catalog: cannot open the catalog {redact(config.catalog)}: {reason(exc)}") from None
    _probe_warehouse(catalog, config)
    try:
        try:
            catalog.create_namespace(config.namespace)
        except NamespaceAlreadyExistsError:
            pass
        tables = {spec.name: _table(catalog, config, spec) for spec in TABLES}
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise LakeError(f"lake.catalog: {redact(config.catalog)}: {reason(exc)}") from None
    except OSError as exc:
        raise LakeError(f"lake.warehouse: cannot write table metadata under {config.warehouse}: {exc}") from None
    return Lake(config, catalog, tables)


def read_watermark(config: LakeConfig) -> Watermark | None:
    """The node's watermark as the lake holds it (None when it has none), making nothing: for `inlet status`."""
    try:
        catalog = SqlCatalog("inlet", **catalog_properties(config), init_catalog_tables="false")
        table = catalog.load_table((config.namespace, EVENTS.name))
    except (NoSuchTableError, NoSuchNamespaceError):
        return None
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise LakeError(f"lake.catalog: cannot read the catalog {redact(config.catalog)}: {reason(exc)}") from None
    return watermark.read(table, config.node)


def _table(catalog: SqlCatalog, config: LakeConfig, spec: TableSpec) -> Table:
    ident = (config.namespace, spec.name)
    try:
        return catalog.load_table(ident)
    except NoSuchTableError:
        pass
    try:
        return catalog.create_table(ident, schema=spec.schema, partition_spec=spec.partition_spec,
                                    properties=spec.properties)
    except TableAlreadyExistsError:  # another node made it first
        return catalog.load_table(ident)


def _probe_warehouse(catalog: SqlCatalog, config: LakeConfig) -> None:
    """Write and delete a small file where the data goes, so that an unwritable warehouse is said at start."""
    location = f"{warehouse_location(config)}/.inlet-probe-{uuid.uuid4().hex}"
    try:
        io = load_file_io(catalog.properties, location)
        with io.new_output(location).create(overwrite=True) as out:
            out.write(b"inlet")
        io.delete(location)
    except Exception as exc:  # pyarrow raises OSError subclasses and its own errors for S3 (auth, no bucket)
        raise LakeError(f"lake.warehouse: cannot write to {config.warehouse}: {reason(exc)}") from None


def reason(exc: BaseException) -> str:
    """The first line of an error, without SQLAlchemy's background links."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
