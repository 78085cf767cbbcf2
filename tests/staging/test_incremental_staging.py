"""Incremental staging: the keys it stages again, and that staging some rows of a source gives what
staging the whole source gives for them (the source-wide date order, duplicate keys, the run's time)."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from pipelines.staging import incremental as inc
from pipelines.staging import stage_source
from pipelines.staging.stage import date_orders

NOW = datetime(2025, 8, 1, tzinfo=UTC)
COLUMNS = ["source", "source_record_id", "full_name", "given_name", "surname", "company_name", "email", "phone",
           "street", "postal_code", "city", "country", "vat_id", "created_at", "updated_at"]


def mapped(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame([{c: r.get(c) for c in COLUMNS} for r in rows], schema=dict.fromkeys(COLUMNS, pl.Utf8))


def row(rid: str, name: str, date: str, source: str = "sales", **kw) -> dict:
    return {"source": source, "source_record_id": rid, "full_name": name, "email": f"{rid}@example.com",
            "city": "London", "created_at": date, "updated_at": date, **kw}


def digests(df: pl.DataFrame, system: str = "sheets") -> pl.DataFrame:
    return inc.row_digests(df, system=system, date_format=None, orders=date_orders(df))


def keys(frame: pl.DataFrame) -> set[tuple]:
    return set(frame.select(inc.KEY).iter_rows())


def test_changed_keys_are_the_new_edited_removed_and_repeated_ones():
    before = mapped(row("1", "Ann Lee", "2020-01-01"), row("2", "Bo Chan", "2020-01-02"),
                    row("3", "Cy Dow", "2020-01-03"), row("4", "Di Eck", "2020-01-04"))
    after = mapped(row("1", "Ann Lee", "2020-01-01"), row("2", "Bo Chan", "2021-06-06"),   # 2 edited
                   row("4", "Di Eck", "2020-01-04"), row("4", "Di Eck", "2020-01-04"),    # 3 gone, 4 twice
                   row(" 5 ", "Ed Fox", "2020-01-05"))                                    # 5 new, blanks
    changed = inc.changed_keys(digests(after), digests(before))
    assert keys(changed) == {("sheets", "sales", "2"), ("sheets", "sales", "3"), ("sheets", "sales", "4"),
                             ("sheets", "sales", "5")}
    assert inc.changed_keys(digests(before), digests(before)).height == 0
    # the same rows under another system, or with another date format, are other rows
    assert inc.changed_keys(digests(before, "erp"), digests(before)).height == 8
    other = inc.row_digests(before, system="sheets", date_format="%d.%m.%Y", orders=date_orders(before))
    assert inc.changed_keys(other, digests(before)).height == 4


def test_some_rows_staged_with_the_source_orders_equal_the_whole_source_staged():
    # one unambiguous month-first date makes every a/b/yyyy date of the source month-first
    df = mapped(row("1", "Ann Lee", "03/04/2020"), row("2", "Bo Chan", "12/25/2020"),
                row("3", "Cy Dow", "05/06/2019"), row("3", "Cy Dow", "07/08/2021", phone="+44 20 7946 0018"),
                row("4", "Di Eck", "01/02/2030"), row("5", "", "01/01/2020", email=None))
    whole = stage_source(df, now=NOW)
    part = inc.rows_of(df, pl.DataFrame({"source": ["sales"] * 4, "source_record_id": ["1", "3", "4", "5"]}))
    assert part.height == 5
    alone = stage_source(part, now=NOW)
    exact = stage_source(part, now=NOW, orders=date_orders(df))
    ids = ["1", "3", "4", "5"]

    def only(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.filter(pl.col("source_record_id").is_in(ids)).sort(frame.columns, nulls_last=True)

    assert exact.customers.sort("record_id").equals(only(whole.customers).sort("record_id"))
    assert only(exact.quarantine).equals(only(whole.quarantine))      # the older row of key 3, key 5
    assert only(exact.field_issues).equals(only(whole.field_issues))  # 2030: impossible on NOW
    assert exact.customers.filter(pl.col("record_id") == "sales:1")["created_at"][0].month == 3
    # without the source's order the part reads 03/04/2020 day-first: the reason orders exist
    assert alone.customers.filter(pl.col("record_id") == "sales:1")["created_at"][0].month == 4
    assert set(exact.quarantine["rule"]) == {"duplicate_primary_key", "no_identity"}


def test_keys_with_a_time_dependent_issue_are_staged_again():
    staged = stage_source(mapped(row("1", "Ann Lee", "2020-01-01"), row("2", "Bo Chan", "2030-01-01")), now=NOW)
    again = inc.time_keys(staged.field_issues, {"sales": "sheets"})
    assert keys(again) == {("sheets", "sales", "2")}


def test_without_keys_drops_every_row_of_the_keys_null_keys_included():
    frame = pl.DataFrame({"source": ["a", "a", "a", "b"], "source_record_id": ["1", None, "2", "1"], "v": [1, 2, 3, 4]})
    gone = pl.DataFrame({"source": ["a", "a"], "source_record_id": [None, "1"]})
    assert inc.without_keys(frame, gone)["v"].to_list() == [3, 4]


def test_repeated_rows_of_a_key_are_numbered_and_other_rows_are_not():
    df = mapped(row("1", "Ann Lee", "2020-01-01"), row("2", "Bo Chan", "2020-01-02"),
                row("1", "Ann Lee", "2020-01-01"), row("3", "Cy Dow", "2020-01-03"),
                row("1", "Ann Lee", "2020-01-01"), row("1", "Ann Lee", "2021-01-01"))
    got = digests(df)
    assert got["n"].to_list() == [0, 0, 1, 0, 2, 0]
    # the same as numbering within every key and digest
    window = got.select(pl.int_range(pl.len(), dtype=pl.UInt32).over("source", "source_record_id", "digest"))
    assert got["n"].equals(window.to_series().alias("n"))


def test_date_orders_are_decided_over_the_slashed_values_of_each_source():
    df = mapped(row("1", "Ann Lee", "03/04/2020"), row("2", "Bo Chan", "12/25/2020"),
                row("3", "Cy Dow", "2020-01-03"),                                       # month-first
                row("4", "Di Eck", "25/12/2020", source="other"), row("5", "Ed Fox", "01/02/2020", source="other"),
                row("6", "Fa Gee", "2020-01-06", source="plain"), row("7", "Gu Ho", None, source=None))
    orders = date_orders(df)
    assert orders["source"].to_list() == [None, "other", "plain", "sales"]
    assert orders["__slash_order_created_at"].to_list() == ["%d/%m/%Y", "%d/%m/%Y", "%d/%m/%Y", "%m/%d/%Y"]
    configured = date_orders(df, date_format="%m/%d/%Y")
    assert set(configured["__slash_order_updated_at"]) == {"%m/%d/%Y"} and configured.height == 4
