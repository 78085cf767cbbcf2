"""Raw suites keep parsed rows load by load: an incremental run reports what a full one does."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from expectations import run_suite_on_table
from expectations.runner import run_raw_suite_on_table
from expectations.suites import suite_spec
from expectations.table_state import state_table

SUITE, TABLE = "raw_erp_invoices", "raw_erp.invoices"


def _rows(start: int, n: int, load: str, *, bad_every: int = 0) -> pl.DataFrame:
    ids = [f"INV{i:05d}" for i in range(start, start + n)]
    dates = ["2030-01-01" if bad_every and i % bad_every == 0 else "not a date" if bad_every and i % bad_every == 1
             else f"20{15 + i % 9:02d}-0{1 + i % 9}-1{i % 10}" for i in range(start, start + n)]
    amounts = [f"-{i}.50" if bad_every and i % bad_every == 2 else f"{i % 997}.25" for i in range(start, start + n)]
    return pl.DataFrame({"invoice_no": ids, "customer_no": [f"C{i % 50}" for i in range(start, start + n)],
                         "invoice_date": dates, "amount": amounts, "_dlt_load_id": [load] * n})


def _merge(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame) -> None:
    """What dlt's delete-insert merge does: rows of the loaded keys replaced."""
    con.register("__m", rows.to_arrow())
    con.execute(f"delete from {TABLE} where invoice_no in (select invoice_no from __m)")
    con.execute(f"insert into {TABLE} by name select * from __m")
    con.unregister("__m")


def _summary(outcome) -> list[tuple]:
    return [(o.check_name, o.success, o.element_count, o.unexpected_count, o.unexpected_percent, o.sample, o.row_keys)
            for o in outcome.outcomes]


@pytest.fixture
def con(tmp_path):
    c = duckdb.connect(str(tmp_path / "w.duckdb"))
    c.execute("create schema raw_erp")
    first = _rows(0, 3000, "1700000000.1", bad_every=97)
    c.register("__f", first.to_arrow())
    c.execute(f"create table {TABLE} as select * from __f")
    c.unregister("__f")
    yield c
    c.close()


def test_incremental_run_reports_what_a_full_run_does(con, tmp_path):
    first, info = run_raw_suite_on_table(SUITE, con, TABLE)
    assert info.mode == "full" and info.rows_parsed == 3000
    assert [(o.element_count, o.unexpected_count) for o in first.outcomes] == \
        [(o.element_count, o.unexpected_count) for o in run_suite_on_table(SUITE, con, TABLE).outcomes]

    # a second load: 40 keys edited (some now bad), 60 unchanged keys re-read as they were, 25 new
    edited = _rows(100, 40, "1700000100.2", bad_every=7).with_columns(pl.col("amount") + "1")
    same = con.sql(f"select * exclude (_dlt_load_id), '1700000100.2' as _dlt_load_id from {TABLE} "
                   "where invoice_no between 'INV01000' and 'INV01059'").pl()
    new = _rows(3000, 25, "1700000100.2", bad_every=5)
    dup = _rows(0, 1, "1700000100.2").with_columns(invoice_no=pl.lit("INV03001"))  # a duplicate key
    _merge(con, pl.concat([edited, same.select(edited.columns), new]))
    con.register("__d", dup.to_arrow())
    con.execute(f"insert into {TABLE} by name select * from __d")

    incremental, info = run_raw_suite_on_table(SUITE, con, TABLE)
    assert (info.mode, info.rows_read) == ("incremental", 126)
    assert info.rows_parsed == 40 + 25 + 1  # the 60 re-read unchanged rows keep their parsed values
    state = con.sql(f"select * from {state_table(suite_spec(SUITE))}").pl()

    full, info = run_raw_suite_on_table(SUITE, con, TABLE, full=True)
    assert info.mode == "full" and info.rows_parsed == 3026
    assert _summary(incremental) == _summary(full)
    rebuilt = con.sql(f"select * from {state_table(suite_spec(SUITE))}").pl()
    assert state.sort(state.columns).equals(rebuilt.sort(rebuilt.columns))

    # the same counts as streaming the table (samples: first rows by key instead of in table order)
    streamed = run_suite_on_table(SUITE, con, TABLE)
    assert [(o.check_name, o.success, o.element_count, o.unexpected_count, o.unexpected_percent)
            for o in incremental.outcomes] == \
        [(o.check_name, o.success, o.element_count, o.unexpected_count, o.unexpected_percent)
         for o in streamed.outcomes]
    by_name = {o.check_name: o for o in incremental.outcomes}
    assert by_name["invoice_no_is_unique"].unexpected_count == 2
    assert by_name["invoice_date_is_plausible"].unexpected_count > 0
    assert by_name["amount_is_not_negative"].unexpected_count > 0


def test_rows_removed_outside_a_load_rebuild_the_state(con):
    run_raw_suite_on_table(SUITE, con, TABLE)
    con.execute(f"delete from {TABLE} where invoice_no = 'INV00007'")  # e.g. an erasure
    outcome, info = run_raw_suite_on_table(SUITE, con, TABLE)
    assert info.mode == "full" and "out of step" in info.reason
    assert outcome.outcomes[0].element_count == 2999
    again, info = run_raw_suite_on_table(SUITE, con, TABLE)
    assert (info.mode, info.rows_read) == ("incremental", 0)
    assert _summary(again) == _summary(outcome)
