"""Build the golden tables from staged records and their clusters.

The build has a batch-wide part (ids, crosswalk, the repairs and ranking hints that use the whole
batch as evidence: :func:`plan_golden`) and a part that depends on one cluster's rows only (the
survivorship pick, lineage, per-customer counts: :func:`golden_rows`). The second part runs per
group of clusters (:func:`golden_chunks`), in golden id order, so a caller can write each group
and drop it: memory stays bounded and the concatenated groups equal the one-shot result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from dedupe.canonical import GOLDEN_FIELDS, RECORD_ID
from dedupe.code_digest import update_with_code
from dedupe.golden.identity import IdAssignment, assign_ids
from dedupe.golden.survivorship import SurvivorshipRules, cluster_local, pick, prepare

#: the staged columns the build reads besides the golden fields
BUILD_COLUMNS = (RECORD_ID, "source", "source_record_id", "created_at", "updated_at")


@dataclass
class GoldenBuild:
    """Golden customers, crosswalk, field lineage and id bookkeeping of one build."""

    customers: pl.DataFrame
    crosswalk: pl.DataFrame
    lineage: pl.DataFrame
    registry: pl.DataFrame
    retired: pl.DataFrame
    id_stats: dict[str, int]


@dataclass
class GoldenPlan:
    """The batch-wide part of a build: ids, crosswalk, and the prepared (repaired, annotated)
    member rows with each record's ``golden_id``, from which :func:`golden_rows` picks."""

    members: pl.DataFrame
    crosswalk: pl.DataFrame
    ids: IdAssignment
    rules: SurvivorshipRules
    fields: list[str]


def plan_golden(staged: pl.DataFrame, clusters: pl.DataFrame, *,
                rules: SurvivorshipRules | None = None,
                previous_crosswalk: pl.DataFrame | None = None,
                registry: pl.DataFrame | None = None,
                at: datetime | None = None) -> GoldenPlan:
    """Ids, crosswalk and prepared members; ``clusters`` has ``record_id`` and ``cluster_id`` for
    every staged record."""
    rules = rules or SurvivorshipRules()
    at = at or datetime.now(UTC)
    members = staged.join(clusters.select(RECORD_ID, "cluster_id"), on=RECORD_ID, how="left")
    missing = members.filter(pl.col("cluster_id").is_null())
    if missing.height:
        raise ValueError(f"{missing.height} staged records have no cluster (first: {missing[RECORD_ID][0]})")
    fields = [f for f in GOLDEN_FIELDS if f in members.columns]
    # ids and repairs read nothing of each other: the ids are assigned in a thread beside the repairs
    with ThreadPoolExecutor(1) as pool:
        assigned = pool.submit(assign_ids, members.select(RECORD_ID, "cluster_id"), previous_crosswalk, registry,
                               at=at)
        prepared = prepare(members, rules, fields=fields)
        ids = assigned.result()
    crosswalk = (members.select("source", "source_record_id", RECORD_ID, "cluster_id")
                 .join(ids.ids, on="cluster_id").drop("cluster_id").sort(["source", "source_record_id"]))
    members = prepared.join(ids.ids, on="cluster_id", how="left", maintain_order="left")
    return GoldenPlan(members=members, crosswalk=crosswalk, ids=ids, rules=rules, fields=fields)


def golden_rows(plan: GoldenPlan, members: pl.DataFrame | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(customers, lineage)`` of the whole clusters in ``members`` (default: all of the plan's),
    sorted by golden id."""
    members = plan.members if members is None else members
    values, lineage = pick(members.drop("golden_id"), plan.rules, fields=plan.fields)
    stats = members.group_by("cluster_id").agg(
        pl.col("golden_id").first(),
        pl.len().alias("source_count"),
        pl.col("source").unique().sort().str.join(",").alias("sources"),
        pl.col("created_at").min().alias("first_seen"),
        pl.col("updated_at").max().alias("last_updated"),
    )
    customers = (values.join(stats, on="cluster_id")
                 .select("golden_id", *plan.fields, "source_count", "sources", "first_seen", "last_updated")
                 .sort("golden_id"))
    lineage = lineage.join(stats.select("cluster_id", "golden_id"), on="cluster_id").select(
        "golden_id", "field", RECORD_ID, "source", "source_record_id").sort(["golden_id", "field"])
    return customers, lineage


def golden_chunks(plan: GoldenPlan, chunk_records: int | None = None
                  ) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
    """``(customers, lineage)`` per group of whole clusters of about ``chunk_records`` records, in
    golden id order: concatenated, they equal :func:`golden_rows` of the whole plan. One group
    when ``chunk_records`` is None or a custom survivorship rule may compare across clusters."""
    members = plan.members
    if not chunk_records or members.height <= chunk_records or not cluster_local(plan.rules):
        yield golden_rows(plan)
        return
    bounds = (members.group_by("golden_id").len().sort("golden_id")
              .with_columns((pl.col("len").cum_sum() - pl.col("len")) // chunk_records)
              .group_by("len").agg(pl.col("golden_id").min().alias("lo"), pl.col("golden_id").max().alias("hi"))
              .sort("lo"))
    for lo, hi in bounds.select("lo", "hi").iter_rows():
        yield golden_rows(plan, members.filter(pl.col("golden_id").is_between(pl.lit(lo), pl.lit(hi))))


#: the columns of :func:`cluster_digests`
DIGEST_SCHEMA = {"golden_id": pl.Utf8, "members": pl.UInt32, "digest_lo": pl.UInt64, "digest_hi": pl.UInt64}
_SEED = 0x60_1D
#: prepared columns whose values depend on the whole batch but are only ranked within a cluster
BATCH_HINTS = ("__post_given_name", "__post_surname", "__post_city")


def cluster_digests(plan: GoldenPlan) -> pl.DataFrame:
    """One row per golden customer: its member count and a digest of everything :func:`golden_rows`
    reads of its members (every prepared column but the matching's ``cluster_id``, the golden id
    included; a batch-wide popularity hint by its rank within the cluster). Two builds whose
    digests and :func:`plan_fingerprint` agree give the cluster the same golden row and lineage,
    so a build may take them from the last one.

    Each member row is hashed; the cluster's digest is the sum of its rows' hashes, split in two
    32-bit halves so that the sums cannot overflow: the member order does not matter."""
    m = plan.members
    if not m.height:
        return pl.DataFrame(schema=DIGEST_SCHEMA)
    h = m.select(pl.struct([c for c in m.columns if c != "cluster_id" and not c.startswith(BATCH_HINTS)])
                 .hash(_SEED)).to_series()
    hints = [c for c in BATCH_HINTS if c in m.columns]
    # clusters told apart by a hash of their id: two clusters sharing one would only be ranked together,
    # and a change in either then counts as a change of both (never the other way round)
    group = m["cluster_id"].hash(_SEED)
    several = group.is_duplicated()
    if hints and several.any():
        # a batch-wide ranking hint (how common a spelling is in the whole batch) moves whenever any
        # record is added; survivorship only compares it within a cluster of several records, so
        # its rank there counts (a one-record cluster is never ranked)
        rows = several.arg_true()
        inside = pl.DataFrame({"__g": group.filter(several)}).hstack(m.select(hints).filter(several))
        ranked = pl.DataFrame([_dense_rank_within(inside, "__g", c) for c in hints]).select(
            pl.struct(hints).hash(_SEED + 1))
        h = h.scatter(rows, h.gather(rows) ^ ranked.to_series())
    return (m.select("golden_id").with_columns(h.alias("__h"))
            .group_by("golden_id")
            .agg(pl.len().cast(pl.UInt32).alias("members"),
                 (pl.col("__h") % (1 << 32)).sum().cast(pl.UInt64).alias("digest_lo"),
                 (pl.col("__h") // (1 << 32)).sum().cast(pl.UInt64).alias("digest_hi"))
            .sort("golden_id"))


def _dense_rank_within(frame: pl.DataFrame, group: str, column: str) -> pl.Series:
    """``column``'s dense rank within each ``group`` (nulls first), in ``frame``'s row order: one sort,
    several times faster than a ranking window over millions of rows."""
    s = frame.select(group, column).with_row_index("__i").sort(group, column, nulls_last=False)
    starts = (pl.col(group) != pl.col(group).shift(1)).fill_null(True)
    step = (starts | pl.col(column).ne_missing(pl.col(column).shift(1))).cast(pl.UInt32).cum_sum()
    s = s.with_columns(step.alias("__s")).with_columns((pl.col("__s") - pl.col("__s").first().over(group) + 1)
                                                       .alias(column))
    return s.sort("__i")[column]


def plan_fingerprint(plan: GoldenPlan, *extra: bytes | str) -> str:
    """What else decides a golden row besides its members: the survivorship rules, the fields,
    this package's code and the polars version (its row hash is only stable within one), plus
    ``extra`` (e.g. the masking key of the tables derived from the rows)."""
    h = hashlib.sha256()
    h.update(repr((sorted((f, str(r)) for f, r in plan.rules.fields.items()), plan.rules.source_priority,
                   plan.rules.address_as_unit, plan.rules.repairs, plan.fields, pl.__version__)).encode())
    update_with_code(h, Path(__file__).parent)
    for item in extra:
        h.update(item if isinstance(item, bytes) else item.encode())
    return h.hexdigest()


def without_clusters(plan: GoldenPlan, golden_ids: pl.Series) -> GoldenPlan:
    """The plan without the members of the golden customers in ``golden_ids`` (whose rows a
    build takes from the last one): :func:`golden_chunks` of it yields the other customers."""
    if golden_ids.is_empty():
        return plan
    return replace(plan, members=plan.members.filter(~pl.col("golden_id").is_in(golden_ids.implode())))


def build_golden(staged: pl.DataFrame, clusters: pl.DataFrame, *,
                 rules: SurvivorshipRules | None = None,
                 previous_crosswalk: pl.DataFrame | None = None,
                 registry: pl.DataFrame | None = None,
                 at: datetime | None = None,
                 chunk_records: int | None = None) -> GoldenBuild:
    """One golden row per cluster with persistent ids, and the crosswalk of every record.

    ``clusters`` has ``record_id`` and ``cluster_id`` for every staged record; ``chunk_records``
    runs the per-cluster part in groups of about that many records (same result).
    """
    plan = plan_golden(staged, clusters, rules=rules, previous_crosswalk=previous_crosswalk,
                       registry=registry, at=at)
    parts = list(golden_chunks(plan, chunk_records))
    customers = pl.concat([c for c, _ in parts])
    lineage = pl.concat([lin for _, lin in parts])
    return GoldenBuild(customers=customers, crosswalk=plan.crosswalk, lineage=lineage,
                       registry=plan.ids.registry, retired=plan.ids.retired, id_stats=plan.ids.stats)
