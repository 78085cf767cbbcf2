"""Publishing for BI: the golden tables to DuckDB (embedded), PostgreSQL (production) or Parquet.

All three keep the warehouse names (``golden.customers`` ...), set the column descriptions of
``pipelines.schema_docs``, and are all-or-nothing: a failed publish leaves the previous tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from pipelines.publish.duckdb import publish_duckdb
from pipelines.publish.parquet import publish_parquet, read_manifest
from pipelines.publish.postgres import (
    DEFAULT_BI_VIEWS,
    mask_url,
    postgres_url_from_config,
    publish_postgres,
)
from pipelines.publish.tables import PublishError
from pipelines.publish.writeback import write_merge_lists

DESTINATIONS = ("duckdb", "postgres", "parquet")

__all__ = [
    "DEFAULT_BI_VIEWS", "DESTINATIONS", "PublishError", "mask_url", "postgres_url_from_config",
    "publish", "publish_duckdb", "publish_parquet", "publish_postgres", "read_manifest",
    "write_merge_lists",
]


def publish(tables: Mapping[str, pl.DataFrame], *, destination: str = "duckdb",
            warehouse: str | Path | None = None, url: str | None = None,
            out_dir: str | Path | None = None, **options) -> dict:
    """Publish to the named destination: ``duckdb`` needs ``warehouse``, ``parquet`` needs
    ``out_dir``, ``postgres`` takes ``url`` or reads it from dlt configuration."""
    if destination == "duckdb":
        if warehouse is None:
            raise PublishError("destination duckdb needs a warehouse path")
        return publish_duckdb(tables, warehouse, **options)
    if destination == "postgres":
        return publish_postgres(tables, url or postgres_url_from_config(), **options)
    if destination == "parquet":
        if out_dir is None:
            raise PublishError("destination parquet needs an output folder")
        return publish_parquet(tables, out_dir, **options)
    raise PublishError(f"unknown destination {destination!r} (one of {', '.join(DESTINATIONS)})")
