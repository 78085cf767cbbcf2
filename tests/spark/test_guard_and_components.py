"""Hand-made records that exercise both passes of the chaining guard, term frequencies and
Chinese names with a fixed model; connected components against scipy; input errors."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from dedupe import InputError, settings_from_dict
from dedupe.matching.model import ComparisonParams, FSModel

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

SETTINGS = settings_from_dict({
    "unique_id": "id",
    "blocking_rules": [{"name": "email", "columns": ["email__canonical"]},
                       {"name": "phone", "columns": ["phone__key"]},
                       {"name": "city", "columns": ["city__city"]}],
    "comparisons": [
        {"name": "name", "template": "person_name", "given": "given_name", "surname": "surname", "full": None},
        {"name": "email", "template": "email", "column": "email"},
        {"name": "phone", "template": "phone", "column": "phone"},
    ],
    "cannot_link": [{"comparison": "name", "levels": ["different name"]}],
})

ROWS = [
    # r01-r02 share an e-mail, r02-r03 a phone; r01 and r03 are never blocked together and have
    # different names: only the intra-cluster pass finds the conflict (second guard pass)
    ("r01", "Anna", "Berg", "anna.berg@example.com", "+49 30 1111111", "Berlin"),
    ("r02", None, None, "anna.berg@example.com", "+49 30 2222222", "Hamburg"),
    ("r03", "Zoe", "Quist", "zoe.q@example.com", "030 2222222", "Köln"),
    # r04-r06 are blocked by city and conflict on name: a scored cannot-link pair (first pass)
    ("r04", "Carl", "Dahl", "carl@example.com", "+49 40 3333333", "München"),
    ("r05", None, None, "carl@example.com", "+49 40 4444444", None),
    ("r06", "Erik", "Lund", "erik@example.com", "040 4444444", "Munich"),
    # the same person in characters and in pinyin
    ("r07", "伟", "张", None, "+86 138 0013 8000", "深圳"),
    ("r08", "Wei", "Zhang", "wei.zhang@example.com", "13800138000", "Shenzhen"),
    ("r09", "Olga", "Nilsson", "olga@example.com", "+46 8 555 0000", "Stockholm"),
]


def records() -> pl.DataFrame:
    return pl.DataFrame(ROWS, schema=["id", "given_name", "surname", "email", "phone", "city"], orient="row")


def fixed_model() -> FSModel:
    """Top level log2(m/u) ~ +15, every other level ~ -3.3; prior 1 %."""
    comps = {}
    for comp in SETTINGS.comparisons:
        k = len(comp.scored_levels)
        m = [0.9] + [0.1 / (k - 1)] * (k - 1)
        u = [3e-5] + [(1 - 3e-5) / (k - 1)] * (k - 1)
        tf = {lv.name: lv.tf_column for lv in comp.scored_levels if lv.tf_column}
        comps[comp.name] = ComparisonParams(levels=[lv.name for lv in comp.scored_levels], m=m, u=u, tf_levels=tf)
    return FSModel(comparisons=comps, prior=0.01)


def groups(clusters: pl.DataFrame) -> set[frozenset]:
    return {frozenset(g) for g in clusters.group_by("cluster_id").agg(pl.col("id"))["id"].to_list()}


def test_chaining_guard_matches_polars(spark):
    from dedupe.spark import run_engine

    df, model = records(), fixed_model()
    ref = run_engine(df, SETTINGS, engine="polars", model=model)
    # the data really exercises both guard passes
    p = {(a, b): w for a, b, w in ref.pairs.select("id_l", "id_r", "match_probability").iter_rows()}
    assert p[("r01", "r02")] >= 0.9 and p[("r02", "r03")] >= 0.9 and ("r01", "r03") not in p
    assert p[("r04", "r05")] >= 0.9 and p[("r05", "r06")] >= 0.9 and p[("r04", "r06")] < 0.9
    expected = {frozenset({"r01", "r02"}), frozenset({"r03"}), frozenset({"r04", "r05"}), frozenset({"r06"}),
                frozenset({"r07", "r08"}), frozenset({"r09"})}
    assert groups(ref.clusters) == expected

    got = run_engine(df, SETTINGS, engine="spark", model=model, spark=spark)
    assert groups(got.clusters) == expected
    assert got.clusters.sort("id").equals(ref.clusters.sort("id"))
    j = ref.pairs.join(got.pairs, on=["id_l", "id_r"], suffix="_s")
    assert j.height == ref.pairs.height == got.pairs.height
    assert (j["match_weight"] - j["match_weight_s"]).abs().max() < 1e-9   # incl. term frequencies


def test_connected_components_match_scipy(spark):
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as scipy_components

    from dedupe.spark import connected_components

    rng = np.random.default_rng(3)
    n = 400
    # chains, stars and random edges; node ids spread out so they are not positions
    left = np.concatenate([np.arange(0, 60), np.full(30, 200), rng.integers(0, n, 150)])
    right = np.concatenate([np.arange(1, 61), np.arange(201, 231), rng.integers(0, n, 150)])
    ids = rng.permutation(10 * n)[:n].astype(np.int64) * 7 + 1
    edges = spark.createDataFrame([(int(ids[a]), int(ids[b])) for a, b in zip(left, right, strict=True)], "l long, r long")
    got = pl.DataFrame(connected_components(edges).collect(), schema=["node", "component"], orient="row")
    assert got["node"].is_unique().all()
    _, labels = scipy_components(coo_matrix((np.ones(len(left)), (left, right)), shape=(n, n)), directed=False)
    touched = np.unique(np.concatenate([left[left != right], right[left != right]]))
    assert set(got["node"].to_list()) == {int(ids[i]) for i in touched}
    expected = pl.DataFrame({"node": ids[touched], "lab": labels[touched]})
    j = got.join(expected, on="node")
    # same partition, and the component is its smallest node
    assert j.group_by("component").agg(pl.col("lab").n_unique())["lab"].max() == 1
    assert j.group_by("lab").agg(pl.col("component").n_unique())["component"].max() == 1
    assert (j.group_by("component").agg(pl.col("node").min())
            .select((pl.col("component") == pl.col("node")).all()).item())


def test_duplicate_ids_are_refused_with_table_and_id(spark):
    from dedupe.spark import deduplicate

    df = records().with_columns(pl.when(pl.col("id") == "r05").then(pl.lit("r04")).otherwise("id").alias("id"))
    with pytest.raises(InputError, match=r"customers: unique id column 'id' has 1 duplicate.*r04"):
        deduplicate(df, SETTINGS, spark=spark, model=fixed_model(), table="customers")


def test_unknown_engine_and_missing_java(monkeypatch):
    from dedupe.spark import run_engine, spark_unavailable_reason

    with pytest.raises(ValueError, match="unknown matching engine 'dask'"):
        run_engine(records(), SETTINGS, engine="dask")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "")
    assert "Java" in spark_unavailable_reason()


def test_link_only_matches_polars(spark):
    from dedupe.spark import run_engine

    df = records()
    left = df.filter(pl.col("id").is_in(["r01", "r03", "r04", "r07", "r09"]))
    right = df.filter(~pl.col("id").is_in(left["id"].to_list()))
    settings, model = SETTINGS.replace(link_type="link_only"), fixed_model()
    ref = run_engine(left, settings, engine="polars", link_with=right, model=model)
    got = run_engine(left, settings, engine="spark", link_with=right, model=model, spark=spark)
    assert got.clusters.columns == ref.clusters.columns == ["id", "cluster_id", "__side"]
    assert got.clusters.sort("id").equals(ref.clusters.sort("id"))
    # only pairs across the two tables, and the cross-table duplicates found
    sides = dict(zip(ref.clusters["id"], ref.clusters["__side"], strict=True))
    assert all(sides[a] != sides[b] for a, b in got.pairs.select("id_l", "id_r").iter_rows())
    assert groups(got.clusters) >= {frozenset({"r01", "r02"}), frozenset({"r07", "r08"})}
