"""Source write-back files (merge lists) as CSV."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipelines.customer360 import merge_lists
from pipelines.publish import PublishError, write_merge_lists


def test_merge_list_files(tmp_path, sample_tables):
    lists = merge_lists(sample_tables["golden.crosswalk"])
    paths = write_merge_lists(lists, tmp_path / "writeback")
    assert sorted(p.name for p in paths.values()) == ["merge_list_erp.csv", "merge_list_shop.csv"]
    erp = pl.read_csv(paths["erp"], infer_schema=False)
    assert erp.to_dicts() == [{"source_record_id": "C100001", "golden_id": "GC-0001", "golden_record_count": "2",
                               "same_source_duplicates": None, "other_source_records": "shop:6500000000001"}]
    shop = pl.read_csv(paths["shop"], schema_overrides={"source_record_id": pl.Utf8})
    assert_frame_equal(shop, lists["shop"], check_dtypes=False)
    assert not list((tmp_path / "writeback").glob(".*"))


def test_bad_source_name(tmp_path):
    with pytest.raises(PublishError, match="'../x'"):
        write_merge_lists({"../x": pl.DataFrame({"a": [1]})}, tmp_path)


def test_two_warehouses_in_one_folder_keep_their_own_files(tmp_path):
    from pipelines.assets.staging import docs_dir
    from pipelines.resources import PublishResource
    from pipelines.warehouse import Warehouse

    res = PublishResource()
    a, b = Warehouse(tmp_path / "a.duckdb"), Warehouse(tmp_path / "b.duckdb")
    crosswalk = pl.DataFrame({"source": ["erp", "erp"], "source_record_id": ["1", "2"], "golden_id": ["GC-A", "GC-A"]})
    write_merge_lists(merge_lists(crosswalk), res.merge_list_dir(a))
    write_merge_lists(merge_lists(crosswalk.with_columns(golden_id=pl.lit("GC-B"))), res.merge_list_dir(b))
    read = {wh.path.stem: pl.read_csv(res.merge_list_dir(wh) / "merge_list_erp.csv")["golden_id"].unique().to_list()
            for wh in (a, b)}
    assert read == {"a": ["GC-A"], "b": ["GC-B"]}
    assert docs_dir(a) != docs_dir(b) and docs_dir(a).parent == tmp_path
