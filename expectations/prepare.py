"""A suite's input frame in the form its checks read: columns checked, datetimes in UTC, text
checks on strings, derived columns added (used by the runner and the per-load suite state)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from expectations.definitions import SuiteSpec
from expectations.outcomes import SuiteInputError


def _datetime_columns(spec: SuiteSpec) -> list[str]:
    return [
        c.kwargs["column"] for c in spec.checks
        if isinstance(c.kwargs.get("min_value"), dt.datetime) or isinstance(c.kwargs.get("max_value"), dt.datetime)
    ]


def _text_columns(spec: SuiteSpec) -> list[str]:
    text_checks = {"ExpectColumnValuesToMatchRegex", "ExpectColumnValuesToBeInSet"}
    return [c.kwargs["column"] for c in spec.checks if c.expectation in text_checks]


def prepare_frame(frame: pl.DataFrame, spec: SuiteSpec, *, what: str = "input frame") -> pl.DataFrame:
    """Check the columns, bring datetimes to UTC and text checks to strings, add derived columns."""
    absent_optional = [c for c in spec.optional_columns if c not in frame.columns]
    if absent_optional:
        frame = frame.with_columns([pl.lit(None, pl.Utf8).alias(c) for c in absent_optional])
    missing = [c for c in spec.required_columns if c not in frame.columns]
    if missing:
        raise SuiteInputError(
            f"suite {spec.name}: {what} lacks column(s) {missing}; it has {frame.columns}"
        )
    frame = frame.with_columns(**spec.derived)
    fixes: list[pl.Expr] = []
    for col in dict.fromkeys(_datetime_columns(spec)):
        dtype = frame.schema[col]
        if isinstance(dtype, pl.Datetime):
            expr = pl.col(col).dt.replace_time_zone("UTC") if dtype.time_zone is None \
                else pl.col(col).dt.convert_time_zone("UTC")
        elif dtype == pl.Date:
            expr = pl.col(col).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        elif dtype == pl.Null:
            expr = pl.col(col).cast(pl.Datetime("us", "UTC"))
        else:
            raise SuiteInputError(
                f"suite {spec.name}: {what}: column {col} must hold datetimes to check its range, got {dtype}"
            )
        fixes.append(expr.alias(col))
    for col in dict.fromkeys(_text_columns(spec)):
        if frame.schema[col] != pl.Utf8:
            fixes.append(pl.col(col).cast(pl.Utf8))
    needed = list(dict.fromkeys(
        [*spec.key_columns, *(c for chk in spec.checks if chk.expectation for c in chk.columns
                              if c not in spec.derived)]
    ))
    return frame.with_columns(fixes).select([*needed, *spec.derived])
