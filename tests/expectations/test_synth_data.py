"""Suites on the generated 2k dataset: findings agree with the generator's ground truth."""

from __future__ import annotations

import sqlite3

import polars as pl
import pytest

from expectations.runner import run_suite

MISSING_MARKERS = ["", "n/a", "-", "null"]


def _erp_as_staged(path) -> pl.DataFrame:
    """ERP customers with the lightest staging: record ids, trimmed e-mails, missing markers as null."""
    with sqlite3.connect(path) as con:
        raw = pl.read_database("SELECT customer_no, contact_name, email FROM customers", con)
    email = pl.col("email").str.strip_chars()
    return raw.select(
        record_id=pl.lit("erp:") + pl.col("customer_no"),
        source=pl.lit("erp"),
        source_record_id=pl.col("customer_no"),
        full_name=pl.col("contact_name"),
        email=pl.when(email.str.to_lowercase().is_in(MISSING_MARKERS)).then(None).otherwise(email),
    )


@pytest.fixture(scope="module")
def truth(synth_2k):
    read = {"infer_schema_length": 0}
    return {
        "records": pl.read_csv(synth_2k / "truth" / "records.csv", **read),
        "entities": pl.read_csv(synth_2k / "truth" / "entities.csv", **read),
        "bad_rows": pl.read_csv(synth_2k / "truth" / "bad_rows.csv", **read),
    }


def test_malformed_erp_emails_are_exactly_the_generated_ones(synth_2k, truth, dirty_staged):
    erp = _erp_as_staged(synth_2k / "erp.sqlite")
    # the other staged columns are not under test here: borrow types from the conformed schema
    staged = erp.with_columns(pl.lit(None, dtype).alias(c) for c, dtype in dirty_staged.schema.items()
                              if c not in erp.columns)
    outcome = run_suite("staged_customers", staged, thresholds={"sample_size": 50})
    emails = outcome.outcome("emails_are_valid")
    expected = truth["bad_rows"].filter(pl.col("source") == "erp", pl.col("kind") == "malformed_email")
    assert expected.height > 0
    assert sorted(emails.row_keys) == sorted("erp:" + expected["record_id"])
    assert emails.unexpected_count == expected.height
    assert emails.element_count == erp.height
    assert outcome.outcome("record_ids_are_unique").success
    text = repr(outcome)
    for value in erp.filter(pl.col("record_id").is_in(emails.row_keys))["email"]:
        local = value.rpartition("@")[0]  # the personal part; the domain is kept on purpose
        assert len(local) < 3 or local not in text


def test_truth_entities_make_a_clean_golden_table(truth):
    golden = truth["entities"].select(
        golden_id="entity_id", given_name="given_name", surname="surname",
        full_name=pl.concat_str(["given_name", "surname"], separator=" "),   # the truth has no full_name column
        email="email", phone="phone_e164", country="country",
    )
    outcome = run_suite("golden_customers", golden)
    assert outcome.success
    assert all(o.unexpected_count == 0 for o in outcome.outcomes), outcome.summary()


def test_truth_crosswalk_reconciles_and_gaps_are_named(truth):
    records = truth["records"].with_columns(record_id=pl.col("source") + ":" + pl.col("source_record_id"))
    crosswalk = records.select("source", "source_record_id", "record_id", golden_id="entity_id")
    staged = records.select("record_id")
    assert run_suite("golden_crosswalk", crosswalk, staged=staged).success

    dropped = crosswalk["record_id"].sort()[[5, 500, 1500]].to_list()
    gappy = crosswalk.filter(~pl.col("record_id").is_in(dropped))
    outcome = run_suite("golden_crosswalk", gappy, staged=staged)
    recon = outcome.outcome("staged_records_appear_once_in_crosswalk")
    assert not outcome.success and recon.unexpected_count == 3
    assert recon.row_keys == sorted(dropped)
