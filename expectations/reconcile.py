"""Checks that compare two tables, computed with polars outside Great Expectations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
    head = list(checked.head(sample_size).iter_rows())
    return _appear_once_outcome(check_name, n_staged, checked.height, head)


def evaluate_staged_records_appear_once(
    crosswalk: pl.DataFrame, related: Mapping[str, pl.DataFrame], thresholds: Thresholds
) -> ExpectationOutcome:
    """Suite adapter: reads the staged frame from ``related["staged"]``."""
    return staged_records_appear_once(crosswalk, related["staged"], sample_size=thresholds.sample_size)


def _record_key_sql(columns: list[str], *, table: str) -> str:
    if "record_id" in columns:
        return 'cast("record_id" as varchar)'
    if {"source", "source_record_id"} <= set(columns):
        return """cast("source" as varchar) || ':' || cast("source_record_id" as varchar)"""
    raise SuiteInputError(f"{table}: needs a record_id column or source and source_record_id columns; has {columns}")


def staged_records_appear_once_sql(
    con: Any,
    crosswalk_table: str,
    staged_table: str,
    *,
    check_name: str = STAGED_APPEAR_ONCE,
    sample_size: int = 10,
) -> ExpectationOutcome:
    """:func:`staged_records_appear_once` on two DuckDB tables, computed in SQL (the same outcome;
    only the offending keys leave the database)."""
    from expectations.sources import TableSource, quote_table

    staged_key = _record_key_sql(TableSource(con, staged_table).columns, table="staged customers")
    xw_key = _record_key_sql(TableSource(con, crosswalk_table).columns, table="golden crosswalk")
    base = f"""
        with staged as (select distinct {staged_key} as key from {quote_table(staged_table)}
                        where {staged_key} is not null),
             xw as (select {xw_key} as key, count(*) as n from {quote_table(crosswalk_table)} group by all),
             checked as (select s.key, coalesce(x.n, 0) as n from staged s left join xw x using (key)
                         where coalesce(x.n, 0) <> 1)"""
    n_staged, bad = con.execute(base + " select (select count(*) from staged), (select count(*) from checked)") \
        .fetchone()
    head = (con.execute(base + " select key, n from checked order by n, key limit ?", [sample_size]).fetchall()
            if bad else [])   # the join again only to name the offending keys
    return _appear_once_outcome(check_name, int(n_staged), int(bad), head)


def _appear_once_outcome(check_name: str, n_staged: int, bad: int, head: list[tuple[str, int]]) -> ExpectationOutcome:
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
        sample=[f"{key} (missing)" if n == 0 else f"{key} ({n} rows)" for key, n in head],
        row_keys=[key for key, _ in head],
        description="every staged record id appears exactly once in the crosswalk",
    )


def evaluate_staged_records_appear_once_sql(con: Any, table: str, related: Mapping[str, str],
                                            thresholds: Thresholds) -> ExpectationOutcome:
    """Suite adapter (tables): the staged table is ``related["staged"]``."""
    return staged_records_appear_once_sql(con, table, related["staged"], sample_size=thresholds.sample_size)


def rows_reconcile(
    read: pl.DataFrame,
    crosswalk: pl.DataFrame,
    quarantine: pl.DataFrame,
    *,
    check_name: str,
    deleted: pl.DataFrame | None = None,
    sample_size: int = 10,
) -> ExpectationOutcome:
    """Rows read = rows in the crosswalk + rows quarantined (+ rows deleted at the source), key by key.

    All frames have ``source`` and ``source_record_id``; ``read`` has one row per raw row
    (duplicate keys repeated), ``deleted`` one per raw row whose record the source deleted (still
    loaded, not staged). A key read more often than it is accounted for is *missing*, one
    accounted for more often than read is *extra*; the sample names them (ids, not personal data).
    """
    if deleted is None:
        deleted = pl.DataFrame(schema={"source": pl.Utf8, "source_record_id": pl.Utf8})
    def counts(df: pl.DataFrame, name: str) -> pl.LazyFrame:
        return (df.lazy().select(pl.col("source").cast(pl.Utf8),
                                 pl.col("source_record_id").cast(pl.Utf8).fill_null("<null>"))
                .group_by("source", "source_record_id").agg(pl.len().cast(pl.Int64).alias(name)))

    diff = (
        counts(read, "read")
        .join(counts(crosswalk, "crosswalk"), on=["source", "source_record_id"], how="full", coalesce=True)
        .join(counts(quarantine, "quarantined"), on=["source", "source_record_id"], how="full", coalesce=True)
        .join(counts(deleted, "deleted"), on=["source", "source_record_id"], how="full", coalesce=True)
        .with_columns(pl.col("read", "crosswalk", "quarantined", "deleted").fill_null(0))
        .with_columns(gap=pl.col("read") - pl.col("crosswalk") - pl.col("quarantined") - pl.col("deleted"))
        .filter(pl.col("gap") != 0)
        .sort([pl.col("gap") < 0, "source", "source_record_id"])
        .collect()
    )
    bad = int(diff["gap"].abs().sum()) if diff.height else 0
    head = diff.head(sample_size)
    sample = [
        f"{s}:{k} ({'missing' if g > 0 else 'extra'}: read {r}, crosswalk {c}, quarantined {q}"
        + (f", deleted at source {d})" if d else ")")
        for s, k, r, c, q, d, g in head.select("source", "source_record_id", "read", "crosswalk", "quarantined",
                                               "deleted", "gap").iter_rows()
    ]
    n_read, n_xw, n_q, n_d = read.height, crosswalk.height, quarantine.height, deleted.height
    return ExpectationOutcome(
        check_name=check_name,
        expectation_type="reconcile_rows_read",
        column="source_record_id",
        success=bad == 0,
        severity="error",
        blocking=True,
        element_count=n_read,
        unexpected_count=bad,
        unexpected_percent=100.0 * bad / n_read if n_read else 0.0,
        sample=sample,
        row_keys=[f"{s}:{k}" for s, k in head.select("source", "source_record_id").iter_rows()],
        description=f"{n_read} rows read = {n_xw} in the crosswalk + {n_q} quarantined"
        + (f" + {n_d} deleted at the source" if n_d else "")
        + ("" if bad == 0 else f" does not hold: {bad} row(s) unaccounted or extra"),
    )
