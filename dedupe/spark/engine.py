"""The matching pipeline on Spark (prepare -> block -> score -> cluster) driven by the same
``Settings`` as the polars engine, and ``run_engine``, which picks an engine by name.

``block_records``, ``score_pairs`` and ``cluster_pairs`` are the Spark counterparts of
``dedupe.block``, ``dedupe.score`` and ``dedupe.cluster`` with polars frames in and out, for a
caller that keeps each step's table between steps (the Dagster matching assets)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import polars as pl

from dedupe.matching.blocking import SIDE
from dedupe.matching.clustering import cannot_link_mask
from dedupe.matching.engine import DedupeResult
from dedupe.matching.engine import deduplicate as polars_deduplicate
from dedupe.matching.features import InputError
from dedupe.matching.model import FSModel, calibrate
from dedupe.matching.settings import ENGINES, Settings, default_settings
from dedupe.spark.blocking import block, rule_names
from dedupe.spark.clustering import cluster, label_frame
from dedupe.spark.features import POS, prepare
from dedupe.spark.frames import map_polars, to_polars, to_spark
from dedupe.spark.scoring import gamma_frame, term_frequencies, tf_columns, weight_frame
from dedupe.spark.session import local_session
from dedupe.spark.training import train


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
    extra = _guard_scorer(feats, tf, settings, model) if guard_unblocked else None
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


def _guard_scorer(feats, tf, settings: Settings, model: FSModel):
    """Scores position pairs (``l < r``) that blocking missed, for the chaining guard's second pass."""
    def extra(p):
        return weight_frame(gamma_frame(by_id(p, feats, settings.unique_id), tf.feats, settings,
                                        tf=tuple(tf.expected)), settings, model, tf.expected)
    return extra


def _positioned(spark, feats: pl.DataFrame):
    """A polars features frame in Spark with ``_pos``, its row number (the polars engine's
    position, which draws the random u-pairs and breaks ties between equal weights)."""
    return to_spark(spark, feats.with_row_index(POS).with_columns(pl.col(POS).cast(pl.Int64))).localCheckpoint()


def _with_positions(pairs, feats, uid: str):
    """Id pairs (``id_l``, ``id_r``) with the positions of both records (``l``, ``r``); ids that
    are not in the features frame are an error, as in ``dedupe.score``."""
    from pyspark.sql import functions as F

    a = feats.select(F.col(uid).alias("id_l"), F.col(POS).alias("l"))
    b = feats.select(F.col(uid).alias("id_r"), F.col(POS).alias("r"))
    out = pairs.join(a, "id_l", "left").join(b, "id_r", "left")
    missing = out.where(F.col("l").isNull() | F.col("r").isNull()).select("id_l", "id_r").limit(3).collect()
    if missing:
        raise InputError(f"pairs hold ids missing from the features frame: {[tuple(r) for r in missing]}")
    return out


def block_records(records: pl.DataFrame, settings: Settings | None = None, *, spark
                  ) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int]]:
    """``dedupe.prepare`` + ``dedupe.block`` on Spark: (features in the input's order with the
    columns matching reads, candidate pairs ``id_l, id_r, rule`` in the polars engine's order,
    pairs per rule)."""
    from pyspark.sql import functions as F

    settings = settings or default_settings()
    feats, _ = prepare(to_spark(spark, records), settings)
    pairs, counts = block(feats, settings)
    oriented = by_id(pairs, feats, settings.unique_id).select(
        F.least("l", "r").alias("_a"), F.greatest("l", "r").alias("_b"), "id_l", "id_r",
        rule_names(settings.blocking_rules).alias("rule"))
    out_pairs = to_polars(oriented).sort("_a", "_b").drop("_a", "_b")
    return to_polars(feats).sort(POS).drop(POS), out_pairs, counts


def score_pairs(feats: pl.DataFrame, pairs: pl.DataFrame, settings: Settings | None = None,
                model: FSModel | None = None, *, spark) -> tuple[pl.DataFrame, FSModel]:
    """``dedupe.score`` on Spark: the same columns, pairs in the given order. Without ``model``
    one is trained from all blocked pairs, as ``dedupe.score`` does (its EM passes need to know
    which rules found each pair, so the features are blocked again in Spark)."""
    from pyspark.sql import functions as F

    settings = settings or default_settings()
    uid = settings.unique_id
    if model is not None:
        model.check(settings)
    sfeats = _positioned(spark, feats)
    n = feats.height
    tf = term_frequencies(sfeats, tf_columns(settings, model), n)
    has_rule = "rule" in pairs.columns
    sp = to_spark(spark, pairs.select("id_l", "id_r", *(["rule"] if has_rule else [])).with_row_index("_i")
                  .with_columns(pl.col("_i").cast(pl.Int64)))
    sp = _with_positions(sp, sfeats, uid)
    carry = ("_i", "id_l", "id_r", *(["rule"] if has_rule else []))
    if model is None:
        blocked, _ = block(sfeats, settings)
        ends = [F.least("l", "r").alias("_a"), F.greatest("l", "r").alias("_b")]
        sp = (sp.select("*", *ends).join(blocked.select(*ends, "rules"), ["_a", "_b"], "left")
              .drop("_a", "_b").fillna({"rules": 0}))
        gam = gamma_frame(sp, tf.feats, settings, carry=(*carry, "rules"), tf=tuple(tf.expected)).localCheckpoint()
        n_side0 = int((feats[SIDE] == 0).sum()) if SIDE in feats.columns else None
        model = train(tf.feats, gam, settings, n=n, n_side0=n_side0,
                      gamma_of=lambda p: gamma_frame(p, tf.feats, settings))
    else:
        gam = gamma_frame(sp, tf.feats, settings, carry=carry, tf=tuple(tf.expected))
    scored = weight_frame(gam, settings, model, tf.expected, carry=carry)
    names = [c.name for c in settings.comparisons]
    out = to_polars(scored.select(
        "_i", "id_l", "id_r", *(["rule"] if has_rule else []), "match_weight", "match_probability",
        *[f"gamma_{x}" for x in names], *[f"bf_{x}" for x in names]))
    return out.sort("_i").drop("_i"), model


def cluster_pairs(feats: pl.DataFrame, scored: pl.DataFrame, settings: Settings | None = None, *,
                  model: FSModel | None = None, spark) -> pl.DataFrame:
    """``dedupe.cluster`` on Spark: ``uid, cluster_id`` in the features' order. With ``model``,
    pairs inside a cluster that blocking missed are scored for the chaining guard too."""
    from pyspark.sql import types as T

    settings = settings or default_settings()
    uid = settings.unique_id
    sfeats = _positioned(spark, feats)
    gam_cols = [c for c in scored.columns if c.startswith("gamma_")]
    sp = _with_positions(to_spark(spark, scored.select("id_l", "id_r", "match_weight", "match_probability",
                                                       *gam_cols)), sfeats, uid)
    schema = T.StructType([*[f for f in sp.schema.fields if f.name in ("l", "r", "match_weight", "match_probability")],
                           T.StructField("cannot", T.BooleanType())])
    flagged = map_polars(sp, lambda b: b.select("l", "r", "match_weight", "match_probability").with_columns(
        cannot=pl.Series(cannot_link_mask(b, settings), dtype=pl.Boolean)), schema).localCheckpoint()
    extra = None
    if model is not None:
        model.check(settings)
        tf = term_frequencies(sfeats, tf_columns(settings, model), feats.height)
        extra = _guard_scorer(sfeats, tf, settings, model)
    labels = cluster(sfeats, flagged, settings, extra_pairs=extra)
    out = to_polars(label_frame(sfeats, labels, uid).join(sfeats.select(uid, POS), uid))
    return out.sort(POS).select(uid, "cluster_id")


def run_engine(df: pl.DataFrame, settings: Settings | None = None, *, engine: str = "polars",
               link_with: pl.DataFrame | None = None, model: FSModel | None = None,
               labels: pl.DataFrame | None = None, spark=None) -> DedupeResult:
    """``dedupe.deduplicate`` on the named engine (``polars`` or ``spark``); same result type."""
    if engine == "polars":
        return polars_deduplicate(df, settings, link_with=link_with, model=model, labels=labels)
    if engine == "spark":
        return deduplicate(df, settings, spark=spark, link_with=link_with, model=model, labels=labels).to_polars()
    raise ValueError(f"unknown matching engine {engine!r}; choose one of {ENGINES}")
