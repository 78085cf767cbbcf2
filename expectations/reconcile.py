"""Checks that compare two tables, computed with polars outside Great Expectations."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from expectations.outcomes import ExpectationOutcome, SuiteInputError
from expectations.thresholds import Thresholds

STAGED_APPEAR_ONCE = "staged_records_appear_once_in_crosswalk"


def _record_keys(df: pl.DataFrame, *, table: str) -> pl.Expr:
    if "record_id" in df.columns:
        return pl.col("record_id").cast(pl.Utf8)
    if {"source", "source_record_id"} <= set(df.columns):
        return pl.concat_str(
            [pl.col("source").cast(pl.Utf8), pl.lit(":"), pl.col("source_record_id").cast(pl.Utf8)]
        )
    raise SuiteInputError(
        f"{table}: needs a record_id column or source and source_record_id columns; has {df.columns}"
    )


def staged_records_appear_once(
    crosswalk: pl.DataFrame,
    staged: pl.DataFrame,
    *,
    check_name: str = STAGED_APPEAR_ONCE,
    sample_size: int = 10,
) -> ExpectationOutcome:
    """Every staged ``record_id`` must appear in the crosswalk exactly once.

    The crosswalk key is its ``record_id`` or ``source:source_record_id``. The sample names up
    to ``sample_size`` offending record ids (ids, not personal data): missing ones first, then
    those mapped more than once. Null staged ids are left to the staged suite.
    """
    staged_ids = (
        staged.lazy().select(_record_keys(staged, table="staged customers").alias("key"))
        .drop_nulls().unique()
    )
    xw_counts = (
        crosswalk.lazy().select(_record_keys(crosswalk, table="golden crosswalk").alias("key"))
        .group_by("key").agg(pl.len().alias("n"))
    )
    checked = (
        staged_ids.join(xw_counts, on="key", how="left")
        .with_columns(pl.col("n").fill_null(0))
        .filter(pl.col("n") != 1)
        .sort(["n", "key"])
        .collect()
    )
    n_staged = staged_ids.select(pl.len()).collect().item()
    bad = checked.height
    sample = [
        f"{key} (missing)" if n == 0 else f"{key} ({n} rows)"
        for key, n in checked.head(sample_size).iter_rows()
    ]
    return ExpectationOutcome(
        check_name=check_name,
        expectation_type="reconcile_staged_records_appear_once",
        column="record_id",
        success=bad == 0,
        severity="error",
        blocking=True,
        element_count=n_staged,
        unexpected_count=bad,
        unexpected_percent=100.0 * bad / n_staged if n_staged else 0.0,
        sample=sample,
        row_keys=[key for key, _ in checked.head(sample_size).iter_rows()],
        description="every staged record id appears exactly once in the crosswalk",
    )


def evaluate_staged_records_appear_once(
    crosswalk: pl.DataFrame, related: Mapping[str, pl.DataFrame], thresholds: Thresholds
) -> ExpectationOutcome:
    """Suite adapter: reads the staged frame from ``related["staged"]``."""
    return staged_records_appear_once(crosswalk, related["staged"], sample_size=thresholds.sample_size)
