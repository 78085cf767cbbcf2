"""golden_customers and golden_crosswalk suites, and the staged-vs-crosswalk reconciliation."""

from __future__ import annotations

import polars as pl
import pytest

from expectations.outcomes import SuiteInputError
from expectations.reconcile import staged_records_appear_once
from expectations.runner import run_suite


def test_golden_counts_each_violation(golden_frame):
    outcome = run_suite("golden_customers", golden_frame)
    got = {o.check_name: (o.element_count, o.unexpected_count, o.success) for o in outcome.outcomes}
    assert got == {
        "golden_ids_are_unique": (6, 2, False),             # G2 twice
        "golden_ids_are_present": (6, 1, False),
        "emails_are_valid": (6, 1, False),                  # x@y
        "phones_are_e164": (6, 1, False),                   # 0049 170 1234512
        "countries_are_allowed": (6, 1, False),             # Germany
        "records_have_name_email_or_phone": (6, 2, False),  # G5 (all null), G6 (blank name only)
    }
    assert outcome.outcome("records_have_name_email_or_phone").row_keys == ["G5", "G6"]
    assert outcome.outcome("phones_are_e164").sample == ["*** ** 12"]
    assert "1701234512" not in repr(outcome)
    assert "Anna Schmidt" not in repr(outcome)


def test_golden_clean_rows_pass_and_name_columns_are_optional(golden_frame):
    clean = golden_frame.filter(pl.col("golden_id").is_in(["G1"])).vstack(
        pl.DataFrame({"golden_id": ["G7"], "given_name": [None], "surname": [None], "full_name": [None],
                      "email": [None], "phone": ["+33612345678"], "country": ["FR"]},
                     schema=golden_frame.schema))
    assert run_suite("golden_customers", clean).success
    no_names = clean.drop("given_name", "surname", "full_name")
    outcome = run_suite("golden_customers", no_names)
    assert outcome.success
    assert outcome.outcome("records_have_name_email_or_phone").unexpected_count == 0


@pytest.fixture(scope="module")
def staged_ids() -> pl.DataFrame:
    return pl.DataFrame({"record_id": ["erp:C1", "erp:C2", "shop:10", "sales_csv:4", None]})


def test_crosswalk_clean_passes(staged_ids):
    xw = pl.DataFrame({
        "source": ["erp", "erp", "shop", "sales_csv"],
        "source_record_id": ["C1", "C2", "10", "4"],
        "record_id": ["erp:C1", "erp:C2", "shop:10", "sales_csv:4"],
        "golden_id": ["G1", "G1", "G2", "G3"],
    })
    outcome = run_suite("golden_crosswalk", xw, staged=staged_ids)
    assert outcome.success
    assert [o.check_name for o in outcome.outcomes] == [
        "source_keys_are_unique", "golden_ids_are_present", "staged_records_appear_once_in_crosswalk"]
    assert outcome.outcome("staged_records_appear_once_in_crosswalk").element_count == 4


def test_crosswalk_violations(staged_ids):
    xw = pl.DataFrame({  # no record_id column: keys are source:source_record_id
        "source": ["erp", "erp", "shop", "erp"],
        "source_record_id": ["C1", "C1", "10", "C9"],
        "golden_id": ["G1", "G2", None, "G4"],
    })
    outcome = run_suite("golden_crosswalk", xw, staged=staged_ids)
    assert not outcome.success
    got = {o.check_name: (o.element_count, o.unexpected_count) for o in outcome.outcomes}
    assert got == {
        "source_keys_are_unique": (4, 2),
        "golden_ids_are_present": (4, 1),
        "staged_records_appear_once_in_crosswalk": (4, 3),  # erp:C2, sales_csv:4 missing; erp:C1 twice
    }
    recon = outcome.outcome("staged_records_appear_once_in_crosswalk")
    assert recon.sample == ["erp:C2 (missing)", "sales_csv:4 (missing)", "erp:C1 (2 rows)"]
    assert recon.blocking and recon.severity == "error"
    assert outcome.outcome("source_keys_are_unique").row_keys == ["erp:C1"]
    assert outcome.outcome("golden_ids_are_present").row_keys == ["shop:10"]


def test_reconciliation_names_at_most_sample_size_keys():
    staged = pl.DataFrame({"record_id": [f"erp:C{i}" for i in range(50)]})
    xw = pl.DataFrame({"record_id": [f"erp:C{i}" for i in range(0, 50, 2)]})
    outcome = staged_records_appear_once(xw, staged, sample_size=10)
    assert outcome.unexpected_count == 25
    assert outcome.unexpected_percent == pytest.approx(50.0)
    assert len(outcome.sample) == 10
    assert outcome.row_keys == sorted(f"erp:C{i}" for i in range(1, 50, 2))[:10]


def test_crosswalk_needs_staged(staged_ids):
    xw = pl.DataFrame({"source": ["erp"], "source_record_id": ["C1"], "golden_id": ["G1"]})
    with pytest.raises(SuiteInputError, match="golden_crosswalk.*pass staged="):
        run_suite("golden_crosswalk", xw)
    with pytest.raises(SuiteInputError, match="staged customers: needs a record_id column"):
        run_suite("golden_crosswalk", xw, staged=pl.DataFrame({"id": ["x"]}))
