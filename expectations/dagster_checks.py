"""Suite outcomes as Dagster asset checks (the only module here that imports Dagster)."""

from __future__ import annotations

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
) -> list[dg.AssetCheckResult]:
    """One ``AssetCheckResult`` per expectation; metadata carries counts and the masked sample.

    ``asset_key`` is needed when the results are yielded from a multi-asset or a
    ``@multi_asset_check``; an ``@asset`` with ``check_specs=`` can leave it out.
    """
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
            },
        )
        for o in outcome.outcomes
    ]
