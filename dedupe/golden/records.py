"""Build the golden tables from staged records and their clusters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from dedupe.canonical import GOLDEN_FIELDS, RECORD_ID
from dedupe.golden.identity import assign_ids
from dedupe.golden.survivorship import SurvivorshipRules, survive


@dataclass
class GoldenBuild:
    """Golden customers, crosswalk, field lineage and id bookkeeping of one build."""

    customers: pl.DataFrame
    crosswalk: pl.DataFrame
    lineage: pl.DataFrame
    registry: pl.DataFrame
    retired: pl.DataFrame
    id_stats: dict[str, int]


def build_golden(staged: pl.DataFrame, clusters: pl.DataFrame, *,
                 rules: SurvivorshipRules | None = None,
                 previous_crosswalk: pl.DataFrame | None = None,
                 registry: pl.DataFrame | None = None,
                 at: datetime | None = None) -> GoldenBuild:
    """One golden row per cluster with persistent ids, and the crosswalk of every record.

    ``clusters`` has ``record_id`` and ``cluster_id`` for every staged record.
    """
    at = at or datetime.now(UTC)
    members = staged.join(clusters.select(RECORD_ID, "cluster_id"), on=RECORD_ID, how="left")
    missing = members.filter(pl.col("cluster_id").is_null())
    if missing.height:
        raise ValueError(f"{missing.height} staged records have no cluster (first: {missing[RECORD_ID][0]})")
    ids = assign_ids(members.select(RECORD_ID, "cluster_id"), previous_crosswalk, registry, at=at)
    values, lineage = survive(members, rules)
    stats = members.group_by("cluster_id").agg(
        pl.len().alias("source_count"),
        pl.col("source").unique().sort().str.join(",").alias("sources"),
        pl.col("created_at").min().alias("first_seen"),
        pl.col("updated_at").max().alias("last_updated"),
    )
    fields = [f for f in GOLDEN_FIELDS if f in values.columns]
    customers = (values.join(stats, on="cluster_id").join(ids.ids, on="cluster_id")
                 .select("golden_id", *fields, "source_count", "sources", "first_seen", "last_updated")
                 .sort("golden_id"))
    crosswalk = (members.select("source", "source_record_id", RECORD_ID, "cluster_id")
                 .join(ids.ids, on="cluster_id").drop("cluster_id").sort(["source", "source_record_id"]))
    lineage = lineage.join(ids.ids, on="cluster_id").select(
        "golden_id", "field", RECORD_ID, "source", "source_record_id").sort(["golden_id", "field"])
    return GoldenBuild(customers=customers, crosswalk=crosswalk, lineage=lineage, registry=ids.registry,
                       retired=ids.retired, id_stats=ids.stats)
