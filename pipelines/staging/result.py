"""What staging hands on: staged customers plus the rows and fields it refused."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from dedupe.canonical import STAGED_SCHEMA, empty_staged

#: One row per input row that did not make it into ``customers``.
QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.Utf8(), "source_record_id": pl.Utf8(), "rule": pl.Utf8(), "field": pl.Utf8(),
    "raw_value": pl.Utf8(),
}
#: One row per field value that staging changed or flagged (the row itself is kept).
FIELD_ISSUES_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.Utf8(), "source_record_id": pl.Utf8(), "field": pl.Utf8(), "rule": pl.Utf8(),
    "raw_value": pl.Utf8(), "action": pl.Utf8(),
}


class StagingError(ValueError):
    """A source table cannot be staged at all (e.g. its key column is missing)."""


@dataclass
class StageResult:
    """Staged customers (``STAGED_SCHEMA``), quarantined rows and per-field issues."""

    customers: pl.DataFrame = field(default_factory=empty_staged)
    quarantine: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=QUARANTINE_SCHEMA))
    field_issues: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=FIELD_ISSUES_SCHEMA))

    def __post_init__(self) -> None:
        for name, schema in (("customers", STAGED_SCHEMA), ("quarantine", QUARANTINE_SCHEMA),
                             ("field_issues", FIELD_ISSUES_SCHEMA)):
            frame = getattr(self, name)
            if frame.schema != pl.Schema(schema):
                raise StagingError(f"StageResult.{name}: columns {frame.columns} do not match its schema")

    @classmethod
    def concat(cls, results: list[StageResult]) -> StageResult:
        """All results one after the other."""
        if not results:
            return cls()
        return cls(
            customers=pl.concat([r.customers for r in results]),
            quarantine=pl.concat([r.quarantine for r in results]),
            field_issues=pl.concat([r.field_issues for r in results]),
        )

    def counts(self) -> dict[str, int]:
        """Row counts per table (for logs and asset metadata: no values)."""
        return {"customers": self.customers.height, "quarantine": self.quarantine.height,
                "field_issues": self.field_issues.height}
