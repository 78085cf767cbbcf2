"""Matching features in Spark, computed by the polars engine's own ``prepare`` so both engines
see identical values.

Most features are per record and run over Arrow batches on the workers. Person-name features
are the exception: ``prepare`` orients given name and surname by table-wide statistics (how
often a word is seen as a surname), so they are computed once on the driver over the distinct
name tuples with their counts, then joined back. Records also get ``_pos``, their row number in
the input's order, which is the row position the polars engine uses.
"""

from __future__ import annotations

import polars as pl

from dedupe.matching.blocking import SIDE
from dedupe.matching.comparisons import peer_column
from dedupe.matching.features import InputError, name_features, referenced_columns
from dedupe.matching.features import prepare as polars_prepare
from dedupe.matching.settings import Settings
from dedupe.spark.frames import empty_frame, map_polars, spark_schema, to_polars, to_spark

POS = "_pos"


def check_unique_id(records, uid: str, *, table: str = "input") -> None:
    """The unique-id column must exist, be non-null and unique; errors give counts and examples."""
    from pyspark.sql import functions as F

    if uid not in records.columns:
        raise InputError(f"{table}: unique id column {uid!r} is missing (columns: {records.columns})")
    row = records.agg(F.sum(F.col(uid).isNull().cast("long")).alias("nulls"),
                      F.count(F.lit(1)).alias("rows"), F.countDistinct(uid).alias("ids")).first()
    if row["nulls"]:
        raise InputError(f"{table}: unique id column {uid!r} is empty in {row['nulls']} rows")
    if row["ids"] != row["rows"]:
        dup = (records.groupBy(uid).count().where(F.col("count") > 1).orderBy(uid).limit(3)
               .select(uid).collect())
        raise InputError(f"{table}: unique id column {uid!r} has {row['rows'] - row['ids']} duplicate values "
                         f"(e.g. {[r[0] for r in dup]})")


def _name_columns(settings: Settings) -> list[tuple[str, dict]]:
    return [(c.name, c.template) for c in settings.comparisons
            if (c.template or {}).get("template") == "person_name"]


def add_name_features(records, settings: Settings):
    """Join the person-name features, computed on the driver over distinct name tuples."""
    from pyspark.sql import functions as F

    spark = records.sparkSession
    for prefix, t in _name_columns(settings):
        if f"{prefix}__key" in records.columns:
            continue
        named = [t.get("given"), t.get("surname"), t.get("full")]
        cols = [c for c in named if c and c in records.columns]
        if not cols:
            raise InputError(f"name comparison {prefix!r} needs at least one of the columns "
                             f"{[c for c in named if c]}; the input has {records.columns}")
        if t.get("suffix") and t["suffix"] in records.columns:
            cols.append(t["suffix"])
        uniq = to_polars(records.groupBy(*cols).agg(F.count(F.lit(1)).alias("_n")))
        uniq = uniq.with_columns(pl.col("_n").cast(pl.UInt32))
        feats = name_features(uniq, prefix, given=t.get("given"), surname=t.get("surname"),
                               full=t.get("full"), suffix=t.get("suffix")).drop("_n")
        names = to_spark(spark, feats).alias("n")
        cond = [F.col(f"r.{c}").eqNullSafe(F.col(f"n.{c}")) for c in cols]
        records = (records.alias("r").join(F.broadcast(names) if uniq.height < 200_000 else names, cond, "left")
                   .select("r.*", *[F.col(f"n.{c}") for c in feats.columns if c not in cols]))
    return records


def peer_levels(settings: Settings) -> list[tuple[str, tuple[str, ...]]]:
    """(flag, key) of every level that looks at other records of the table (``peer_flag``)."""
    seen: list[tuple[str, tuple[str, ...]]] = []
    for c in settings.comparisons:
        for lv in c.levels:
            if lv.peer_flag and (lv.peer_flag, lv.peer_key) not in seen:
                seen.append((lv.peer_flag, lv.peer_key))
    return seen


def add_peer_flags(feats, settings: Settings):
    """The table-wide ``peer_flags`` of the polars engine as columns (``peer_column``): pair
    batches only hold their own records, so the flags are computed over all records here."""
    from pyspark.sql import functions as F

    for flag, key in peer_levels(settings):
        name = peer_column(flag, key)
        cond = F.col(flag)
        for k in key:
            cond = cond & F.col(k).isNotNull()
        groups = feats.where(cond).select(*key).distinct().withColumn(name, F.lit(True))
        feats = (feats.join(groups, list(key), "left")
                 .withColumn(name, F.coalesce(F.col(name), F.lit(False))))
    return feats


def with_positions(frame):
    """Add ``_pos``: the 0-based row number in the frame's own order (partition by partition,
    as read), the position the polars engine uses, without moving rows: per-partition offsets
    over ``monotonically_increasing_id``. Returns the frame (checkpointed) and its row count."""
    from pyspark.sql import functions as F

    spark = frame.sparkSession
    numbered = (frame.withColumn("_pid", F.spark_partition_id())
                .withColumn("_mid", F.monotonically_increasing_id())).localCheckpoint()
    counts = sorted((r["_pid"], r["count"]) for r in numbered.groupBy("_pid").count().collect())
    offsets, total = [], 0
    for pid, n in counts:
        offsets.append((pid, total))
        total += n
    off = spark.createDataFrame(offsets or [(0, 0)], "_pid int, _off long")
    return (numbered.join(F.broadcast(off), "_pid")
            .withColumn(POS, F.col("_off") + F.col("_mid") - F.shiftleft(F.col("_pid").cast("long"), 33))
            .drop("_pid", "_mid", "_off")), total


def prepare(records, settings: Settings, *, link_with=None, table: str = "input"):
    """Spark features frame (unique id, ``__side`` when linking, every feature the settings
    reference, ``_pos``; locally checkpointed: the features are computed once) and its row count."""
    from pyspark.sql import functions as F

    uid = settings.unique_id
    check_unique_id(records, uid, table=table)
    if link_with is not None:
        check_unique_id(link_with, uid, table="link table")
        records = records.withColumn(SIDE, F.lit(0).cast("tinyint")).unionByName(
            link_with.withColumn(SIDE, F.lit(1).cast("tinyint")), allowMissingColumns=True)
        table = f"{table}+link table"
        shared = records.groupBy(uid).count().where(F.col("count") > 1).limit(1).collect()
        if shared:
            raise InputError(f"input and the link table share unique ids (e.g. {shared[0][0]!r}); "
                             f"ids must be distinct across both tables")
    records, n = with_positions(records)
    records = add_name_features(records, settings)
    keep = [POS, uid, *([SIDE] if SIDE in records.columns else []),
            *sorted(c for c in referenced_columns(settings) if c != uid)]

    def run(batch: pl.DataFrame) -> pl.DataFrame:
        out = polars_prepare(batch, settings, table=table)
        return out.select([c for c in keep if c in out.columns])

    sample = run(empty_frame(records.schema))
    feats = add_peer_flags(map_polars(records, run, spark_schema(sample)), settings)
    return feats.localCheckpoint(), n
