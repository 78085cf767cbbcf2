"""Suites on DuckDB tables, streamed in batches: the same outcomes as on the frame in memory."""

from __future__ import annotations

import dataclasses

import duckdb
import pytest

from expectations import sources
from expectations.outcomes import SuiteInputError
from expectations.runner import run_suite, run_suite_on_table


def _fields(outcome):
    return [dataclasses.asdict(o) for o in outcome.outcomes]


@pytest.fixture
def con(tmp_path, dirty_staged, golden_frame):
    db = duckdb.connect(str(tmp_path / "wh.duckdb"))
    db.execute("create schema staging; create schema golden_build")
    db.register("dirty", dirty_staged.to_arrow())
    db.execute("create table staging.customers as select * from dirty")
    db.register("golden", golden_frame.to_arrow())
    db.execute("create table golden_build.customers as select * from golden")
    db.execute("create table golden_build.crosswalk as select * from (values ('erp', 'C100001', 'G1'), "
               "('erp', 'C100001', 'G2'), ('shop', 'x', null), (null, null, 'G3'), (null, null, 'G4')) "
               "t(source, source_record_id, golden_id)")
    yield db
    db.close()


@pytest.mark.parametrize("batch_rows", [3, 200_000])
def test_table_outcomes_equal_frame_outcomes_across_batches(con, dirty_staged, golden_frame, monkeypatch,
                                                            batch_rows):
    monkeypatch.setattr(sources, "BATCH_ROWS", batch_rows)
    for suite, table, frame in [("staged_customers", "staging.customers", dirty_staged),
                                ("golden_customers", "golden_build.customers", golden_frame)]:
        for thresholds in ({}, {"sample_size": 1, "email_valid_mostly": 0.6}):
            on_table = run_suite_on_table(suite, con, table, thresholds=thresholds)
            in_memory = run_suite(suite, frame, thresholds=thresholds)
            assert _fields(on_table) == _fields(in_memory)
            assert on_table.success == in_memory.success
    # the duplicate sits in two different batches of three rows and is still found
    dup = run_suite_on_table("staged_customers", con, "staging.customers").outcome("record_ids_are_unique")
    assert (dup.unexpected_count, dup.row_keys) == (2, ["erp:C100001"])


def test_crosswalk_table_reconciles_against_the_staged_table(con):
    outcome = run_suite_on_table("golden_crosswalk", con, "golden_build.crosswalk", staged_table="staging.customers")
    got = {o.check_name: (o.element_count, o.unexpected_count) for o in outcome.outcomes}
    # compound key: both null-key rows are ignored (all values missing), the erp pair is a duplicate
    assert got["source_keys_are_unique"] == (5, 2)
    assert got["golden_ids_are_present"] == (5, 1)
    recon = outcome.outcome("staged_records_appear_once_in_crosswalk")
    assert recon.unexpected_count == 5  # of 6 staged ids: erp:C100001 twice, four missing
    assert "erp:C100001 (2 rows)" in recon.sample
    # computed in SQL on the tables, the same outcomes as on the frames in memory
    in_memory = run_suite("golden_crosswalk", con.sql("select * from golden_build.crosswalk").pl(),
                          staged=con.sql("select record_id from staging.customers").pl(),
                          thresholds={"sample_size": 3})
    assert _fields(run_suite_on_table("golden_crosswalk", con, "golden_build.crosswalk",
                                      staged_table="staging.customers", thresholds={"sample_size": 3})) == \
        _fields(in_memory)
    with pytest.raises(SuiteInputError, match="golden_crosswalk reconciles against other tables: pass staged_table="):
        run_suite_on_table("golden_crosswalk", con, "golden_build.crosswalk")


def test_missing_table_column_names_the_table(con):
    con.execute("create table staging.thin as select record_id, source from staging.customers")
    with pytest.raises(SuiteInputError, match=r"staged_customers: table staging.thin lacks column\(s\) .*'source_record_id'.*it has \['record_id', 'source'\]"):
        run_suite_on_table("staged_customers", con, "staging.thin")


def test_table_suite_writes_data_docs(con, tmp_path):
    outcome = run_suite_on_table("golden_customers", con, "golden_build.customers", data_docs_dir=tmp_path / "docs")
    pages = list((tmp_path / "docs" / "validations" / "golden_customers").rglob("*.html"))
    assert len(pages) == 1 and outcome.data_docs_index
    html = pages[0].read_text(encoding="utf-8")
    assert "*** ** 12" in html and "1701234512" not in html
    assert "x@y" not in html
