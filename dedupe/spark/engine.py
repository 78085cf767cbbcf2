"""The matching pipeline on Spark (prepare -> block -> score -> cluster) driven by the same
``Settings`` as the polars engine, and ``run_engine``, which picks an engine by name."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import polars as pl

from dedupe.blocking import SIDE
from dedupe.engine import DedupeResult
from dedupe.engine import deduplicate as polars_deduplicate
from dedupe.model import FSModel, calibrate
from dedupe.settings import Settings, default_settings
from dedupe.spark.blocking import block, rule_names
from dedupe.spark.clustering import cluster, label_frame
from dedupe.spark.features import POS, prepare
from dedupe.spark.frames import to_polars, to_spark
from dedupe.spark.scoring import gamma_frame, term_frequencies, tf_columns, weight_frame
from dedupe.spark.training import train

ENGINES = ("polars", "spark")


@dataclass
class SparkDedupeResult:
    """Spark DataFrames of one run; ``to_polars`` gives the polars engine's ``DedupeResult``."""

    clusters: object
    pairs: object
    model: FSModel
    blocking_counts: dict[str, int]
    unique_id: str
    features: object | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def to_polars(self, *, pairs: bool = True) -> DedupeResult:
        clusters = to_polars(self.clusters).sort(self.unique_id)
        scored = to_polars(self.pairs).sort("id_l", "id_r") if pairs else pl.DataFrame()
        return DedupeResult(clusters=clusters, pairs=scored, model=self.model,
                            blocking_counts=self.blocking_counts, timings=self.timings)


def _spark_input(records, spark):
    if isinstance(records, pl.DataFrame):
        if spark is None:
            from dedupe.spark.session import local_session

            spark = local_session()
        return to_spark(spark, records)
    return records


def deduplicate(records, settings: Settings | None = None, *, spark=None, link_with=None,
                model: FSModel | None = None, labels: pl.DataFrame | None = None,
                guard_unblocked: bool = True, keep_features: bool = False,
                table: str = "input") -> SparkDedupeResult:
    """Match a Spark (or polars) DataFrame. Without ``model`` one is trained from the Spark
    data with the polars engine's estimators; ``labels`` (``id_l, id_r, is_match``) calibrate
    it. ``guard_unblocked`` scores intra-cluster pairs that blocking missed, as
    ``dedupe.deduplicate`` does. ``spark``: session used for polars input (default: local)."""
    from pyspark.sql import functions as F

    settings = settings or default_settings()
    uid = settings.unique_id
    records = _spark_input(records, spark)
    if link_with is not None:
        link_with = _spark_input(link_with, records.sparkSession)
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    feats, n = prepare(records, settings, link_with=link_with, table=table)
    n_side0 = feats.where(F.col(SIDE) == 0).count() if SIDE in feats.columns else None
    tf = term_frequencies(feats, tf_columns(settings, model), n)
    feats_tf, tfc = tf.feats, tuple(tf.expected)
    t["prepare"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    pairs, counts = block(feats, settings)
    pairs = by_id(pairs, feats, uid).localCheckpoint()
    t["block"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    carry = ("id_l", "id_r", "rule")
    gam = gamma_frame(pairs, feats_tf, settings, carry=(*carry, "rules"), tf=tfc).localCheckpoint()
    if model is None:
        model = train(feats_tf, gam, settings, n=n, n_side0=n_side0,
                      gamma_of=lambda p: gamma_frame(p, feats_tf, settings))
    scored = weight_frame(gam, settings, model, tf.expected, carry=carry).localCheckpoint()
    if labels is not None:
        lab = to_spark(feats.sparkSession, labels.select(
            pl.min_horizontal("id_l", "id_r").alias("id_l"), pl.max_horizontal("id_l", "id_r").alias("id_r")))
        got = to_polars(scored.join(lab, ["id_l", "id_r"], "left_semi").select("id_l", "id_r", "match_weight"))
        model = calibrate(model, got, labels)
        scored = weight_frame(gam, settings, model, tf.expected, carry=carry).localCheckpoint()
    t["score"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    extra = None
    if guard_unblocked:
        def extra(p):
            return weight_frame(gamma_frame(by_id(p, feats, uid), feats_tf, settings, tf=tfc),
                                settings, model, tf.expected)
    labels_df = cluster(feats, scored, settings, extra_pairs=extra)
    clusters = label_frame(feats, labels_df, uid)
    if SIDE in feats.columns:
        clusters = clusters.join(feats.select(uid, SIDE), uid, "left")
    clusters = clusters.localCheckpoint()
    t["cluster"] = time.perf_counter() - t0

    names = [c.name for c in settings.comparisons]
    out_pairs = scored.select(
        "id_l", "id_r", rule_names(settings.blocking_rules).alias("rule"), "match_weight", "match_probability",
        *[f"gamma_{x}" for x in names], *[f"bf_{x}" for x in names])
    return SparkDedupeResult(clusters=clusters, pairs=out_pairs, model=model, blocking_counts=counts,
                             unique_id=uid, features=feats if keep_features else None, timings=t)


def by_id(pairs, feats, uid: str):
    """Position pairs (``l``, ``r``) turned so the smaller unique id is on the left, with the ids
    (``id_l``, ``id_r``), as the polars engine orients its pairs."""
    from pyspark.sql import functions as F

    a = feats.select(F.col(POS).alias("l"), F.col(uid).alias("_a"))
    b = feats.select(F.col(POS).alias("r"), F.col(uid).alias("_b"))
    j = pairs.join(a, "l").join(b, "r")
    swap = F.col("_a") > F.col("_b")
    rest = [c for c in pairs.columns if c not in ("l", "r")]
    return j.select(F.when(swap, F.col("r")).otherwise(F.col("l")).alias("l"),
                    F.when(swap, F.col("l")).otherwise(F.col("r")).alias("r"),
                    F.when(swap, F.col("_b")).otherwise(F.col("_a")).alias("id_l"),
                    F.when(swap, F.col("_a")).otherwise(F.col("_b")).alias("id_r"), *rest)


def run_engine(df: pl.DataFrame, settings: Settings | None = None, *, engine: str = "polars",
               link_with: pl.DataFrame | None = None, model: FSModel | None = None,
               labels: pl.DataFrame | None = None, spark=None) -> DedupeResult:
    """``dedupe.deduplicate`` on the named engine (``polars`` or ``spark``); same result type."""
    if engine == "polars":
        return polars_deduplicate(df, settings, link_with=link_with, model=model, labels=labels)
    if engine == "spark":
        return deduplicate(df, settings, spark=spark, link_with=link_with, model=model, labels=labels).to_polars()
    raise ValueError(f"unknown matching engine {engine!r}; choose one of {ENGINES}")
