"""A per-source quality scorecard of one staging run: completeness, validity, duplicate rate.

Computed from the staged rows and the rows/fields staging refused, so it needs no second pass
over the raw data. Shares are of the rows each measure applies to (see ``scorecard``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import polars as pl

from pipelines.staging.loads import NON_RECORD_RULES
from pipelines.staging.result import StageResult

_PRESENT = {
    "name": pl.any_horizontal(pl.col("given_name", "surname", "full_name").is_not_null()),
    "email": pl.col("email").is_not_null(),
    "phone": pl.col("phone").is_not_null(),
    "address": pl.any_horizontal(pl.col("street", "city").is_not_null()),
    "country": pl.col("country").is_not_null(),
}
_NULLED = {"email": ("malformed_email",), "phone": ("invalid_phone", "unresolved_phone")}
#: the staged customers' columns the scorecard reads
CARD_COLUMNS = ("source", "given_name", "surname", "full_name", "email", "phone", "street", "city", "country")


def scorecard(result: StageResult, rows_read: Mapping[str, int]) -> pl.DataFrame:
    """One row per source.

    ``result``: a ``StageResult``, or anything with its three frames (``customers`` may hold only
    ``CARD_COLUMNS``). ``rows_read``: raw rows per source (sheets by file stem). Columns: ``rows_read``, ``staged``,
    ``quarantined`` (record rules only), ``duplicate_rate`` (duplicate-key rows / rows read),
    ``complete_<field>`` (share of staged rows with the field), ``valid_email`` / ``valid_phone``
    (kept values / values the source sent: kept plus nulled as invalid), ``field_issues``.
    """
    staged = result.customers.group_by("source").agg(
        pl.len().alias("staged"), *(e.mean().alias(f"complete_{f}") for f, e in _PRESENT.items()),
        *(pl.col(f).is_not_null().sum().alias(f"__kept_{f}") for f in _NULLED),
    )
    q = result.quarantine.filter(~pl.col("rule").is_in(NON_RECORD_RULES)).group_by("source").agg(
        pl.len().alias("quarantined"), (pl.col("rule") == "duplicate_primary_key").sum().alias("__dups"))
    issues = result.field_issues.group_by("source").agg(
        pl.len().alias("field_issues"),
        *(pl.col("rule").is_in(rules).sum().alias(f"__nulled_{f}") for f, rules in _NULLED.items()),
    )
    read = pl.DataFrame({"source": list(rows_read), "rows_read": list(rows_read.values())},
                        schema={"source": pl.Utf8, "rows_read": pl.Int64})
    card = (read.join(staged, on="source", how="full", coalesce=True)
            .join(q, on="source", how="left").join(issues, on="source", how="left")
            .with_columns(pl.col("rows_read", "staged", "quarantined", "field_issues", "__dups").fill_null(0)))
    validity = [
        (pl.col(f"__kept_{f}") / (pl.col(f"__kept_{f}") + pl.col(f"__nulled_{f}").fill_null(0))).alias(f"valid_{f}")
        for f in _NULLED
    ]
    return card.with_columns(
        (pl.col("__dups") / pl.col("rows_read")).alias("duplicate_rate"), *validity,
    ).select(
        "source", "rows_read", "staged", "quarantined", "duplicate_rate",
        *(f"complete_{f}" for f in _PRESENT), *(f"valid_{f}" for f in _NULLED), "field_issues",
    ).sort("source")


def scorecard_markdown(card: pl.DataFrame) -> str:
    """The scorecard as a markdown table (shares in %, ``-`` where a share has no base)."""
    headers = ["source", "read", "staged", "quarantined", "dup %", *(f"{f} %" for f in _PRESENT),
               "valid email %", "valid phone %", "field issues"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in card.iter_rows(named=True):
        shares = [row["duplicate_rate"], *(row[f"complete_{f}"] for f in _PRESENT),
                  row["valid_email"], row["valid_phone"]]
        cells = [row["source"], f"{row['rows_read']:,}", f"{row['staged']:,}", f"{row['quarantined']:,}",
                 *("-" if v is None or not math.isfinite(v) else f"{100 * v:.1f}" for v in shares), f"{row['field_issues']:,}"]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)
