"""Erasure reaches the files published before it: merge-list CSVs, a Parquet publication and the
BI read copy."""

from __future__ import annotations

import shutil

import duckdb
import polars as pl

from pipelines.privacy.erase import erase
from pipelines.publish import publish_parquet, read_manifest
from pipelines.publish.writeback import merge_list_dir
from pipelines.warehouse import read_copy_path


def test_erase_removes_the_person_from_published_files(demo_run, wh_copy):
    src_lists = merge_list_dir(demo_run.warehouse)
    assert any(src_lists.glob("merge_list_*.csv")), "the run writes merge lists"
    shutil.copytree(src_lists, merge_list_dir(wh_copy.path))
    shutil.copytree(src_lists, wh_copy.path.parent / "merge_lists")   # the older shared folder
    shutil.copy2(read_copy_path(demo_run.warehouse), read_copy_path(wh_copy.path))
    published = wh_copy.path.parent / "published"
    tables = ["golden.customers", "golden.crosswalk", "golden.customer_360", "golden.review_queue"]
    publish_parquet({t: wh_copy.read(t) for t in tables}, published)

    # a customer with records in a merge list, i.e. with duplicates
    lists = {p: pl.read_csv(p, infer_schema=False) for p in sorted(merge_list_dir(wh_copy.path).glob("*.csv"))}
    gid = next(df["golden_id"][0] for df in lists.values() if df.height)
    cw = wh_copy.read("golden.crosswalk")
    mine = cw.filter(pl.col("golden_id") == gid)
    email = wh_copy.read("golden.customers").filter(pl.col("golden_id") == gid)["email"][0]
    before = {p: df.height for p, df in lists.items()}

    report = erase(wh_copy, golden_id=gid)

    assert report.files_rewritten >= 3 and report.residual == {}, report.render()
    for folder in (merge_list_dir(wh_copy.path), wh_copy.path.parent / "merge_lists"):
        for path in sorted(folder.glob("merge_list_*.csv")):
            df = pl.read_csv(path, infer_schema=False)
            source = path.stem.removeprefix("merge_list_")
            ids = set(mine.filter(pl.col("source") == source)["source_record_id"].to_list())
            assert gid not in set(df["golden_id"]) and not ids & set(df["source_record_id"]), path
            assert df.height == before[merge_list_dir(wh_copy.path) / path.name] - len(ids)
    manifest = read_manifest(published)["tables"]
    for table in tables:
        df = pl.read_parquet(published / manifest[table]["path"])
        cols = [c for c in ("golden_id", "golden_id_l", "golden_id_r") if c in df.columns]
        assert cols and not df.filter(pl.any_horizontal([pl.col(c) == gid for c in cols])).height, table
        assert df.height == manifest[table]["rows"], table
    customers = pl.read_parquet(published / manifest["golden.customers"]["path"])
    assert customers.height == wh_copy.read("golden.customers").height > 0
    if email:
        assert not customers["email"].str.contains(email, literal=True).fill_null(False).any()
    with duckdb.connect(str(read_copy_path(wh_copy.path)), read_only=True) as con:
        left = con.execute("select count(*) from golden.crosswalk where golden_id = ?", [gid]).fetchone()[0]
        total = con.execute("select count(*) from golden.crosswalk").fetchone()[0]
    assert left == 0 and total == cw.height - mine.height
