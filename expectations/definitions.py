"""Declarative check definitions: what a suite checks, without importing Great Expectations.

Dagster needs the check names, severities and blocking flags when definitions load; building
the Great Expectations suite (a 6-7 s import) is deferred to the run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from expectations.outcomes import ExpectationOutcome, Severity

if TYPE_CHECKING:
    from expectations.thresholds import Thresholds

#: A check computed outside Great Expectations: (checked frame, related frames, thresholds) -> outcome.
Evaluator = Callable[["pl.DataFrame", Mapping[str, "pl.DataFrame"], "Thresholds"], ExpectationOutcome]
#: The same check on warehouse tables, in SQL: (DuckDB connection, checked table, related tables by
#: name, thresholds) -> outcome. Optional; without it the table's key columns are read into a frame.
SqlEvaluator = Callable[[Any, str, Mapping[str, str], "Thresholds"], ExpectationOutcome]


@dataclasses.dataclass(frozen=True, kw_only=True)
class CheckDef:
    """One check: a Great Expectations expectation (``expectation`` + ``kwargs``) or a polars
    ``evaluate`` function that needs the related frames named in ``requires``."""

    name: str
    column: str | None
    severity: Severity = "error"
    blocking: bool = False
    description: str = ""
    expectation: str | None = None
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    evaluate: Evaluator | None = None
    evaluate_sql: SqlEvaluator | None = None
    requires: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.expectation is None) == (self.evaluate is None):
            raise ValueError(f"check {self.name!r}: give exactly one of expectation= or evaluate=")
        if self.severity not in ("error", "warn"):
            raise ValueError(f"check {self.name!r}: severity must be 'error' or 'warn'")
        if self.blocking and self.severity != "error":
            raise ValueError(f"check {self.name!r}: only error-severity checks can block")

    @property
    def columns(self) -> list[str]:
        """Columns of the checked frame this expectation reads."""
        cols = list(self.kwargs.get("column_list", ()))
        if "column" in self.kwargs:
            cols.append(self.kwargs["column"])
        return cols


@dataclasses.dataclass(frozen=True, kw_only=True)
class SuiteSpec:
    """A suite: its checks, the columns that name a row in samples, and helper columns.

    ``derived`` columns (e.g. "has a name") are computed with polars before validation, so a
    check across several columns stays a plain column expectation. ``optional_columns`` may be
    absent from the input; they are then read as all-null text.
    """

    name: str
    checks: tuple[CheckDef, ...]
    key_columns: tuple[str, ...]
    derived: Mapping[str, pl.Expr] = dataclasses.field(default_factory=dict)
    optional_columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = [c.name for c in self.checks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"suite {self.name!r}: duplicate check names {dupes}")

    @property
    def required_columns(self) -> list[str]:
        """Input columns the suite needs (checked, key and derived-from columns)."""
        needed: list[str] = list(self.key_columns)
        for expr in self.derived.values():
            needed += expr.meta.root_names()
        for check in self.checks:
            needed += [c for c in check.columns if c not in self.derived]
        return list(dict.fromkeys(needed))

    @property
    def requires(self) -> tuple[str, ...]:
        """Related frames (keyword arguments of ``run_suite``) the suite's checks need."""
        return tuple(dict.fromkeys(r for c in self.checks for r in c.requires))
