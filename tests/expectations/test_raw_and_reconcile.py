"""Raw-table suites (text dates and amounts parsed first), row reconciliation, and one Data Docs
site shared by suites validated one at a time."""

from __future__ import annotations

import polars as pl

from expectations import (
    latest_validation_page,
    prune_validations,
    rows_reconcile,
    run_suite,
    suite_spec,
    write_docs_index,
)


def test_raw_invoices_suite_reads_text_amounts_and_dates():
    invoices = pl.DataFrame({
        "invoice_no": ["I1", "I2", "I3", "I3", None],
        "amount": ["12.50", "-3.99", "n/a", "7", "0"],
        "invoice_date": ["2024-01-31", "2023-02-30", "2099-01-01", "", "2020-06-01"],
    })
    outcome = run_suite("raw_erp_invoices", invoices)
    got = {o.check_name: (o.success, o.unexpected_count, o.severity, o.blocking) for o in outcome.outcomes}
    assert got == {
        "invoice_no_is_unique": (False, 2, "error", True),
        "invoice_no_is_present": (False, 1, "error", True),
        "amount_is_not_negative": (False, 1, "warn", False),      # "n/a" is unreadable, not negative
        "invoice_date_is_plausible": (False, 2, "warn", False),   # 2023-02-30 unreadable, 2099 in the future
    }
    assert outcome.outcome("amount_is_not_negative").sample == ["-3.99"]
    assert outcome.outcome("amount_is_not_negative").row_keys == ["I2"]
    assert not outcome.success and len(outcome.blocking_failures) == 2


def test_raw_shop_dates_with_offsets_and_missing_columns():
    customers = pl.DataFrame({"id": [1, 2], "created_at": ["2021-06-16T19:51:51+02:00", "2021-06-16T19:51:51Z"]})
    outcome = run_suite("raw_shop_customers", customers)  # no updated_at column at all: read as empty
    assert outcome.success and all(o.success for o in outcome.outcomes)
    assert [c.name for c in suite_spec("raw_sheets_contacts").checks] == [
        "file_rows_are_unique", "source_is_present", "row_number_is_present"]


def keys(*pairs: str) -> pl.DataFrame:
    return pl.DataFrame([p.split(":") for p in pairs], schema=["source", "source_record_id"], orient="row")


def test_rows_reconcile_counts_duplicates_and_names_gaps():
    read = keys("erp:C1", "erp:C1", "erp:C2", "erp:C3")
    ok = rows_reconcile(read, keys("erp:C1", "erp:C2", "erp:C3"), keys("erp:C1"), check_name="erp_rows_reconcile")
    assert ok.success and ok.unexpected_count == 0 and ok.blocking
    assert ok.description == "4 rows read = 3 in the crosswalk + 1 quarantined"
    bad = rows_reconcile(read, keys("erp:C1", "erp:C2", "erp:C9"), keys(), check_name="erp_rows_reconcile")
    assert not bad.success and bad.unexpected_count == 3
    assert bad.row_keys == ["erp:C1", "erp:C3", "erp:C9"]  # missing first, then extra
    assert bad.sample[0] == "erp:C1 (missing: read 2, crosswalk 1, quarantined 0)"
    assert bad.sample[2] == "erp:C9 (extra: read 0, crosswalk 1, quarantined 0)"


def test_suites_validated_apart_share_one_docs_site(tmp_path):
    docs = tmp_path / "docs"
    contacts = pl.DataFrame({"source": ["a", "a"], "row_number": [1, 1]})
    invoices = pl.DataFrame({"invoice_no": ["I1"], "amount": ["-1"], "invoice_date": ["2024-01-01"]})
    run_suite("raw_sheets_contacts", contacts, data_docs_dir=docs)
    first = latest_validation_page(docs, "raw_erp_invoices")
    assert first is None
    run_suite("raw_erp_invoices", invoices, data_docs_dir=docs)
    first = latest_validation_page(docs, "raw_erp_invoices")
    run_suite("raw_erp_invoices", invoices, data_docs_dir=docs)  # the suite's page is replaced
    pages = sorted(p.relative_to(docs).parts[1] for p in docs.glob("validations/*/*/*/*.html"))
    assert pages == ["raw_erp_invoices", "raw_sheets_contacts"]
    newest = latest_validation_page(docs, "raw_erp_invoices")
    assert newest != first and not first.exists()
    index = (docs / "index.html").read_text(encoding="utf-8")
    assert newest.relative_to(docs).as_posix() in index and "raw_sheets_contacts" in index
    assert len(list(docs.glob("static"))) == 1
    assert prune_validations(docs, "raw_sheets_contacts", keep=0) == 1
    assert "raw_sheets_contacts" not in write_docs_index(docs).read_text(encoding="utf-8")
