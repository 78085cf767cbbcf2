"""Suite definitions: registry, GX conversion, and adding a suite later (e.g. raw_* tables)."""

from __future__ import annotations

import polars as pl
import pytest

from expectations.definitions import CheckDef, SuiteSpec
from expectations.runner import run_suite
from expectations.suites import SUITES, build_suite, suite_spec
from expectations.thresholds import Thresholds


def test_build_suite_carries_check_names_and_flags():
    suite = build_suite("staged_customers", thresholds=Thresholds(email_valid_mostly=0.9))
    assert suite.name == "staged_customers"
    by_name = {e.meta["check_name"]: e for e in suite.expectations}
    assert list(by_name) == [c.name for c in suite_spec("staged_customers").checks]
    emails = by_name["emails_are_valid"]
    assert emails.mostly == 0.9 and emails.column == "email"
    assert by_name["record_ids_are_unique"].meta["blocking"] is True
    assert by_name["names_are_present"].severity.value == "warning"


def test_reconciliation_is_not_a_gx_expectation():
    suite = build_suite("golden_crosswalk")
    names = [e.meta["check_name"] for e in suite.expectations]
    assert names == ["source_keys_are_unique", "golden_ids_are_present"]
    assert suite_spec("golden_crosswalk").requires == ("staged",)


def test_definitions_reject_inconsistent_checks():
    with pytest.raises(ValueError, match="exactly one of expectation= or evaluate="):
        CheckDef(name="x", column="c")
    with pytest.raises(ValueError, match="only error-severity checks can block"):
        CheckDef(name="x", column="c", expectation="ExpectColumnValuesToNotBeNull",
                 kwargs={"column": "c"}, severity="warn", blocking=True)
    check = CheckDef(name="x", column="c", expectation="ExpectColumnValuesToNotBeNull", kwargs={"column": "c"})
    with pytest.raises(ValueError, match="duplicate check names \\['x'\\]"):
        SuiteSpec(name="s", checks=(check, check), key_columns=("c",))


def test_a_registered_raw_suite_runs(monkeypatch):
    def raw_erp_customers(t: Thresholds) -> SuiteSpec:
        return SuiteSpec(name="raw_erp_customers", key_columns=("customer_no",), checks=(
            CheckDef(name="customer_nos_are_unique", column="customer_no", blocking=True,
                     expectation="ExpectColumnValuesToBeUnique", kwargs={"column": "customer_no"}),
            CheckDef(name="raw_emails_are_valid", column="email", expectation="ExpectColumnValuesToMatchRegex",
                     kwargs={"column": "email", "regex": t.email_pattern}),
        ))

    monkeypatch.setitem(SUITES, "raw_erp_customers", raw_erp_customers)
    raw = pl.DataFrame({"customer_no": ["C1", "C1", "C2"], "email": ["a.b@x.de", "ANNA@@X.DE", None]})
    outcome = run_suite("raw_erp_customers", raw)
    assert [(o.check_name, o.unexpected_count) for o in outcome.outcomes] == [
        ("customer_nos_are_unique", 2), ("raw_emails_are_valid", 1)]
    assert outcome.outcome("raw_emails_are_valid").sample == ["A***@X.DE"]
    assert outcome.outcome("raw_emails_are_valid").row_keys == ["C1"]
