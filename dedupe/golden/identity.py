"""Persistent golden ids: the same customer keeps its id from run to run.

Given this run's clusters and the previous run's crosswalk (record -> golden id):

- every previous id goes to the new cluster holding most of its records (a split cluster's
  largest part keeps the id);
- a cluster that receives several previous ids keeps the oldest; the others are retired with
  reason ``merged`` and the surviving id recorded;
- a previous id none of whose records remain is retired with reason ``no_sources``;
- a cluster that receives none gets a new id derived from its smallest record id (so the same
  input always yields the same ids), never re-issuing an id the registry already knows.

Ids are opaque strings (``GC-`` + 16 hex digits), never row numbers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from dedupe.canonical import RECORD_ID

PREFIX = "GC-"
REGISTRY_SCHEMA = {"golden_id": pl.Utf8, "created_at": pl.Datetime("us", "UTC"),
                   "retired_at": pl.Datetime("us", "UTC"), "surviving_id": pl.Utf8, "retired_reason": pl.Utf8}
HISTORY_SCHEMA = {"retired_id": pl.Utf8, "surviving_id": pl.Utf8, "reason": pl.Utf8,
                  "at": pl.Datetime("us", "UTC")}


@dataclass
class IdAssignment:
    """The outcome of one id assignment."""

    ids: pl.DataFrame        # cluster_id, golden_id
    registry: pl.DataFrame   # every id ever issued (REGISTRY_SCHEMA)
    retired: pl.DataFrame    # ids retired by this run (HISTORY_SCHEMA)
    stats: dict[str, int]


def new_id(seed: str, salt: int = 0) -> str:
    """The id for a new cluster whose smallest record id is ``seed``."""
    text = seed if salt == 0 else f"{seed}#{salt}"
    return PREFIX + hashlib.sha1(text.encode()).hexdigest()[:16]


def empty_registry() -> pl.DataFrame:
    return pl.DataFrame(schema=REGISTRY_SCHEMA)


def _first(df: pl.DataFrame, by: str, order: list[str], descending: list[bool]) -> pl.DataFrame:
    """Per ``by``, the row that comes first in ``order`` (nulls last)."""
    return (df.sort([by, *order], descending=[False, *descending], nulls_last=True)
            .unique(by, keep="first", maintain_order=True))


def assign_ids(clusters: pl.DataFrame, previous: pl.DataFrame | None = None,
               registry: pl.DataFrame | None = None, *, at: datetime) -> IdAssignment:
    """Golden ids for ``clusters`` (record_id, cluster_id) continuing ``previous`` (record_id,
    golden_id) and ``registry`` (ids issued before)."""
    registry = registry if registry is not None and registry.height else empty_registry()
    registry = registry.cast(REGISTRY_SCHEMA)
    at_lit = pl.lit(at).cast(pl.Datetime("us", "UTC"))
    live = registry.filter(pl.col("retired_at").is_null())
    prev = (previous.select(RECORD_ID, pl.col("golden_id").alias("old_id"))
            if previous is not None and previous.height else pl.DataFrame(schema={RECORD_ID: pl.Utf8, "old_id": pl.Utf8}))
    overlap = (clusters.select(RECORD_ID, "cluster_id").join(prev, on=RECORD_ID, how="inner")
               .group_by("cluster_id", "old_id").agg(pl.len().alias("n")))
    # each previous id goes to the cluster holding most of its records; almost every id is in one
    # cluster and almost every cluster gets one id, so only the few others are ranked
    split = overlap["old_id"].is_duplicated()
    home = pl.concat([overlap.filter(~split), _first(overlap.filter(split), "old_id", ["n", "cluster_id"], [True, False])])
    splits = overlap.filter(split)["old_id"].n_unique()
    # each cluster keeps the oldest of the ids it received
    several = home["cluster_id"].is_duplicated()
    contested = home.filter(several).join(live.select(pl.col("golden_id").alias("old_id"), "created_at"),
                                          on="old_id", how="left")   # an id no longer live ranks last
    keep = pl.concat([home.filter(~several).select("cluster_id", "old_id"),
                      _first(contested, "cluster_id", ["created_at", "n", "old_id"], [False, True, False])
                      .select("cluster_id", "old_id")]).select("cluster_id", pl.col("old_id").alias("golden_id"))
    merged = contested.join(keep, on="cluster_id").filter(pl.col("old_id") != pl.col("golden_id")).select(
        pl.col("old_id").alias("retired_id"), pl.col("golden_id").alias("surviving_id"),
        pl.lit("merged").alias("reason"), at_lit.alias("at"))
    gone = prev.select("old_id").unique().join(home.select("old_id"), on="old_id", how="anti").select(
        pl.col("old_id").alias("retired_id"), pl.lit(None, pl.Utf8).alias("surviving_id"),
        pl.lit("no_sources").alias("reason"), at_lit.alias("at"))
    retired = pl.concat([merged, gone]).cast(HISTORY_SCHEMA).sort("retired_id")

    fresh = (clusters.join(keep, on="cluster_id", how="anti").group_by("cluster_id")
             .agg(pl.col(RECORD_ID).min().alias("seed")).sort("seed"))   # salts go by seed, not cluster label
    fresh_ids = [new_id(seed) for seed in fresh["seed"].to_list()]   # one hash per new cluster, not per pair
    first = pl.Series(fresh_ids, dtype=pl.Utf8)
    if (first.is_in(registry["golden_id"].implode()) | first.is_duplicated()).any():
        # an id issued before (or twice now): salted, in seed order, against a set of every id (rare)
        taken = set(registry["golden_id"].to_list())
        for i, seed in enumerate(fresh["seed"].to_list()):
            salt, gid = 0, new_id(seed)
            while gid in taken:
                salt += 1
                gid = new_id(seed, salt)
            taken.add(gid)
            fresh_ids[i] = gid
    fresh = fresh.select("cluster_id").with_columns(golden_id=pl.Series(fresh_ids, dtype=pl.Utf8))
    ids = pl.concat([keep, fresh]).sort("cluster_id")

    new_rows = fresh.select("golden_id", at_lit.alias("created_at"), pl.lit(None).cast(pl.Datetime("us", "UTC")).alias("retired_at"),
                            pl.lit(None, pl.Utf8).alias("surviving_id"), pl.lit(None, pl.Utf8).alias("retired_reason"))
    upd = retired.select(pl.col("retired_id").alias("golden_id"), pl.col("at").alias("__ret_at"),
                         pl.col("surviving_id").alias("__surv"), pl.col("reason").alias("__reason"))
    registry = (registry.join(upd, on="golden_id", how="left").with_columns(
        pl.coalesce("retired_at", "__ret_at").alias("retired_at"),
        pl.coalesce("surviving_id", "__surv").alias("surviving_id"),
        pl.coalesce("retired_reason", "__reason").alias("retired_reason"),
    ).drop("__ret_at", "__surv", "__reason"))
    registry = pl.concat([registry, new_rows.cast(REGISTRY_SCHEMA)]).sort("golden_id")
    stats = {"kept": keep.height, "new": fresh.height, "merged": merged.height,
             "retired_no_sources": gone.height, "split": splits}
    return IdAssignment(ids=ids, registry=registry, retired=retired, stats=stats)
