"""DuckDB publishing: one transaction with comments; a failure leaves the previous tables."""

from __future__ import annotations

import duckdb
import pytest
from polars.testing import assert_frame_equal

from pipelines.publish import PublishError, publish, publish_duckdb
from pipelines.schema_docs import COLUMN_DOCS, TABLE_DOCS
from pipelines.warehouse import Warehouse


def _utc(df):
    """Time zones as UTC (DuckDB may read them back as Etc/UTC): compare instants."""
    return df.with_columns(df[c].dt.convert_time_zone("UTC") for c, t in df.schema.items()
                           if getattr(t, "time_zone", None))


def test_publish_with_comments(tmp_path, sample_tables):
    wh = Warehouse(tmp_path / "wh.duckdb")
    summary = publish_duckdb(sample_tables, wh)
    assert summary["tables"]["golden.customer_360"] == 3
    for table, df in sample_tables.items():
        assert_frame_equal(_utc(wh.read(table)), df, check_dtypes=False)
    with duckdb.connect(str(wh.path), read_only=True) as con:
        docs = con.execute("select table_name, column_name, comment from duckdb_columns() "
                           "where schema_name = 'golden' and table_name = 'customer_360'").fetchall()
        tdoc = con.execute("select comment from duckdb_tables() where schema_name = 'golden' "
                           "and table_name = 'customers'").fetchone()[0]
    assert {c: d for _, c, d in docs} == COLUMN_DOCS["golden.customer_360"]
    assert tdoc == TABLE_DOCS["golden.customers"]


@pytest.mark.parametrize("stage", ["written:golden.customers", "before_commit"])
def test_failure_keeps_previous_tables(tmp_path, sample_tables, sample_tables_v2, stage):
    wh = Warehouse(tmp_path / "wh.duckdb")
    publish_duckdb(sample_tables, wh)
    before = {t: wh.read(t) for t in sample_tables}

    def crash(s):
        if s == stage:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        publish_duckdb(sample_tables_v2, wh, hook=crash)
    for table, df in before.items():
        assert_frame_equal(wh.read(table), df)


def test_dispatch(tmp_path, sample_tables):
    path = tmp_path / "wh.duckdb"
    publish({"golden.crosswalk": sample_tables["golden.crosswalk"]}, destination="duckdb", warehouse=path)
    assert Warehouse(path).read("golden.crosswalk").height == 4
    with pytest.raises(PublishError, match="unknown destination 'bigquery'"):
        publish(sample_tables, destination="bigquery")
    with pytest.raises(PublishError, match="needs a warehouse"):
        publish(sample_tables, destination="duckdb")
