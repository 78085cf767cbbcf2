"""A build table written as a delta: the picked customers' rows on top of the kept published ones,
published in the same transaction as the renamed tables."""

import duckdb
import polars as pl
import pytest

from pipelines.publish.swap import discard_build, publish_built, write_built, write_delta


@pytest.fixture
def con(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema golden")
    con.execute("create table golden.customers as select * from (values ('g1', 'Ann'), ('g2', 'Bob'), "
                "('g3', 'Cy'), ('g4', 'Dee')) t(golden_id, name)")
    discard_build(con)
    # g1 and g2 kept, g3 picked again, g4 gone (merged away), g5 new
    write_built(con, "golden_build._state", pl.DataFrame({"golden_id": ["g1", "g2", "g3", "g5"],
                                                          "kept": [True, True, False, False]}))
    yield con
    con.close()


def _rows(con, table):
    return sorted(con.execute(f"select golden_id, name from {table}").fetchall())


def test_delta_is_seen_with_the_kept_rows_and_published_in_place(con):
    picked = pl.DataFrame({"golden_id": ["g3", "g5"], "name": ["Cyrus", "Eve"]})
    rows = write_delta(con, "golden_build.customers", picked, published="golden.customers", kept_by="golden_build._state")
    expected = [("g1", "Ann"), ("g2", "Bob"), ("g3", "Cyrus"), ("g5", "Eve")]
    assert rows == 4 and _rows(con, "golden_build.customers") == expected
    assert _rows(con, "golden.customers") == [("g1", "Ann"), ("g2", "Bob"), ("g3", "Cy"), ("g4", "Dee")]

    published = publish_built(con)
    assert "golden.customers" in published and "golden._state" in published
    assert _rows(con, "golden.customers") == expected
    left = {r[0] for r in con.execute("select table_name from duckdb_tables() where schema_name = 'golden'").fetchall()}
    assert left == {"customers", "_state", "_published_delta_customers"}   # the delta kept for the read copy
    assert _rows(con, "golden._published_delta_customers") == [("g3", "Cyrus"), ("g5", "Eve")]
    # the next publish drops it (here one without a delta)
    write_built(con, "golden_build._state", pl.DataFrame({"golden_id": ["g1"], "kept": [False]}))
    publish_built(con)
    left = {r[0] for r in con.execute("select table_name from duckdb_tables() where schema_name = 'golden'").fetchall()}
    assert left == {"customers", "_state"}


def test_appended_groups_and_an_empty_delta(con):
    for i, group in enumerate((["g3"], ["g5"])):
        write_delta(con, "golden_build.customers", pl.DataFrame({"golden_id": group, "name": ["x"]}),
                    published="golden.customers", kept_by="golden_build._state", append=bool(i))
    assert [g for g, _ in _rows(con, "golden_build.customers")] == ["g1", "g2", "g3", "g5"]
    assert write_delta(con, "golden_build.customers", None, published="golden.customers",
                       kept_by="golden_build._state") == 2   # nothing picked: the kept rows only
    publish_built(con)
    assert _rows(con, "golden.customers") == [("g1", "Ann"), ("g2", "Bob")]


def test_a_failed_publish_leaves_the_published_tables_as_they_were(con):
    bad = pl.DataFrame({"golden_id": ["g3"], "name": ["Cyrus"], "not_published": [1]})
    write_delta(con, "golden_build.customers", bad, published="golden.customers", kept_by="golden_build._state")
    with pytest.raises(duckdb.Error):
        publish_built(con)
    assert _rows(con, "golden.customers") == [("g1", "Ann"), ("g2", "Bob"), ("g3", "Cy"), ("g4", "Dee")]
    assert con.execute("select count(*) from golden._build__state").fetchall()[0][0] == 4   # not renamed


def test_a_table_built_whole_after_all_drops_its_delta(con):
    write_delta(con, "golden_build.customers", pl.DataFrame({"golden_id": ["g3"], "name": ["Cyrus"]}),
                published="golden.customers", kept_by="golden_build._state")
    write_built(con, "golden_build.customers", pl.DataFrame({"golden_id": ["g9"], "name": ["Nine"]}))
    publish_built(con)
    assert _rows(con, "golden.customers") == [("g9", "Nine")]


def test_discarding_a_build_drops_its_deltas(con):
    write_delta(con, "golden_build.customers", pl.DataFrame({"golden_id": ["g3"], "name": ["Cyrus"]}),
                published="golden.customers", kept_by="golden_build._state")
    discard_build(con)
    left = {r[0] for r in con.execute("select table_name from duckdb_tables() where schema_name = 'golden'").fetchall()}
    assert left == {"customers"}
    assert publish_built(con) == []
