"""Suite outcomes as Dagster asset checks (the only module here that imports Dagster)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from expectations.outcomes import SuiteOutcome
from expectations.suites import suite_spec
from expectations.thresholds import Thresholds

_SEVERITY = {"error": dg.AssetCheckSeverity.ERROR, "warn": dg.AssetCheckSeverity.WARN}


def check_specs(
    suite_name: str,
    asset_key: dg.AssetKey | str | list[str],
    *,
    thresholds: Thresholds | None = None,
) -> list[dg.AssetCheckSpec]:
    """One ``AssetCheckSpec`` per check of the suite, named as ``to_check_results`` yields them.

    Critical (blocking) checks get ``blocking=True``: their failure stops downstream assets in
    the same run. Cheap: does not import Great Expectations.
    """
    spec = suite_spec(suite_name, thresholds=thresholds)
    return [
        dg.AssetCheckSpec(
            check.name,
            asset=asset_key,
            description=check.description or None,
            blocking=check.blocking,
            metadata={"suite": suite_name, "column": check.column or "", "severity": check.severity},
        )
        for check in spec.checks
    ]


def to_check_results(
    outcome: SuiteOutcome,
    *,
    asset_key: dg.AssetKey | str | list[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> list[dg.AssetCheckResult]:
    """One ``AssetCheckResult`` per expectation; metadata carries counts and the masked sample.

    ``asset_key`` is needed when the results are yielded from a multi-asset or a
    ``@multi_asset_check``; an ``@asset`` with ``check_specs=`` can leave it out. ``metadata`` is
    added to every result (e.g. a link to the Data Docs); with ``outcome.data_docs_index`` set,
    a ``data_docs`` path is added too.
    """
    extra = dict(metadata or {})
    if outcome.data_docs_index:
        extra.setdefault("data_docs", dg.MetadataValue.path(outcome.data_docs_index))
    return [
        dg.AssetCheckResult(
            passed=o.success,
            asset_key=asset_key,
            check_name=o.check_name,
            severity=_SEVERITY[o.severity],
            description=o.describe(),
            metadata={
                "suite": outcome.suite,
                "expectation": o.expectation_type,
                "column": o.column or "",
                "element_count": o.element_count,
                "unexpected_count": o.unexpected_count,
                "unexpected_percent": dg.MetadataValue.float(float(o.unexpected_percent)),
                "sample": dg.MetadataValue.json(list(o.sample)),
                "row_keys": dg.MetadataValue.json(list(o.row_keys)),
                "blocking": o.blocking,
                **extra,
            },
        )
        for o in outcome.outcomes
    ]
