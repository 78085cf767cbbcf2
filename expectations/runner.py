"""Run a suite on a polars or pandas frame and return masked, Dagster-free outcomes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import numbers
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from expectations.definitions import CheckDef, SuiteSpec
from expectations.masking import mask_for_column
from expectations.outcomes import ExpectationOutcome, SuiteExecutionError, SuiteInputError, SuiteOutcome
from expectations.suites import suite_spec, to_gx_suite
from expectations.thresholds import Thresholds, resolve_thresholds

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


def _to_polars(df: Any, *, what: str) -> pl.DataFrame:
    if isinstance(df, pl.DataFrame):
        return df
    if isinstance(df, pl.LazyFrame):
        return df.collect()
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas ships with the stack
        pd = None
    if pd is not None and isinstance(df, pd.DataFrame):
        return pl.from_pandas(df)
    raise SuiteInputError(f"{what}: expected a polars or pandas DataFrame, got {type(df).__name__}")


def _datetime_columns(spec: SuiteSpec) -> list[str]:
    return [
        c.kwargs["column"] for c in spec.checks
        if isinstance(c.kwargs.get("min_value"), dt.datetime) or isinstance(c.kwargs.get("max_value"), dt.datetime)
    ]


def _text_columns(spec: SuiteSpec) -> list[str]:
    text_checks = {"ExpectColumnValuesToMatchRegex", "ExpectColumnValuesToBeInSet"}
    return [c.kwargs["column"] for c in spec.checks if c.expectation in text_checks]


def _prepare(frame: pl.DataFrame, spec: SuiteSpec) -> pl.DataFrame:
    """Check the columns, bring datetimes to UTC and text checks to strings, add derived columns."""
    absent_optional = [c for c in spec.optional_columns if c not in frame.columns]
    if absent_optional:
        frame = frame.with_columns([pl.lit(None, pl.Utf8).alias(c) for c in absent_optional])
    missing = [c for c in spec.required_columns if c not in frame.columns]
    if missing:
        raise SuiteInputError(
            f"suite {spec.name}: input frame lacks column(s) {missing}; it has {frame.columns}"
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
                f"suite {spec.name}: column {col} must hold datetimes to check its range, got {dtype}"
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


def _raised(exception_info: Any) -> str | None:
    """The first exception message in a GX result's ``exception_info`` (flat or per metric)."""
    if not isinstance(exception_info, Mapping):
        return None
    if "raised_exception" in exception_info:
        if exception_info.get("raised_exception"):
            return str(exception_info.get("exception_message") or "unknown error")
        return None
    for info in exception_info.values():
        if (message := _raised(info)) is not None:
            return message
    return None


def _mask(columns: list[str], value: Any) -> Any:
    """Mask ``value`` read from ``columns`` (one value, a row dict, or a compound-key tuple)."""
    if isinstance(value, Mapping):
        return {k: _mask([str(k)], v) for k, v in value.items()}
    if isinstance(value, tuple | list) and len(columns) > 1 and len(value) == len(columns):
        return {c: mask_for_column(c, v) for c, v in zip(columns, value, strict=True)}
    return mask_for_column(columns[0] if columns else "", value)


def _mask_result(result: dict[str, Any], columns: list[str]) -> None:
    """Mask every sample value of a GX expectation result in place (also protects Data Docs)."""
    for key in ("partial_unexpected_list", "unexpected_list"):
        if key in result:
            result[key] = [_mask(columns, v) for v in result[key]]
    if "partial_unexpected_counts" in result:
        result["partial_unexpected_counts"] = [
            {**item, "value": _mask(columns, item.get("value"))} for item in result["partial_unexpected_counts"]
        ]
    for key in ("partial_unexpected_index_list", "unexpected_index_list"):
        if key in result:
            result[key] = [_mask(columns, v) if isinstance(v, Mapping) else v for v in result[key]]
    result.pop("unexpected_index_query", None)


def _row_keys(keys: pl.DataFrame, positions: list[Any], limit: int) -> list[str]:
    """Key text (``a:b`` for compound keys) of the rows at ``positions`` of the validated frame."""
    rows = [int(p) for p in positions if isinstance(p, numbers.Integral) and 0 <= p < keys.height]
    texts = [
        ":".join("<null>" if v is None else str(mask_for_column(c, v)) for c, v in zip(keys.columns, row, strict=True))
        for row in keys[rows].iter_rows()
    ]
    return list(dict.fromkeys(texts))[:limit]


def _outcome(check: CheckDef, result: dict[str, Any], success: bool, keys: pl.DataFrame,
             sample_size: int) -> ExpectationOutcome:
    counts = result.get("partial_unexpected_counts")
    values = [item.get("value") for item in counts] if counts is not None \
        else result.get("partial_unexpected_list", [])
    sample = [", ".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, Mapping) else str(v)
              for v in values if v is not None]
    return ExpectationOutcome(
        check_name=check.name,
        expectation_type=check.expectation or "",
        column=check.column,
        success=bool(success),
        severity=check.severity,
        blocking=check.blocking,
        element_count=int(result.get("element_count") or 0),
        unexpected_count=int(result.get("unexpected_count") or 0),
        unexpected_percent=float(result.get("unexpected_percent") or 0.0),
        sample=list(dict.fromkeys(sample))[:sample_size],
        row_keys=_row_keys(keys, list(result.get("partial_unexpected_index_list") or []), sample_size),
        description=check.description,
    )


def _validate_gx(spec: SuiteSpec, frame: pl.DataFrame, *, sample_size: int) -> tuple[Any, list[ExpectationOutcome]]:
    """Validate ``frame`` (prepared) in an ephemeral context; row keys are looked up by position,
    as GX's own key lookup walks every failing row in Python."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_def = (ctx.data_sources.add_pandas("crm_golden").add_dataframe_asset(spec.name)
                 .add_batch_definition_whole_dataframe("whole_frame"))
    suite = ctx.suites.add(to_gx_suite(spec))
    batch = batch_def.get_batch(batch_parameters={"dataframe": frame.to_pandas()})
    result = batch.validate(suite, result_format={
        "result_format": "SUMMARY",
        "partial_unexpected_count": max(sample_size, 1),
    })
    by_name = {c.name: c for c in spec.checks}
    keys = frame.select(spec.key_columns)
    outcomes = []
    for r in result.results:
        check = by_name[r.expectation_config.meta["check_name"]]
        if (message := _raised(r.exception_info)) is not None:
            raise SuiteExecutionError(
                f"suite {spec.name}: check {check.name} on column {check.column} could not run: "
                f"{message.splitlines()[0][:300]}"
            )
        _mask_result(r.result, check.columns)
        outcomes.append(_outcome(check, r.result, r.success, keys, sample_size))
    return result, outcomes


def run_suite(
    name: str,
    df: pl.DataFrame | pd.DataFrame,
    *,
    thresholds: Thresholds | Mapping[str, object] | str | os.PathLike[str] | None = None,
    staged: pl.DataFrame | pd.DataFrame | None = None,
    data_docs_dir: str | os.PathLike[str] | None = None,
) -> SuiteOutcome:
    """Validate ``df`` with suite ``name`` in an ephemeral Great Expectations context.

    ``thresholds``: a Thresholds, a mapping of overrides, a YAML path, or None (shipped
    defaults plus ``$CRM_GOLDEN_THRESHOLDS``). ``staged``: the staged customers, required by
    ``golden_crosswalk`` to reconcile. ``data_docs_dir``: also write masked Data Docs there.
    Outcomes come in suite order; samples are masked before they leave this function.
    """
    t = resolve_thresholds(thresholds)
    spec = suite_spec(name, thresholds=t)
    frame = _to_polars(df, what=f"suite {name}")
    related: dict[str, pl.DataFrame] = {}
    if staged is not None:
        related["staged"] = _to_polars(staged, what=f"suite {name}, staged=")
    absent = [r for r in spec.requires if r not in related]
    if absent:
        raise SuiteInputError(f"suite {name} reconciles against other tables: pass {', '.join(absent)}=")
    prepared = _prepare(frame, spec)

    gx_result, gx_outcomes = None, []
    if any(c.expectation for c in spec.checks):
        gx_result, gx_outcomes = _validate_gx(spec, prepared, sample_size=t.sample_size)
    by_name = {o.check_name: o for o in gx_outcomes}
    outcomes = [
        by_name[c.name] if c.expectation else c.evaluate(frame, related, t)
        for c in spec.checks
    ]
    outcome = SuiteOutcome(
        suite=name,
        success=not any(not o.success and o.severity == "error" for o in outcomes),
        outcomes=outcomes,
        validation_result=gx_result,
    )
    if data_docs_dir is not None and gx_result is not None:
        from expectations.data_docs import build_data_docs

        index = build_data_docs([outcome], Path(data_docs_dir))
        outcome = dataclasses.replace(outcome, data_docs_index=str(index))
    log.debug("%s", outcome.summary())
    return outcome
