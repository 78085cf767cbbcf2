"""The golden build per group of clusters gives exactly the one-shot build: the same customers,
crosswalk, lineage and ids, and the same ``golden_build`` tables in the same row order."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dedupe.canonical import conform
from dedupe.golden.records import build_golden, golden_chunks, plan_golden
from dedupe.golden.survivorship import SurvivorshipRules
from pipelines.assets.golden_write import build_tables
from pipelines.assets.matching import MatchingResource
from pipelines.customer360 import Customer360Config
from pipelines.demo import generate
from pipelines.privacy import hash_key
from pipelines.resources import SourcesResource
from pipelines.runner import run_pipeline
from pipelines.warehouse import Warehouse

AT = datetime(2026, 6, 1, tzinfo=UTC)


def assert_same_build(a, b) -> None:
    for name in ("customers", "crosswalk", "lineage", "registry", "retired"):
        assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
    assert a.id_stats == b.id_stats


def _small_batch() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Six customers of one to four records, sharing names and cities across clusters."""
    t = datetime(2025, 3, 1, tzinfo=UTC)
    rows = []
    for c, size in enumerate((3, 1, 4, 2, 1, 3)):
        for k in range(size):
            rows.append({"record_id": f"erp:{c}{k}", "source": "erp", "source_record_id": f"{c}{k}",
                         "given_name": ["Anna", "Ana", "Anne"][(c + k) % 3], "surname": f"Berg{c % 2}",
                         "email": f"a{c}@example.com", "city": ["Berlin", "Berlinn"][k % 2], "country": "DE",
                         "street": f"{c} Hauptstrasse", "created_at": t, "updated_at": t,
                         "cluster": f"c{c}"})
    df = pl.DataFrame(rows)
    return conform(df.drop("cluster")), df.select("record_id", pl.col("cluster").alias("cluster_id"))


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 8])
def test_any_group_size_gives_the_one_shot_build(chunk):
    staged, clusters = _small_batch()
    assert_same_build(build_golden(staged, clusters, at=AT, chunk_records=chunk), build_golden(staged, clusters, at=AT))


def test_groups_hold_whole_clusters_in_golden_id_order():
    staged, clusters = _small_batch()
    plan = plan_golden(staged, clusters, at=AT)
    parts = list(golden_chunks(plan, 3))
    assert len(parts) > 2
    ids = [gid for customers, _ in parts for gid in customers["golden_id"].to_list()]
    assert ids == sorted(ids) and len(ids) == len(set(ids)) == clusters["cluster_id"].n_unique()


def test_a_custom_rule_sees_the_whole_batch():
    """A custom rule may compare across clusters: the pick then runs once, on every cluster."""
    seen = []

    def newest_email(members: pl.DataFrame, field: str) -> pl.DataFrame:
        seen.append(members["cluster_id"].n_unique())
        return members.group_by("cluster_id").agg(pl.col(field).sort_by("record_id").last().alias("value"),
                                                  pl.col("record_id").sort().last())

    staged, clusters = _small_batch()
    rules = SurvivorshipRules(fields={"email": newest_email})
    plan = plan_golden(staged, clusters, rules=rules, at=AT)
    assert len(list(golden_chunks(plan, 2))) == 1
    assert seen == [clusters["cluster_id"].n_unique()]


# -- a demo batch through the pipeline ---------------------------------------------------------


@pytest.fixture(scope="module")
def demo_warehouse(tmp_path_factory):
    """A published demo warehouse (seed 202): staged records, clusters and purchases."""
    tmp = tmp_path_factory.mktemp("chunked")
    sources = tmp / "src"
    generate(sources, entities=400, seed=202, bad_rows=0.02)
    warehouse = tmp / "base.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(tmp / "dagster_home"))
        summary = run_pipeline(sources=sources, warehouse=warehouse)
    assert summary.success and summary.published, summary.render()
    return tmp, sources, Warehouse(warehouse)


@pytest.mark.slow
def test_demo_batch_chunked_equals_one_shot(demo_warehouse):
    _, _, wh = demo_warehouse
    staged, clusters = wh.read("staging.customers"), wh.read("matching.clusters")
    previous, registry = wh.read("golden.crosswalk"), wh.read("golden.id_registry")
    one = build_golden(staged, clusters, at=AT, previous_crosswalk=previous, registry=registry)
    assert one.customers.height < one.crosswalk.height == staged.height   # duplicates were merged
    plan = plan_golden(staged, clusters, at=AT, previous_crosswalk=previous, registry=registry)
    assert len(list(golden_chunks(plan, 50))) > 10
    for chunk in (50, 333):
        assert_same_build(build_golden(staged, clusters, at=AT, previous_crosswalk=previous, registry=registry,
                                       chunk_records=chunk), one)


def _tables(path) -> dict[str, pl.DataFrame]:
    with duckdb.connect(str(path), read_only=True) as con:
        names = [r[0] for r in con.execute("select table_name from information_schema.tables where table_schema = "
                                           "'golden_build' order by 1").fetchall()]
        return {n: con.sql(f'select * from golden_build."{n}"').pl() for n in names}


@pytest.mark.slow
def test_demo_build_tables_are_the_same_in_groups(demo_warehouse):
    """Every golden_build table, row for row, whether survivorship ran at once or in groups."""
    tmp, sources, base = demo_warehouse
    config = SourcesResource(directory=str(sources)).config()
    built = {}
    for chunk in (None, 60):
        path = tmp / f"chunk_{chunk}.duckdb"
        shutil.copy(base.path, path)
        wh = Warehouse(path)
        summary = build_tables(wh, rules=MatchingResource().survivorship(), review_band=(0.5, 0.9),
                               c360_config=Customer360Config(), sources_config=config, hash_key=hash_key(wh),
                               at=AT, chunk_records=chunk)
        built[chunk] = _tables(path)
        assert summary.rows == {f"golden_build.{n}": df.height for n, df in built[chunk].items()}
    one, grouped = built[None], built[60]
    assert {"customers", "crosswalk", "customer_lineage", "customers_masked", "customer_360"} <= set(one)
    assert one.keys() == grouped.keys()
    for name, df in one.items():
        assert_frame_equal(grouped[name], df, check_exact=True)
    assert one["customers"]["golden_id"].is_sorted()


# -- customers taken from the last build -------------------------------------------------------


def _build(wh: Warehouse, config, *, key: bytes | None = None):
    return build_tables(wh, rules=MatchingResource().survivorship(), review_band=(0.5, 0.9),
                        c360_config=Customer360Config(), sources_config=config,
                        hash_key=key if key is not None else hash_key(wh), at=AT, chunk_records=None)


def _sorted(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort(df.columns, nulls_last=True)


def _edit(path) -> None:
    """Change some members (a name, a street), move one record to another customer and add one."""
    with duckdb.connect(str(path)) as con:
        ids = [r[0] for r in con.execute("select record_id from staging.customers order by record_id").fetchall()]
        con.execute("update staging.customers set given_name = given_name || 'e' where record_id in (?, ?, ?)",
                    ids[3:6])
        con.execute("update staging.customers set street = 'Neue Strasse 1' where record_id = ?", [ids[40]])
        con.execute("update matching.clusters set cluster_id = (select cluster_id from matching.clusters "
                    "where record_id = ?) where record_id = ?", [ids[80], ids[81]])
        # a new customer: every name it shares becomes more common in the batch
        con.execute("insert into staging.customers select * replace ('new:1' as record_id, 'new1' as "
                    "source_record_id) from staging.customers where record_id = ?", [ids[120]])
        con.execute("insert into matching.clusters select * replace ('new:1' as record_id, 'new:1' as cluster_id) "
                    "from matching.clusters where record_id = ?", [ids[120]])


@pytest.mark.slow
def test_unchanged_customers_are_taken_from_the_last_build(demo_warehouse):
    """After some members changed, the build picks only their customers and copies the others'
    rows; every golden_build table equals a build that picked every customer."""
    tmp, sources, base = demo_warehouse
    config = SourcesResource(directory=str(sources)).config()
    built, summaries = {}, {}
    for mode in ("reuse", "pick_all"):
        path = tmp / f"{mode}.duckdb"
        shutil.copy(base.path, path)
        _edit(path)
        if mode == "pick_all":
            with duckdb.connect(str(path)) as con:
                con.execute("drop table golden._state_clusters")
        summaries[mode] = _build(Warehouse(path), config)
        built[mode] = _tables(path)
    customers = summaries["reuse"].rows["golden_build.customers"]
    assert summaries["pick_all"].reused_customers == 0
    assert 0 < customers - summaries["reuse"].reused_customers <= 11   # the changed and new customers only
    assert built["reuse"].keys() == built["pick_all"].keys()
    bookkeeping = ["kept", "build_id", "previous_build_id"]   # of the state: how this build was made
    for name, df in built["pick_all"].items():
        ours = built["reuse"][name]
        if name == "_state_clusters":
            assert ours["kept"].sum() == summaries["reuse"].reused_customers and not df["kept"].any()
            ours, df = ours.drop(bookkeeping), df.drop(bookkeeping)
        if name == "_state_customer_360":   # most rows of customer_360 stay as published
            assert ours["kept"].sum() >= summaries["reuse"].reused_customers - 20 and not df["kept"].any()
            ours, df = ours.drop("kept"), df.drop("kept")
        assert_frame_equal(_sorted(ours), _sorted(df), check_exact=True)
    # the reusing build wrote only the picked customers' rows (a delta on the published table)
    with duckdb.connect(str(tmp / "reuse.duckdb"), read_only=True) as con:
        picked = con.execute("select count(*) from golden._delta_customers").fetchall()[0][0]
        lineage = con.execute("select count(distinct golden_id) from golden._delta_customer_lineage").fetchall()[0][0]
    assert picked == lineage == customers - summaries["reuse"].reused_customers


@pytest.mark.slow
def test_another_masking_key_picks_every_customer_again(demo_warehouse):
    tmp, sources, base = demo_warehouse
    path = tmp / "other_key.duckdb"
    shutil.copy(base.path, path)
    config = SourcesResource(directory=str(sources)).config()
    wh = Warehouse(path)
    assert _build(wh, config).reused_customers == _build(wh, config).rows["golden_build.customers"] > 0
    summary = _build(wh, config, key=b"another key" * 3)
    assert summary.reused_customers == 0


@pytest.mark.slow
def test_read_copy_is_brought_up_to_date_customer_by_customer(demo_warehouse, monkeypatch):
    """The next read copy starts from the last one and replaces only the changed customers' rows:
    it equals a whole copy of the published tables."""
    import pipelines.warehouse as warehouse_module
    from pipelines.assets.golden import APPEND_TABLES
    from pipelines.assets.golden_write import publish_tables

    tmp, sources, base = demo_warehouse
    folder = tmp / "read_copy"
    folder.mkdir()
    path = folder / "w.duckdb"
    shutil.copy(base.path, path)
    wh, config = Warehouse(path), SourcesResource(directory=str(sources)).config()
    _build(wh, config)
    first = publish_tables(wh, append=APPEND_TABLES, merge_list_dir=folder / "lists")   # no read copy yet
    assert first["read_copy_update"] == "copied whole"
    _edit(path)
    summary = _build(wh, config)
    assert 0 < summary.reused_customers < summary.rows["golden_build.customers"]

    def copied_whole(*args, **kwargs):
        raise AssertionError("the read copy was copied whole")

    monkeypatch.setattr(warehouse_module, "_write_read_copy", copied_whole)
    second = publish_tables(wh, append=APPEND_TABLES, merge_list_dir=folder / "lists")
    monkeypatch.undo()
    assert second["read_copy_update"] == "brought up to date from the last read copy"
    # the write-back files come out in one order, whatever order the updated tables hold their rows in
    for source, csv_path in second["merge_list_files"].items():
        written = pl.read_csv(csv_path, infer_schema=False)
        assert written.height > 0 and written.equals(written.sort("golden_id", "source_record_id"))
        with duckdb.connect(str(path), read_only=True) as con:
            assert written.height == con.execute(f"select count(*) from golden.merge_list_{source}").fetchall()[0][0]
    whole = folder / "whole.duckdb"
    warehouse_module._write_read_copy(whole, path, warehouse_module.READ_COPY_SCHEMAS)

    def published(db) -> dict[str, pl.DataFrame]:
        with duckdb.connect(str(db), read_only=True) as con:
            names = [r[0] for r in con.execute("select table_name from information_schema.tables where "
                                               "table_schema = 'golden' order by 1").fetchall()]
            return {n: _sorted(con.sql(f'select * exclude (how) from golden."{n}"' if n == "_read_copy_build"
                                       else f'select * from golden."{n}"').pl()) for n in names}

    updated, expected = published(warehouse_module.read_copy_path(path)), published(whole)
    assert updated.keys() == expected.keys() and "customer_lineage" in updated
    for name, df in expected.items():
        assert_frame_equal(updated[name], df, check_exact=True)
