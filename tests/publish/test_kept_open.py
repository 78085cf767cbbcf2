"""A run keeps the warehouse database open (a cursor per call instead of reopening the file), lets
it go while another connection needs the file, and closes it at the end."""

from __future__ import annotations

import duckdb
import polars as pl

from pipelines.warehouse import Warehouse, kept_open, let_go, publish_read_copy, read_copy_path


def test_calls_inside_a_run_share_one_open_database(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    with kept_open(wh.path):
        wh.write("golden.customers", pl.DataFrame({"golden_id": ["g1", "g2"]}))
        with wh.connect() as a, wh.connect() as b:
            a.execute("begin transaction")
            a.execute("insert into golden.customers values ('g3')")
            # each call is a connection of its own: b does not see a's open transaction
            assert b.execute("select count(*) from golden.customers").fetchone()[0] == 2
            a.execute("commit")
        assert wh.query("select count(*) as n from golden.customers")["n"][0] == 3
        # let_go: the file is free for a connection with other settings
        with let_go(wh.path), duckdb.connect(str(wh.path), read_only=True) as ro:
            assert ro.execute("select count(*) from golden.customers").fetchone()[0] == 3
        assert publish_read_copy(wh.path) == read_copy_path(wh.path)
        assert wh.exists("golden.customers")  # open again after the read copy was written
    # closed at the end: another process (here: a read-only connection) may open the file
    with duckdb.connect(str(wh.path), read_only=True) as ro:
        assert ro.execute("select count(*) from golden.customers").fetchone()[0] == 3
    with duckdb.connect(str(read_copy_path(wh.path)), read_only=True) as ro:
        assert ro.execute("select count(*) from golden.customers").fetchone()[0] == 3


def test_a_kept_database_lets_go_of_its_block_cache_between_calls(tmp_path, monkeypatch):
    """Cached table blocks above the limit are freed after the call (the database is opened again);
    below it the same database stays open."""
    from pipelines import warehouse

    wh = Warehouse(tmp_path / "w.duckdb")
    with kept_open(wh.path):
        wh.write("staging.customers", pl.DataFrame({"n": range(200_000)}))
        key = str(wh.path.absolute())
        opened = warehouse._KEPT[key]
        assert wh.read("staging.customers").height == 200_000
        assert warehouse._KEPT[key] is opened  # a few hundred kB cached: kept
        monkeypatch.setattr(warehouse, "KEPT_CACHE_BYTES", 1024)
        with wh.connect() as con:
            assert con.execute("select count(*) from staging.customers").fetchone()[0] == 200_000
            assert warehouse._KEPT[key] is opened  # never while a cursor is out
        assert warehouse._KEPT[key] is not opened
        assert wh.read("staging.customers").height == 200_000
