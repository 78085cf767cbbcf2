"""Clusters in Spark: connected components of the pairs above the threshold, then the polars
engine's chaining guard (``cluster_positions``) on the components that need it.

The guard only ever looks inside one component, so the components holding a cannot-link pair
are hashed into buckets, each bucket arrives whole at one Python call (``applyInArrow``) and
the polars function runs on all its components at once; pairs keep their global order, so
ties among equal weights break the same way. With a model, pairs inside clusters of 3 to ``MAX_GUARD_CLUSTER``
records that blocking never produced are scored as well, and components where such a pair is
a cannot-link pair are guarded again with it, as ``dedupe.cluster`` does.
"""

from __future__ import annotations

import polars as pl

from dedupe.matching.clustering import MAX_GUARD_CLUSTER, cluster_positions
from dedupe.matching.settings import Settings
from dedupe.spark.components import connected_components
from dedupe.spark.features import POS
from dedupe.spark.frames import map_polars_groups

#: Pair rows per guard bucket (one Python call each).
BUCKET_ROWS = 200_000


def _guard(settings: Settings):
    """Group function: label per node for whole components (``pos``, ``label`` = smallest
    position in its cluster)."""
    def run(df: pl.DataFrame) -> pl.DataFrame:
        nodes = pl.concat([df["l"], df["r"]]).unique().sort()
        # the polars engine's pair order: by the pair's smaller, then larger row position
        df = df.sort(pl.min_horizontal("l", "r"), pl.max_horizontal("l", "r"))
        df = df.with_columns(lp=nodes.search_sorted(df["l"]).cast(pl.Int64),
                             rp=nodes.search_sorted(df["r"]).cast(pl.Int64))
        pairs, extra = df.filter(~pl.col("extra")), df.filter(pl.col("extra"))
        sp = pairs.select("match_weight", "match_probability", l="lp", r="rp")
        extra_cannot = extra.select(l="lp", r="rp") if extra.height else None
        labels = cluster_positions(len(nodes), sp, settings, pairs["cannot"].to_numpy(), extra_cannot)
        out = pl.DataFrame({"pos": nodes, "lab": labels})
        return out.with_columns(label=pl.col("pos").min().over("lab")).select("pos", "label")

    return run


def _run_guard(rows, settings: Settings, partitions: int):
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    schema = T.StructType([T.StructField("pos", T.LongType()), T.StructField("label", T.LongType())])
    rows = rows.select("component", "l", "r", "match_weight", "match_probability", "cannot",
                       F.col("extra").cast("boolean")).localCheckpoint()
    buckets = max(partitions, rows.count() // BUCKET_ROWS + 1)
    rows = rows.withColumn("_bucket", F.pmod(F.xxhash64("component"), F.lit(buckets)))
    return map_polars_groups(rows, "_bucket", _guard(settings), schema)


def cluster(feats, scored, settings: Settings, *, extra_pairs=None, partitions: int | None = None):
    """``pos, label`` for every record (label = smallest position in its cluster).

    ``scored``: ``l, r, match_weight, match_probability, cannot`` (either orientation).
    ``extra_pairs(pairs)``, when given, scores intra-cluster pairs (``l < r``) and returns them
    with ``cannot``; it turns on the second guard pass (``dedupe.cluster`` with a model)."""
    from pyspark.sql import functions as F

    spark = feats.sparkSession
    partitions = partitions or int(spark.conf.get("spark.sql.shuffle.partitions"))
    comp = connected_components(scored.where(F.col("match_probability") >= settings.threshold))
    lc = comp.select(F.col("node").alias("l"), F.col("component"))
    rc = comp.select(F.col("node").alias("r"), F.col("component").alias("_rc"))
    inside = (scored.select("l", "r", "match_weight", "match_probability", "cannot")
              .join(lc, "l").join(rc, "r").where(F.col("component") == F.col("_rc")).drop("_rc")
              .withColumn("extra", F.lit(False))).localCheckpoint()
    bad = inside.where("cannot").select("component").distinct()
    first = _run_guard(inside.join(bad, "component", "left_semi"), settings, partitions)
    labels = (comp.join(first.withColumnRenamed("pos", "node"), "node", "left")
              .select(F.col("node").alias("pos"), F.coalesce("label", "component").alias("label"))
              ).localCheckpoint()
    if extra_pairs is not None:
        sizes = labels.groupBy("label").count().where(F.col("count").between(3, MAX_GUARD_CLUSTER))
        members = labels.join(sizes.select("label"), "label")
        pairs = (members.alias("a").join(members.alias("b"), "label")
                 .where(F.col("a.pos") < F.col("b.pos"))
                 .select(F.col("a.pos").alias("l"), F.col("b.pos").alias("r"))
                 .join(scored.select(F.least("l", "r").alias("l"), F.greatest("l", "r").alias("r")),
                       ["l", "r"], "left_anti"))
        cannot = (extra_pairs(pairs).where("cannot").select("l", "r").join(lc, "l")
                  .select("component", "l", "r")).localCheckpoint()
        if not cannot.isEmpty():
            hit = cannot.select("component").distinct()
            rows = inside.join(hit, "component", "left_semi").unionByName(
                cannot.select("component", "l", "r", F.lit(0.0).alias("match_weight"),
                              F.lit(0.0).alias("match_probability"), F.lit(True).alias("cannot"),
                              F.lit(True).alias("extra")))
            second = _run_guard(rows, settings, partitions)
            labels = (labels.join(second.withColumnRenamed("label", "_l2"), "pos", "left")
                      .select("pos", F.coalesce("_l2", "label").alias("label"))).localCheckpoint()
    return (feats.select(F.col(POS).alias("pos")).join(labels, "pos", "left")
            .select("pos", F.coalesce("label", "pos").alias("label")))


def label_frame(feats, labels, uid: str):
    """``uid, cluster_id``: the cluster id is the smallest unique id in the cluster, as text."""
    from pyspark.sql import functions as F

    ids = feats.select(F.col(POS).alias("pos"), uid)
    with_ids = labels.join(ids, "pos")
    first = with_ids.groupBy("label").agg(F.min(uid).alias("cluster_id"))
    return with_ids.join(first, "label").select(uid, F.col("cluster_id").cast("string"))

