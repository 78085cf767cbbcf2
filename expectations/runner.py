"""Run a suite on a polars/pandas frame or a DuckDB table and return masked, Dagster-free outcomes.

No whole-table pandas copy and no Great Expectations import while validating: the expectation
metrics are computed in bounded batches (``expectations.metrics``); Great Expectations renders the
Data Docs from the same results.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from expectations.definitions import CheckDef, SuiteSpec
from expectations.masking import mask_for_column
from expectations.metrics import SUPPORTED, UNIQUE, Tally, mark_duplicates
from expectations.outcomes import ExpectationOutcome, SuiteExecutionError, SuiteInputError, SuiteOutcome
from expectations.prepare import prepare_frame as _prepare
from expectations.sources import FrameSource, TableSource
from expectations.suites import suite_spec
from expectations.thresholds import Thresholds, resolve_thresholds

if TYPE_CHECKING:
    import duckdb
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


def _key_text(key_columns: list[str], row: tuple) -> str:
    """Key text of a row (``a:b`` for compound keys), masked like any other value."""
    return ":".join("<null>" if v is None else str(mask_for_column(c, v)) for c, v in zip(key_columns, row, strict=True))


def _outcome(check: CheckDef, result: dict[str, Any], success: bool, row_keys: list[str],
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
        row_keys=list(dict.fromkeys(row_keys))[:sample_size],
        description=check.description,
    )


@dataclasses.dataclass(frozen=True)
class SuiteValidation:
    """A suite's masked expectation results in Great Expectations' SUMMARY shape, kept as plain data
    so validating never imports Great Expectations; ``expectations.data_docs`` renders it."""

    suite_name: str
    spec: SuiteSpec
    #: (check name, success, masked result dict) per expectation, in suite order
    results: list[tuple[str, bool, dict[str, Any]]]

    @property
    def success(self) -> bool:
        by_name = {c.name: c for c in self.spec.checks}
        return not any(not ok and by_name[name].severity == "error" for name, ok, _ in self.results)


def _validate(spec: SuiteSpec, source: FrameSource | TableSource, *,
              sample_size: int) -> tuple[SuiteValidation, list[ExpectationOutcome]]:
    """Validate the expectation checks of ``spec`` on ``source`` batch by batch (bounded memory)."""
    checks = [c for c in spec.checks if c.expectation]
    unsupported = sorted({c.expectation for c in checks} - SUPPORTED)
    if unsupported:
        raise SuiteExecutionError(f"suite {spec.name}: no batch metric for {unsupported}")
    columns = _input_columns(spec, source)
    _prepare(source.empty(columns), spec, what=source.what)  # column and type errors, even when empty
    duplicated = {c.name: source.duplicated(c.columns, ignore_all_null=len(c.columns) > 1)
                  for c in checks if c.expectation in UNIQUE}
    limit = max(sample_size, 1)
    tallies = [Tally(check=c, limit=limit) for c in checks]
    keys = list(spec.key_columns)
    for batch in source.batches(columns):
        prepared = mark_duplicates(_prepare(batch, spec, what=source.what), checks, duplicated)
        for tally in tallies:
            try:
                tally.add(prepared, keys)
            except pl.exceptions.PolarsError as exc:
                raise SuiteExecutionError(
                    f"suite {spec.name}: check {tally.check.name} on column {tally.check.column} could not run: "
                    f"{str(exc).strip().splitlines()[0][:300]}") from None
    results, outcomes = [], []
    for tally in tallies:
        success, result, key_rows = tally.result()
        _mask_result(result, tally.check.columns)
        row_keys = [_key_text(keys, row) for row in key_rows]
        results.append((tally.check.name, success, result))
        outcomes.append(_outcome(tally.check, result, success, row_keys, sample_size))
    return SuiteValidation(suite_name=spec.name, spec=spec, results=results), outcomes


def _input_columns(spec: SuiteSpec, source: FrameSource | TableSource) -> list[str]:
    """The source columns the suite reads (absent optional ones are added as nulls later)."""
    present = set(source.columns)
    missing = [c for c in spec.required_columns if c not in present and c not in spec.optional_columns]
    if missing:
        raise SuiteInputError(
            f"suite {spec.name}: {source.what} lacks column(s) {missing}; it has {source.columns}"
        )
    return [c for c in spec.required_columns if c in present]


def _finish(spec: SuiteSpec, validation: SuiteValidation | None, outcomes: list[ExpectationOutcome],
            data_docs_dir: str | os.PathLike[str] | None) -> SuiteOutcome:
    outcome = SuiteOutcome(
        suite=spec.name,
        success=not any(not o.success and o.severity == "error" for o in outcomes),
        outcomes=outcomes,
        validation_result=validation,
    )
    if data_docs_dir is not None and validation is not None:
        from expectations.data_docs import build_data_docs

        index = build_data_docs([outcome], Path(data_docs_dir))
        outcome = dataclasses.replace(outcome, data_docs_index=str(index))
    log.debug("%s", outcome.summary())
    return outcome


def _run(spec: SuiteSpec, source: FrameSource | TableSource, t: Thresholds,
         evaluate_input: Callable[[], pl.DataFrame], related: dict[str, pl.DataFrame]) -> tuple[
             SuiteValidation | None, list[ExpectationOutcome]]:
    absent = [r for r in spec.requires if r not in related]
    if absent:
        raise SuiteInputError(f"suite {spec.name} reconciles against other tables: pass {', '.join(absent)}=")
    validation, gx_outcomes = None, []
    if any(c.expectation for c in spec.checks):
        validation, gx_outcomes = _validate(spec, source, sample_size=t.sample_size)
    by_name = {o.check_name: o for o in gx_outcomes}
    frame = evaluate_input() if any(c.evaluate for c in spec.checks) else None
    return validation, [
        by_name[c.name] if c.expectation else c.evaluate(frame, related, t)
        for c in spec.checks
    ]


def run_suite(
    name: str,
    df: pl.DataFrame | pd.DataFrame,
    *,
    thresholds: Thresholds | Mapping[str, object] | str | os.PathLike[str] | None = None,
    staged: pl.DataFrame | pd.DataFrame | None = None,
    data_docs_dir: str | os.PathLike[str] | None = None,
) -> SuiteOutcome:
    """Validate ``df`` with suite ``name`` (Great Expectations' expectations, computed batch by batch).

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
    validation, outcomes = _run(spec, FrameSource(frame, what="input frame"), t, lambda: frame, related)
    return _finish(spec, validation, outcomes, data_docs_dir)


def run_suite_on_table(
    name: str,
    con: duckdb.DuckDBPyConnection,
    table: str,
    *,
    thresholds: Thresholds | Mapping[str, object] | str | os.PathLike[str] | None = None,
    staged_table: str | None = None,
    data_docs_dir: str | os.PathLike[str] | None = None,
) -> SuiteOutcome:
    """Validate DuckDB table ``table`` (``schema.name``) with suite ``name`` without loading it whole.

    Column checks stream the table in Arrow batches, uniqueness is grouped in SQL, so memory
    stays at one batch (plus the duplicated keys) at any size; outcomes are the same as
    :func:`run_suite` on the table read into a frame. Cross-table checks read only key columns:
    ``staged_table`` (its ``record_id``) stands in for ``staged=``.
    """
    t = resolve_thresholds(thresholds)
    spec = suite_spec(name, thresholds=t)
    source = TableSource(con, table)
    tables = {"staged": staged_table} if staged_table is not None else {}
    absent = [r for r in spec.requires if r not in tables]
    if absent:
        raise SuiteInputError(f"suite {spec.name} reconciles against other tables: pass {', '.join(absent)}_table=")
    # cross-table checks run in SQL where they can; otherwise on the key columns read into frames
    in_sql = {c.name for c in spec.checks if c.evaluate_sql is not None}
    related = {} if all(c.name in in_sql for c in spec.checks if c.evaluate) else \
        {r: TableSource(con, tab).read(_KEY_COLUMNS) for r, tab in tables.items()}
    sql_spec = dataclasses.replace(spec, checks=tuple(c for c in spec.checks if c.name not in in_sql))
    validation, outcomes = _run(sql_spec, source, t, lambda: source.read(_KEY_COLUMNS), related)
    by_name = {o.check_name: o for o in outcomes}
    for check in spec.checks:
        if check.name in in_sql:
            by_name[check.name] = check.evaluate_sql(con, table, tables, t)
    return _finish(spec, validation, [by_name[c.name] for c in spec.checks], data_docs_dir)


#: The columns a cross-table check reads from a table (whichever exist): record keys only.
_KEY_COLUMNS = ("record_id", "source", "source_record_id")


def run_raw_suite_on_table(
    name: str,
    con: duckdb.DuckDBPyConnection,
    table: str,
    *,
    thresholds: Thresholds | Mapping[str, object] | str | os.PathLike[str] | None = None,
    full: bool = False,
    data_docs_dir: str | os.PathLike[str] | None = None,
) -> tuple[SuiteOutcome, Any]:
    """Validate a raw table loaded by dlt with suite ``name``, parsing only the rows of new loads.

    The whole table is what the checks assert: each is one SQL aggregate over the table, or over
    its parsed copy ``suite_state.<suite>`` kept up to date load by load (``expectations.table_state``);
    samples are the first unexpected rows by key. ``full`` parses the whole table again. Returns the
    outcome and a ``table_state.Refresh`` saying how the rows were brought up to date. A suite with
    checks SQL cannot compute, or a table without ``_dlt_load_id``, is streamed as by
    :func:`run_suite_on_table`.
    """
    import expectations.table_state as ts

    t = resolve_thresholds(thresholds)
    spec = suite_spec(name, thresholds=t)
    source = TableSource(con, table)
    if not ts.supports(spec) or (spec.derived and ts.LOAD_ID not in source.columns):
        n = source.count()
        return (run_suite_on_table(name, con, table, thresholds=t, data_docs_dir=data_docs_dir),
                ts.Refresh(mode="streamed", rows_read=n, rows_parsed=n, reason="not computable in SQL"))
    if spec.derived:
        info = ts.refresh(con, spec, table, full=full)
    else:
        _input_columns(spec, source)
        info = ts.Refresh(mode="direct", rows_read=0, rows_parsed=0)
    rel, order = ts.check_relation(spec, table, source.columns)
    keys = list(spec.key_columns)
    results, outcomes = [], []
    for check in spec.checks:
        tally = ts.tally(con, rel, check, keys, order, max(t.sample_size, 1))
        success, result, key_rows = tally.result()
        _mask_result(result, check.columns)
        results.append((check.name, success, result))
        outcomes.append(_outcome(check, result, success, [_key_text(keys, row) for row in key_rows], t.sample_size))
    validation = SuiteValidation(suite_name=spec.name, spec=spec, results=results)
    return _finish(spec, validation, outcomes, data_docs_dir), info
