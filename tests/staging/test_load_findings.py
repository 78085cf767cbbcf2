"""Findings beyond one customer's fields: stale ERP copies, purchase amounts, keys for
reconciliation, and the per-source scorecard."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from pipelines.staging import (
    NON_RECORD_RULES,
    purchase_quarantine,
    record_ids,
    scorecard,
    scorecard_markdown,
    stage_all,
    stage_erp,
)
from pipelines.staging.demo_layout import demo_spec

NOW = datetime(2025, 8, 1, tzinfo=UTC)
COLS = ["customer_no", "contact_name", "email", "phone", "country", "updated_at"]


def erp(rows: list[tuple], *, extra: dict | None = None) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema=dict.fromkeys(COLS, pl.Utf8), orient="row")
    return frame.with_columns(**{k: pl.lit(v) for k, v in (extra or {}).items()})


def test_stale_copies_are_quarantined_and_the_current_row_kept():
    current = erp([("C1", "DOE, JOHN", "j.doe@example.com", "+14155550132", "US", "2024-01-01 00:00:00"),
                   ("C2", "ROE, JANE", None, "+14155550133", "US", "2024-01-01 00:00:00")])
    dirty = erp([("C1", "DOE, JON", None, None, "US", "2024-01-01 00:00:00"),      # same instant: current wins
                 ("C2", "ROE, JANE", None, None, "US", "2019-01-01 00:00:00")])
    # how staging reads a source's also_tables: after the main table's rows
    frame = pl.concat([current, dirty], how="diagonal_relaxed")
    result = stage_erp(frame, now=NOW)
    assert sorted(result.quarantine.select("source_record_id", "rule").iter_rows()) == [
        ("C1", "duplicate_primary_key"), ("C2", "duplicate_primary_key")]
    kept = result.customers.sort("source_record_id")
    assert kept["given_name"].to_list() == ["John", "Jane"] and kept["phone"].null_count() == 0


def test_purchase_amount_rules():
    invoices = pl.DataFrame({"invoice_no": ["I1", "I2", "I3", "I4", "I5"],
                             "amount": ["10.00", "-0.01", "12,50 EUR", None, " -7 "]})
    orders = pl.DataFrame({"id": [70, 71], "total_price": ["0.00", "-19.99"]})
    q = purchase_quarantine(invoices=invoices, orders=orders)
    assert sorted(q.select("source", "source_record_id", "rule", "field", "raw_value").iter_rows()) == [
        ("erp_invoices", "I2", "negative_amount", "amount", "-0.01"),
        ("erp_invoices", "I3", "invalid_amount", "amount", "12,50 EUR"),
        ("erp_invoices", "I5", "negative_amount", "amount", "-7"),
        ("shop_orders", "71", "negative_amount", "total_price", "-19.99"),
    ]
    assert purchase_quarantine(orders=pl.DataFrame({"id": [1]})).is_empty()  # no amount column: nothing to judge
    assert purchase_quarantine().is_empty()


def test_customer_keys_match_what_staging_keys():
    frames = {
        "erp": erp([(" C1 ", "DOE, JOHN", None, "+14155550132", "US", None), ("C1", None, None, None, None, None)]),
        "shop": pl.DataFrame({"id": [6500000000001], "email": ["a@example.com"]}),
        "sheets": pl.DataFrame({"source": ["leads", "leads"], "row_number": [1, 2], "full_name": ["A B", None]}),
    }
    keys = pl.concat([record_ids(frame, demo_spec(name)) for name, frame in frames.items()])
    assert keys.rows() == [("erp", "C1"), ("erp", "C1"), ("shop", "6500000000001"), ("leads", "1"), ("leads", "2")]
    staged = stage_all(frames, now=NOW)
    accounted = pl.concat([staged.customers.select("source", "source_record_id"),
                           staged.quarantine.filter(~pl.col("rule").is_in(NON_RECORD_RULES))
                           .select("source", "source_record_id")])
    assert sorted(accounted.rows()) == sorted(keys.rows())


def test_scorecard_counts_and_markdown():
    frames = {"erp": erp([
        ("C1", "DOE, JOHN", "j.doe@example.com", "+14155550132", "US", "2024-01-01 00:00:00"),
        ("C1", "DOE, JOHN", None, None, "US", "2019-01-01 00:00:00"),
        ("C2", "ROE, JANE", "jane@@example", "+14155550133", "US", "2024-01-01 00:00:00"),
        ("C3", None, None, "not a phone", "US", "2024-01-01 00:00:00"),
    ])}
    result = stage_all(frames, now=NOW)
    card = scorecard(result, {"erp": 4, "shop": 0}).row(0, named=True)
    assert (card["source"], card["rows_read"], card["staged"], card["quarantined"]) == ("erp", 4, 2, 2)
    assert card["duplicate_rate"] == 0.25
    assert card["complete_name"] == 1.0 and card["complete_email"] == 0.5
    assert card["valid_email"] == 0.5  # one kept, one nulled as malformed
    md = scorecard_markdown(scorecard(result, {"erp": 4, "shop": 0}))
    lines = md.splitlines()
    assert lines[0].startswith("| source | read | staged | quarantined | dup % |")
    assert lines[2].startswith("| erp | 4 | 2 | 2 | 25.0 | 100.0 | 50.0 |")
    assert lines[3].startswith("| shop | 0 | 0 | 0 | - |")
