"""The keys of every raw customer row, as staging names them, for reconciliation."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from pipelines.staging.columns import text
from pipelines.staging.result import StagingError

_KEYS_SCHEMA = {"source": pl.Utf8, "source_record_id": pl.Utf8}


def customer_keys(frames: Mapping[str, pl.DataFrame], *, with_email: bool = False) -> pl.DataFrame:
    """``(source, source_record_id)`` for each row of the frames given to ``stage_all``.

    One row per raw row (duplicates kept), keyed exactly as staging keys it: ERP ``customer_no``,
    shop ``id``, sheets (file stem, ``row_number``). Every row must end up in the crosswalk or in
    quarantine under this key. ``with_email`` adds the raw ``email`` (to tell erased people apart).
    """
    keys = {"erp": (pl.lit("erp"), "customer_no"), "shop": (pl.lit("shop"), "id"), "sheets": (None, "row_number")}
    parts = []
    for name, df in frames.items():
        if name not in keys:
            raise StagingError(f"customer_keys: unknown source frame {name!r}; expected erp, shop, sheets")
        source, key = keys[name]
        parts.append(df.select(
            (text(df, "source") if source is None else source).alias("source"),
            text(df, key).str.strip_chars().alias("source_record_id"),
            *([text(df, "email").alias("email")] if with_email else []),
        ))
    schema = {**_KEYS_SCHEMA, **({"email": pl.Utf8} if with_email else {})}
    return pl.concat(parts).cast(schema) if parts else pl.DataFrame(schema=schema)
