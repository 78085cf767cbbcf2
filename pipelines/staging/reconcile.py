"""The keys of every raw customer row, as staging names them, for reconciliation."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from pipelines.staging.columns import text
from pipelines.staging.result import StagingError

_KEYS_SCHEMA = {"source": pl.Utf8, "source_record_id": pl.Utf8}


def customer_keys(frames: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """``(source, source_record_id)`` for each row of the frames given to ``stage_all``.

    One row per raw row (duplicates kept), keyed exactly as staging keys it: ERP ``customer_no``,
    shop ``id``, sheets (file stem, ``row_number``). Every row must end up in the crosswalk or in
    quarantine under this key.
    """
    parts = []
    for name, df in frames.items():
        if name == "erp":
            parts.append(df.select(pl.lit("erp").alias("source"),
                                   text(df, "customer_no").str.strip_chars().alias("source_record_id")))
        elif name == "shop":
            parts.append(df.select(pl.lit("shop").alias("source"),
                                   text(df, "id").str.strip_chars().alias("source_record_id")))
        elif name == "sheets":
            parts.append(df.select(text(df, "source").alias("source"),
                                   text(df, "row_number").str.strip_chars().alias("source_record_id")))
        else:
            raise StagingError(f"customer_keys: unknown source frame {name!r}; expected erp, shop, sheets")
    return pl.concat(parts).cast(_KEYS_SCHEMA) if parts else pl.DataFrame(schema=_KEYS_SCHEMA)
