"""Golden records from clusters: one row per cluster, each field taken by a survivorship rule.

First rule set: the most recent non-empty value per field (by ``updated_at``, ties broken by
record id so the result never depends on row order).
"""

from __future__ import annotations

import hashlib

import polars as pl

from dedupe.canonical import GOLDEN_FIELDS, RECORD_ID

GOLDEN_ID_PREFIX = "GC-"


def golden_ids(cluster_ids: pl.Series) -> pl.Series:
    """Opaque, stable golden ids derived from cluster ids (never row numbers)."""
    uniq = cluster_ids.unique()
    mapping = pl.DataFrame({
        "cluster_id": uniq,
        "golden_id": [GOLDEN_ID_PREFIX + hashlib.sha1(c.encode()).hexdigest()[:16] for c in uniq.to_list()],
    })
    return pl.DataFrame({"cluster_id": cluster_ids}).join(
        mapping, on="cluster_id", how="left", maintain_order="left")["golden_id"]


def build_golden(staged: pl.DataFrame, clusters: pl.DataFrame, *,
                 fields: list[str] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Golden customers and the crosswalk from staged records and their clusters.

    ``clusters`` has ``record_id`` and ``cluster_id``; every staged record must have one.
    Returns ``(golden, crosswalk)``: golden has ``golden_id`` and the golden fields plus
    ``source_count``, ``sources``, ``first_seen``, ``last_updated``; crosswalk has
    ``source, source_record_id, record_id, golden_id``.
    """
    fields = [f for f in (fields or GOLDEN_FIELDS) if f in staged.columns]
    members = staged.join(clusters.select(RECORD_ID, "cluster_id"), on=RECORD_ID, how="left")
    unclustered = members.filter(pl.col("cluster_id").is_null())
    if unclustered.height:
        raise ValueError(f"{unclustered.height} staged records have no cluster "
                         f"(first: {unclustered[RECORD_ID][0]})")
    members = members.with_columns(golden_id=golden_ids(members["cluster_id"]))
    ordered = members.sort(["golden_id", "updated_at", RECORD_ID],
                           descending=[False, True, False], nulls_last=True)
    golden = ordered.group_by("golden_id", maintain_order=True).agg(
        *[pl.col(f).drop_nulls().first().alias(f) for f in fields],
        pl.len().alias("source_count"),
        pl.col("source").unique().sort().str.join(",").alias("sources"),
        pl.col("created_at").min().alias("first_seen"),
        pl.col("updated_at").max().alias("last_updated"),
    ).sort("golden_id")
    crosswalk = members.select("source", "source_record_id", RECORD_ID, "golden_id").sort(
        ["source", "source_record_id"])
    return golden, crosswalk
