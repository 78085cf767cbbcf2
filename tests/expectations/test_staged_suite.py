"""staged_customers suite on hand-made frames with known violations."""

from __future__ import annotations

import polars as pl
import pytest

from expectations.outcomes import SuiteInputError
from expectations.runner import run_suite

# check -> (element_count, unexpected_count) for the dirty_staged fixture (8 rows)
EXPECTED_DIRTY = {
    "record_ids_are_unique": (8, 2),         # erp:C100001 twice (every duplicate row counts)
    "record_ids_are_present": (8, 1),
    "sources_are_present": (8, 1),
    "source_record_ids_are_present": (8, 1),
    "emails_are_valid": (8, 2),              # jon@@example.com, a@b (of 6 non-null)
    "phones_are_e164": (8, 2),               # 04155550132, +4912 (of 6 non-null)
    "countries_are_allowed": (8, 2),         # us, XX (of 7 non-null)
    "created_at_is_plausible": (8, 2),       # 1899-12-30, 2099-01-01
    "updated_at_is_plausible": (8, 1),       # 2099-01-01
    "names_are_present": (8, 3),             # null-name row, blank full_name, all-null row
}


@pytest.fixture(scope="module")
def dirty_outcome(dirty_staged):
    return run_suite("staged_customers", dirty_staged)


def test_clean_frame_passes_every_check(clean_staged):
    outcome = run_suite("staged_customers", clean_staged)
    assert outcome.success
    assert [o.check_name for o in outcome.outcomes] == list(EXPECTED_DIRTY)
    assert all(o.success and o.unexpected_count == 0 for o in outcome.outcomes)


def test_dirty_frame_counts_each_violation(dirty_outcome):
    got = {o.check_name: (o.element_count, o.unexpected_count) for o in dirty_outcome.outcomes}
    assert got == EXPECTED_DIRTY
    assert not dirty_outcome.success
    assert {o.check_name for o in dirty_outcome.blocking_failures} == {
        "record_ids_are_unique", "record_ids_are_present", "sources_are_present",
        "source_record_ids_are_present",
    }
    assert [o.check_name for o in dirty_outcome.warnings] == ["names_are_present"]


def test_percentages_are_of_non_null_values(dirty_outcome):
    emails = dirty_outcome.outcome("emails_are_valid")
    assert emails.unexpected_percent == pytest.approx(100 * 2 / 6)
    countries = dirty_outcome.outcome("countries_are_allowed")
    assert countries.unexpected_percent == pytest.approx(100 * 2 / 7)


def test_failures_name_the_rows(dirty_outcome):
    assert dirty_outcome.outcome("record_ids_are_unique").row_keys == ["erp:C100001"]
    assert dirty_outcome.outcome("source_record_ids_are_present").row_keys == ["shop:x"]
    assert set(dirty_outcome.outcome("emails_are_valid").row_keys) == {"erp:C100001", "<null>"}
    assert set(dirty_outcome.outcome("names_are_present").row_keys) == {"<null>", "shop:x", "erp:C100009"}


def test_samples_show_non_personal_values_plainly(dirty_outcome):
    assert sorted(dirty_outcome.outcome("countries_are_allowed").sample) == ["XX", "us"]
    assert dirty_outcome.outcome("record_ids_are_unique").sample == ["erp:C100001"]
    dates = dirty_outcome.outcome("created_at_is_plausible").sample
    assert sorted(dates) == ["1899-12-30T00:00:00+00:00", "2099-01-01T00:00:00+00:00"]


def test_personal_values_are_masked(dirty_staged, dirty_outcome):
    assert sorted(dirty_outcome.outcome("emails_are_valid").sample) == ["a***@b", "j***@example.com"]
    assert sorted(dirty_outcome.outcome("phones_are_e164").sample) == ["***", "*** ** 32"]
    text = repr(dirty_outcome) + dirty_outcome.summary()
    for column in ("email", "phone"):
        for raw in dirty_staged[column].drop_nulls():
            assert raw not in text, f"{column} value leaked"
    for raw in dirty_staged["full_name"].drop_nulls():
        if raw.strip():
            assert raw not in text


def test_thresholds_decide_success(dirty_staged):
    lenient = run_suite("staged_customers", dirty_staged,
                        thresholds={"email_valid_mostly": 0.6, "name_present_mostly": 0.6})
    assert lenient.outcome("emails_are_valid").success          # 2/6 bad <= 40 %
    assert lenient.outcome("names_are_present").success          # 3/8 missing <= 40 %
    assert not lenient.outcome("phones_are_e164").success
    strict = run_suite("staged_customers", dirty_staged, thresholds={"allowed_countries": ["US", "CN"]})
    assert strict.outcome("countries_are_allowed").unexpected_count == 5  # DE, us, XX, FR, FR


def test_pandas_input_gives_the_same_counts(dirty_staged, dirty_outcome):
    pd_outcome = run_suite("staged_customers", dirty_staged.to_pandas())
    assert [(o.check_name, o.unexpected_count, o.success) for o in pd_outcome.outcomes] == [
        (o.check_name, o.unexpected_count, o.success) for o in dirty_outcome.outcomes
    ]


def test_naive_timestamps_are_read_as_utc(clean_staged):
    naive = clean_staged.with_columns(pl.col("created_at", "updated_at").dt.replace_time_zone(None))
    assert run_suite("staged_customers", naive).success


def test_missing_column_is_named(clean_staged):
    with pytest.raises(SuiteInputError, match=r"staged_customers.*\['phone'\]"):
        run_suite("staged_customers", clean_staged.drop("phone"))


def test_text_dates_are_rejected_with_the_column(clean_staged):
    text_dates = clean_staged.with_columns(pl.col("created_at").dt.strftime("%Y-%m-%d"))
    with pytest.raises(SuiteInputError, match="column created_at must hold datetimes.*String"):
        run_suite("staged_customers", text_dates)


def test_unknown_suite_lists_known_ones(clean_staged):
    with pytest.raises(SuiteInputError, match="unknown suite 'staged'.*staged_customers"):
        run_suite("staged", clean_staged)


def test_non_frame_input_is_rejected():
    with pytest.raises(SuiteInputError, match="expected a polars or pandas DataFrame, got list"):
        run_suite("staged_customers", [{"record_id": "x"}])


def test_empty_frame_passes(clean_staged):
    outcome = run_suite("staged_customers", clean_staged.clear())
    assert outcome.success
    assert all(o.element_count == 0 for o in outcome.outcomes)
