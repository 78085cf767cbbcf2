"""Expectation metrics computed batch by batch, shaped like Great Expectations' SUMMARY results.

Great Expectations' pandas engine needs the whole table as one pandas frame (a full copy per
suite, several GB at a million rows). These are the same metrics, summed over bounded polars
batches: counts are exact, the sample is the first ``partial_unexpected_count`` unexpected
values in row order, as GX reports them, and the result dict has GX's keys so Data Docs render
it unchanged. Each expectation type the suites use has its own (evaluated, unexpected) rule here.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from typing import Any

import polars as pl

from expectations.definitions import CheckDef
from expectations.outcomes import SuiteInputError

UNIQUE = {"ExpectColumnValuesToBeUnique", "ExpectCompoundColumnsToBeUnique"}
_COLUMN_MAP = {"ExpectColumnValuesToBeUnique", "ExpectColumnValuesToMatchRegex", "ExpectColumnValuesToBeInSet",
               "ExpectColumnValuesToBeBetween"}
SUPPORTED = {*_COLUMN_MAP, "ExpectColumnValuesToNotBeNull", "ExpectCompoundColumnsToBeUnique"}
_DUP = "_dup"


def _unexpected(check: CheckDef) -> pl.Expr:
    """True on rows the check counts as unexpected (only read on the rows it evaluates)."""
    kind, kw = check.expectation, check.kwargs
    if kind == "ExpectColumnValuesToNotBeNull":
        return pl.col(kw["column"]).is_null()
    if kind in UNIQUE:
        return pl.col(_DUP + check.name).is_not_null()
    col = pl.col(kw["column"])
    if kind == "ExpectColumnValuesToMatchRegex":
        return ~col.str.contains(kw["regex"])
    if kind == "ExpectColumnValuesToBeInSet":
        return ~col.is_in(list(kw["value_set"]))
    if kind == "ExpectColumnValuesToBeBetween":
        out = pl.lit(False)
        if kw.get("min_value") is not None:
            out = out | (col < pl.lit(kw["min_value"]))
        if kw.get("max_value") is not None:
            out = out | (col > pl.lit(kw["max_value"]))
        return out
    raise SuiteInputError(f"check {check.name}: expectation {kind} has no batch metric")


def _evaluated(check: CheckDef) -> pl.Expr:
    """Rows the check looks at: all for not-null, non-null values for column checks, rows with any
    value for compound keys (GX's ``ignore_row_if="all_values_are_missing"``)."""
    if check.expectation == "ExpectColumnValuesToNotBeNull":
        return pl.lit(True)
    if check.expectation == "ExpectCompoundColumnsToBeUnique":
        return pl.any_horizontal(pl.col(c).is_not_null() for c in check.columns)
    return pl.col(check.kwargs["column"]).is_not_null()


@dataclasses.dataclass
class Tally:
    """Running totals of one check over the batches seen so far."""

    check: CheckDef
    limit: int
    element_count: int = 0
    evaluated: int = 0
    unexpected: int = 0
    values: list[Any] = dataclasses.field(default_factory=list)
    keys: list[tuple] = dataclasses.field(default_factory=list)

    def add(self, batch: pl.DataFrame, key_columns: list[str]) -> None:
        check = self.check
        flags = batch.select(
            ev=_evaluated(check),
            bad=_evaluated(check) & _unexpected(check).fill_null(False),
        )
        self.element_count += batch.height
        self.evaluated += int(flags["ev"].sum())
        n_bad = int(flags["bad"].sum())
        self.unexpected += n_bad
        room = self.limit - len(self.values)
        if n_bad and room > 0:
            rows = batch.filter(flags["bad"]).head(room)
            self.keys += rows.select(key_columns).rows()
            if check.expectation == "ExpectCompoundColumnsToBeUnique":
                self.values += rows.select(check.columns).rows(named=True)
            else:
                self.values += rows[check.kwargs["column"]].to_list()

    def result(self) -> tuple[bool, dict[str, Any], list[tuple]]:
        """(success, GX-shaped SUMMARY result, keys of the sampled rows)."""
        check = self.check
        mostly = float(check.kwargs.get("mostly", 1))
        not_null = check.expectation == "ExpectColumnValuesToNotBeNull"
        considered = self.element_count if not_null else self.evaluated
        success = True if considered == 0 or self.element_count == 0 else \
            (considered - self.unexpected) / considered >= mostly
        result: dict[str, Any] = {
            "element_count": self.element_count,
            "unexpected_count": self.unexpected,
            "unexpected_percent": None,
            "partial_unexpected_list": list(self.values),
        }
        if self.element_count:
            total_pct = self.unexpected / self.element_count * 100
            if not_null:
                result["unexpected_percent"] = total_pct
            else:
                nonmissing = self.unexpected / self.evaluated * 100 if self.evaluated else None
                result.update(unexpected_percent=nonmissing, missing_count=self.element_count - self.evaluated,
                              missing_percent=(self.element_count - self.evaluated) / self.element_count * 100,
                              unexpected_percent_total=total_pct, unexpected_percent_nonmissing=nonmissing)
        elif not not_null:
            result.update(missing_count=0, missing_percent=None, unexpected_percent_total=None,
                          unexpected_percent_nonmissing=None)
        counts = _value_counts(self.values, self.limit)
        if counts is not None:
            result["partial_unexpected_counts"] = counts
        result["partial_unexpected_index_list"] = list(range(len(self.keys)))
        return success, result, list(self.keys)


def _value_counts(values: list[Any], limit: int) -> list[dict[str, Any]] | None:
    """GX's ``partial_unexpected_counts``: the most common sampled values, by count then value
    (None when the values cannot be ordered, as GX leaves it out then)."""
    hashable = [tuple(v.values()) if isinstance(v, dict) else v for v in values]
    try:
        return [{"value": v, "count": n}
                for v, n in sorted(Counter(hashable).most_common(limit), key=lambda x: (-x[1], x[0]))]
    except TypeError:
        return None


def mark_duplicates(batch: pl.DataFrame, checks: Iterable[CheckDef],
                    duplicated: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Add a ``_dup<check>`` column (non-null on rows whose key occurs more than once in the whole
    source) for each uniqueness check, from the duplicated keys the source found beforehand."""
    for check in checks:
        if check.expectation not in UNIQUE:
            continue
        dups = duplicated[check.name]
        cols = check.columns
        marker = dups.select(cols).with_columns(pl.lit(True).alias(_DUP + check.name))
        marker = marker.with_columns(pl.col(c).cast(batch.schema[c]) for c in cols)
        batch = batch.join(marker, on=cols, how="left", nulls_equal=True, maintain_order="left")
    return batch
