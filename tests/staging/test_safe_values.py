"""Values that would harm whoever opens them: spreadsheet formulas, megabyte fields, control and
bidi characters. Staged and golden values are safe; the raw values stay as written."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from dedupe.normalize import clean_text
from pipelines.customer360 import merge_lists
from pipelines.publish import write_merge_lists
from pipelines.staging import stage_erp
from pipelines.staging.rules import FIELD_LIMITS

NOW = datetime(2025, 8, 1, tzinfo=UTC)
COLUMNS = ["customer_no", "company_name", "contact_name", "street", "postal_code", "city", "country",
           "phone", "email", "vat_id", "created_at", "updated_at"]


def erp(*rows: dict) -> pl.DataFrame:
    base = {"contact_name": "Johanne Wähner", "street": "Hauptstr. 5", "postal_code": "79098", "city": "Freiburg",
            "country": "Germany", "phone": "(0157) 1207 1861", "email": "j.waehner@web.de",
            "company_name": "Täsche Automation GmbH", "created_at": "2015-01-07 01:07:37",
            "updated_at": "2016-02-01 10:00:00"}
    return pl.DataFrame([{c: {**base, **r}.get(c) for c in COLUMNS} for r in rows],
                        schema=dict.fromkeys(COLUMNS, pl.Utf8))


def staged_row(result, no: str) -> dict:
    return result.customers.filter(pl.col("source_record_id") == no).row(0, named=True)


def test_formulas_are_nulled_and_reported_and_numbers_are_not_formulas():
    r = stage_erp(erp(
        {"customer_no": "F1", "contact_name": '=HYPERLINK("http://evil.example","Click me")'},
        {"customer_no": "F2", "company_name": "+cmd|' /C calc'!A0"},
        {"customer_no": "F3", "city": "@SUM(A1:A9)", "street": " -2+3+cmd|' /C calc'!A0"},
        {"customer_no": "OK", "phone": "+49 157 1207 1861"},
    ), now=NOW)
    f1, f2, f3, ok = (staged_row(r, n) for n in ("F1", "F2", "F3", "OK"))
    assert (f1["given_name"], f1["surname"], f1["full_name"]) == (None, None, None)
    assert f1["raw_name"].startswith("=HYPERLINK")            # the raw value stays as written
    assert f1["company_name"] == "Täsche Automation GmbH"
    assert f2["company_name"] is None and f2["full_name"] == "Johanne Wähner"
    assert f3["city"] is None and f3["street"] is None
    assert ok["phone"] == "+4915712071861" and ok["company_name"] == "Täsche Automation GmbH"
    issues = set(r.field_issues.filter(pl.col("rule") == "formula_like")
                 .select("source_record_id", "field", "action").iter_rows())
    assert issues == {("F1", "name", "nulled"), ("F2", "company_name", "nulled"),
                      ("F3", "city", "nulled"), ("F3", "street", "nulled")}


def test_a_field_over_its_limit_quarantines_the_row_with_a_short_sample():
    huge = "Anna " + "x" * 1_000_000
    r = stage_erp(erp({"customer_no": "L1", "contact_name": huge}, {"customer_no": "L2",
                      "company_name": "A" * (FIELD_LIMITS["company_name"] + 1)}, {"customer_no": "OK"}), now=NOW)
    assert r.customers["source_record_id"].to_list() == ["OK"]
    q = {row["source_record_id"]: row for row in r.quarantine.iter_rows(named=True)}
    assert q["L1"]["rule"] == "field_too_long" and q["L2"]["rule"] == "field_too_long"
    assert q["L2"]["field"] == "company_name"
    assert q["L1"]["field"] == "name"
    assert q["L1"]["raw_value"].startswith("Anna xxx") and q["L1"]["raw_value"].endswith("(1000005 characters)")
    assert len(q["L1"]["raw_value"]) < 120


def test_control_and_bidi_characters_leave_staged_values_not_raw_ones():
    evil = "Ann\u202eAbel\u202c\u200f Smith\u0007"
    r = stage_erp(erp({"customer_no": "B1", "contact_name": evil, "city": "Frei\u2066burg\u2069"}), now=NOW)
    row = staged_row(r, "B1")
    assert row["full_name"] == "AnnAbel Smith"
    assert row["city"] == "Freiburg"
    assert row["raw_name"] == evil
    for value in row.values():
        if isinstance(value, str) and value is not row["raw_name"] and value is not row["raw_city"]:
            assert not any(c in value for c in "\u202e\u202c\u200f\u0007\u2066\u2069"), value


def test_clean_text_drops_control_and_bidi_characters():
    s = pl.Series(["A\u202eB\x00C\x9f", "\u200e\u2066", "tab\there"])
    assert pl.select(clean_text(pl.lit(s))).to_series().to_list() == ["ABC", None, "tab here"]


def test_merge_list_csv_cells_never_run_as_formulas(tmp_path):
    crosswalk = pl.DataFrame({"source": ["sheet", "sheet", "erp"],
                              "source_record_id": ['=HYPERLINK("http://x")', "+4930123", "-12"],
                              "golden_id": ["GC-1", "GC-1", "GC-1"]})
    paths = write_merge_lists(merge_lists(crosswalk), tmp_path)
    text = paths["sheet"].read_text(encoding="utf-8")
    cells = pl.read_csv(paths["sheet"], infer_schema=False)["source_record_id"].to_list()
    assert sorted(cells) == ["'=HYPERLINK(\"http://x\")", "+4930123"]
    assert "\n=" not in text and ",=" not in text
