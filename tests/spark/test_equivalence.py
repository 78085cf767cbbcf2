"""The Spark engine against the polars engine on crm_synth 2k: same features, model, pairs and
partition of records."""

from __future__ import annotations

import polars as pl
import pytest

from dedupe import default_settings

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def partition(clusters: pl.DataFrame, uid: str = "record_id") -> set[frozenset]:
    return {frozenset(g) for g in clusters.group_by("cluster_id").agg(pl.col(uid))[uid].to_list()}


def test_identical_partition(polars_2k, spark_2k):
    _, res = spark_2k
    assert res.clusters.height == polars_2k.clusters.height
    a, b = partition(polars_2k.clusters), partition(res.clusters)
    assert len(b) < res.clusters.height          # duplicates were found
    assert a == b, f"{len(a ^ b)} clusters differ"
    # cluster id: the smallest record id of its cluster, as in the polars engine
    assert res.clusters.sort("record_id").equals(polars_2k.clusters.sort("record_id"))


def test_features_identical(polars_2k, spark_2k):
    result, _ = spark_2k
    from dedupe.spark.frames import to_polars

    feats = to_polars(result.features).sort("_pos")
    ref = polars_2k.features
    assert feats["record_id"].to_list() == ref["record_id"].to_list()
    assert feats["_pos"].to_list() == list(range(ref.height))
    for col in feats.columns:
        if col in ref.columns and col != "record_id":
            assert feats[col].to_list() == ref[col].to_list(), col


def test_model_trained_in_spark_equals_polars_model(polars_2k, spark_2k):
    result, _ = spark_2k
    a, b = polars_2k.model, result.model
    assert b.prior == pytest.approx(a.prior, rel=1e-9)
    for name, p in a.comparisons.items():
        q = b.comparisons[name]
        assert q.levels == p.levels and q.tf_levels == p.tf_levels
        assert q.m == pytest.approx(p.m, abs=1e-12), name
        assert q.u == pytest.approx(p.u, abs=1e-12), name


def test_scored_pairs_identical(polars_2k, spark_2k):
    result, res = spark_2k
    settings = default_settings()
    ref, got = polars_2k.pairs, res.pairs
    assert got.columns == ref.columns
    assert got.height == ref.height
    assert result.blocking_counts == polars_2k.blocking_counts
    j = ref.join(got, on=["id_l", "id_r"], how="inner", suffix="_s")
    assert j.height == ref.height
    assert (j["rule"] == j["rule_s"]).all()
    for comp in settings.comparisons:
        assert (j[f"gamma_{comp.name}"] == j[f"gamma_{comp.name}_s"]).all(), comp.name
    assert (j["match_weight"] - j["match_weight_s"]).abs().max() < 1e-9
    assert j.filter(pl.col("match_probability") >= settings.threshold).height > 0
