"""The lake: every inlet node exports its store into one Apache Iceberg lakehouse (pyiceberg's SQL catalog, Parquet
files in a directory or S3-compatible storage) that Spark, Trino, Snowflake, DuckDB and notebooks all read.

    catalog.py       opening the catalog and the warehouse, with errors that name the `lake.` key at fault
    tables.py        the Iceberg tables: schemas, partitions, keys, and the store query that feeds each
    watermark.py     how far a node's events are in the lake, committed atomically with the data
    changes.py       what the store has that the lake lacks: events past the watermark, upserted rows that changed
    export.py        one export: events appended, latest-state tables upserted, each commit retried without doubling
    housekeeping.py  small files rewritten into big ones, old snapshots expired and their files deleted
    service.py       the export loop of `inlet serve` (and its housekeeping), and the lag `inlet status` shows
    command.py       `inlet lake export`: in the running server, or holding the store here
"""

from engine.lake.catalog import Lake, LakeError, open_lake

__all__ = ["Lake", "LakeError", "open_lake"]
