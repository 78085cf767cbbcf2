"""Suite outcomes as Dagster asset checks, proven in real in-process materialisations."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from expectations.dagster_checks import check_specs, to_check_results
from expectations.runner import run_suite

STAGED = dg.AssetKey(["staging", "customers"])
BLOCKING = {"record_ids_are_unique", "record_ids_are_present", "sources_are_present",
            "source_record_ids_are_present"}


@pytest.fixture(scope="module")
def dirty_outcome(dirty_staged):
    return run_suite("staged_customers", dirty_staged)


def test_results_carry_names_severities_and_metadata(dirty_outcome):
    results = to_check_results(dirty_outcome, asset_key=STAGED)
    assert all(isinstance(r, dg.AssetCheckResult) for r in results)
    assert [r.check_name for r in results] == [o.check_name for o in dirty_outcome.outcomes]
    severities = {r.check_name: r.severity for r in results}
    assert severities.pop("names_are_present") == dg.AssetCheckSeverity.WARN
    assert set(severities.values()) == {dg.AssetCheckSeverity.ERROR}
    passed = {r.check_name: r.passed for r in results}
    assert passed == {o.check_name: o.success for o in dirty_outcome.outcomes}
    assert passed["updated_at_is_plausible"] is False and passed["record_ids_are_unique"] is False
    emails = next(r for r in results if r.check_name == "emails_are_valid")
    assert emails.asset_key == STAGED
    assert emails.metadata["unexpected_count"].value == 2
    assert emails.metadata["element_count"].value == 8
    assert emails.metadata["column"].value == "email"
    assert emails.metadata["expectation"].value == "ExpectColumnValuesToMatchRegex"
    assert sorted(emails.metadata["sample"].data) == ["a***@b", "j***@example.com"]
    assert "jon@@example.com" not in repr(results)


def test_specs_match_results_and_block_on_critical_checks(dirty_outcome):
    specs = check_specs("staged_customers", STAGED)
    assert [s.name for s in specs] == [r.check_name for r in to_check_results(dirty_outcome)]
    assert {s.name for s in specs if s.blocking} == BLOCKING
    assert all(s.asset_key == STAGED for s in specs)
    for suite in ("golden_customers", "golden_crosswalk"):
        names = [s.name for s in check_specs(suite, ["golden", suite])]
        assert len(names) == len(set(names)) > 0


def _staged_asset(frame: pl.DataFrame) -> dg.AssetsDefinition:
    @dg.asset(key=STAGED, check_specs=check_specs("staged_customers", STAGED))
    def staged_customers():
        outcome = run_suite("staged_customers", frame)
        return dg.MaterializeResult(metadata={"rows": frame.height}, check_results=to_check_results(outcome))

    return staged_customers


@dg.asset(deps=[STAGED], key=["matching", "pairs"])
def downstream():
    return dg.MaterializeResult(metadata={"ran": True})


def test_clean_frame_materialises_with_passing_checks(clean_staged):
    result = dg.materialize([_staged_asset(clean_staged), downstream],
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert {e.check_name for e in evaluations} == {s.name for s in check_specs("staged_customers", STAGED)}
    assert all(e.passed for e in evaluations)
    assert {m.asset_key for m in result.get_asset_materialization_events()} == {STAGED, downstream.key}


def test_blocking_failure_stops_downstream(dirty_staged):
    result = dg.materialize([_staged_asset(dirty_staged), downstream],
                            instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success
    failed = {e.check_name: e.severity for e in result.get_asset_check_evaluations() if not e.passed}
    assert BLOCKING <= set(failed)
    assert failed["names_are_present"] == dg.AssetCheckSeverity.WARN
    materialised = {m.asset_key for m in result.get_asset_materialization_events()}
    assert materialised == {STAGED}


def test_multi_asset_check_form(clean_staged):
    golden_key = dg.AssetKey(["golden", "crosswalk"])
    staged_ids = clean_staged.select("record_id")
    crosswalk = clean_staged.select("source", "source_record_id", "record_id").with_columns(
        golden_id=pl.lit("G1"))

    @dg.asset(key=golden_key)
    def golden_crosswalk():
        return dg.MaterializeResult()

    @dg.multi_asset_check(specs=check_specs("golden_crosswalk", golden_key), can_subset=False)
    def crosswalk_suite():
        outcome = run_suite("golden_crosswalk", crosswalk, staged=staged_ids)
        yield from to_check_results(outcome, asset_key=golden_key)

    result = dg.materialize([golden_crosswalk, crosswalk_suite], instance=dg.DagsterInstance.ephemeral())
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert sorted(e.check_name for e in evaluations) == sorted(
        ["source_keys_are_unique", "golden_ids_are_present", "staged_records_appear_once_in_crosswalk"])
    assert all(e.passed and e.asset_key == golden_key for e in evaluations)
