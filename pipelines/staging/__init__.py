"""Staging: every source's raw customer table mapped to the canonical staged schema.

Pure polars (no orchestration imports): the Dagster assets wrap these functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import polars as pl

from pipelines.staging.demo_layout import stage_erp, stage_sheets, stage_shop
from pipelines.staging.loads import NON_RECORD_RULES, truncated_pages
from pipelines.staging.mapping import MappingError, map_customers, record_ids
from pipelines.staging.purchases import purchase_quarantine
from pipelines.staging.result import FIELD_ISSUES_SCHEMA, QUARANTINE_SCHEMA, StageResult, StagingError
from pipelines.staging.scorecard import scorecard, scorecard_markdown
from pipelines.staging.stage import stage_source

__all__ = [
    "FIELD_ISSUES_SCHEMA",
    "NON_RECORD_RULES",
    "QUARANTINE_SCHEMA",
    "MappingError",
    "StageResult",
    "StagingError",
    "map_customers",
    "purchase_quarantine",
    "record_ids",
    "scorecard",
    "scorecard_markdown",
    "stage_all",
    "stage_erp",
    "stage_sheets",
    "stage_shop",
    "stage_source",
    "truncated_pages",
]


def stage_all(
    frames: Mapping[str, pl.DataFrame],
    *,
    date_formats: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> StageResult:
    """Stage ``{"erp": ..., "shop": ..., "sheets": ...}`` (any subset) into one result.

    ``record_id`` is ``source + ":" + source_record_id``. Unknown keys raise :class:`StagingError`.
    """
    stagers = {"erp": stage_erp, "shop": stage_shop}
    unknown = set(frames) - {*stagers, "sheets"}
    if unknown:
        raise StagingError(f"stage_all: unknown source frame(s) {sorted(unknown)}; expected erp, shop, sheets")
    now = now or datetime.now(UTC)
    results = [stagers[name](frame, now=now) for name, frame in frames.items() if name in stagers]
    if "sheets" in frames:
        results.append(stage_sheets(frames["sheets"], date_formats=date_formats, now=now))
    return StageResult.concat(results)
