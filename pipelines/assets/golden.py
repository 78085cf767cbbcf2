"""Golden customers, the crosswalk and the steward review queue, built apart and then published.

The build writes to the ``golden_build`` schema; blocking checks run on it; only ``publish``
copies it over the ``golden`` schema, in one transaction. A failed check or a failed run never
touches the last published tables.
"""

from __future__ import annotations

import dagster as dg
import polars as pl

from pipelines.assets.matching import MatchingResource
from pipelines.resources import WarehouseResource

GOLDEN_CUSTOMERS = dg.AssetKey(["golden", "customers"])
GOLDEN_CROSSWALK = dg.AssetKey(["golden", "crosswalk"])
REVIEW_QUEUE = dg.AssetKey(["golden", "review_queue"])
BUILD_TABLES = {
    GOLDEN_CUSTOMERS: "golden_build.customers",
    GOLDEN_CROSSWALK: "golden_build.crosswalk",
    REVIEW_QUEUE: "golden_build.review_queue",
}


def _spec(key: dg.AssetKey, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key, group_name="golden", kinds={"polars", "duckdb"}, owners=["team:data-engineering"],
        deps=[dg.AssetKey(["matching", "clusters"]), dg.AssetKey(["staging", "customers"])],
        description=description,
    )


@dg.multi_asset(
    specs=[
        _spec(GOLDEN_CUSTOMERS, "One row per real customer (golden_build.customers until published "
              "to golden.customers): for each field the most recent non-empty value in its cluster."),
        _spec(GOLDEN_CROSSWALK, "Every staged source record and the golden customer it belongs to "
              "(source, source_record_id, golden_id)."),
        _spec(REVIEW_QUEUE, "Pairs in the uncertain probability band, with the per-comparison "
              "explanation, for a data steward to accept or reject."),
    ],
    can_subset=False,
)
def golden_tables(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                  matching: MatchingResource):
    from dedupe.survivorship import build_golden

    wh, settings = warehouse.get(), matching.settings()
    staged = wh.read("staging.customers")
    clusters = wh.read("matching.clusters")
    golden, crosswalk = build_golden(staged, clusters)
    review = review_queue(wh.read("matching.scored_pairs"), crosswalk, settings.review_band)
    wh.write_many({BUILD_TABLES[GOLDEN_CUSTOMERS]: golden,
                   BUILD_TABLES[GOLDEN_CROSSWALK]: crosswalk,
                   BUILD_TABLES[REVIEW_QUEUE]: review})
    merged = crosswalk.height - golden.height
    yield dg.MaterializeResult(asset_key=GOLDEN_CUSTOMERS, metadata={
        "dagster/row_count": golden.height,
        "source_records": crosswalk.height,
        "duplicates_merged": merged,
        "match_rate": round(merged / crosswalk.height, 4) if crosswalk.height else 0.0,
        "multi_source_customers": golden.filter(pl.col("source_count") > 1).height,
    })
    yield dg.MaterializeResult(asset_key=GOLDEN_CROSSWALK, metadata={
        "dagster/row_count": crosswalk.height,
        "by_source": dg.MetadataValue.json(dict(crosswalk.group_by("source").len().sort("source").iter_rows())),
    })
    yield dg.MaterializeResult(asset_key=REVIEW_QUEUE, metadata={"dagster/row_count": review.height})


def review_queue(scored: pl.DataFrame, crosswalk: pl.DataFrame, band: tuple[float, float]) -> pl.DataFrame:
    """Scored pairs whose probability lies in ``band`` (low inclusive, high exclusive)."""
    lo, hi = band
    gid = crosswalk.select("record_id", "golden_id")
    return (
        scored.filter(pl.col("match_probability").is_between(lo, hi, closed="left"))
        .join(gid.rename({"record_id": "id_l", "golden_id": "golden_id_l"}), on="id_l", how="left")
        .join(gid.rename({"record_id": "id_r", "golden_id": "golden_id_r"}), on="id_r", how="left")
        .with_columns(merged=pl.col("golden_id_l") == pl.col("golden_id_r"))
        .sort("match_probability", descending=True)
    )


@dg.asset(
    key=["golden", "published"],
    deps=list(BUILD_TABLES),
    group_name="golden",
    kinds={"duckdb"},
    owners=["team:data-engineering"],
    description="Publishes golden_build.* to golden.customers, golden.crosswalk and "
    "golden.review_queue in one transaction, after the blocking checks passed. BI tools read the "
    "golden schema.",
)
def publish(warehouse: WarehouseResource) -> dg.MaterializeResult:
    wh = warehouse.get()
    mapping = {table.replace("golden_build.", "golden."): table for table in BUILD_TABLES.values()}
    wh.publish(mapping)
    counts = {t: wh.query(f"select count(*) as n from {t}")["n"][0] for t in mapping}
    return dg.MaterializeResult(metadata={
        "published_tables": dg.MetadataValue.json({t: int(n) for t, n in counts.items()}),
        "warehouse": str(wh.path),
    })
