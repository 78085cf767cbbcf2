"""Golden customers, the crosswalk and the steward review queue, built apart and then published.

The build writes to the ``golden_build`` schema; blocking checks run on it; only ``publish``
copies it over the ``golden`` schema, in one transaction. A failed check or a failed run never
touches the last published tables.
"""


import os

import dagster as dg
from dagster import AssetExecutionContext

from pipelines.assets.golden_write import DEFAULT_CHUNK_RECORDS, build_tables, publish_tables
from pipelines.assets.matching import MatchingResource
from pipelines.progress import timed_stage
from pipelines.resources import PublishResource, SourcesResource, WarehouseResource

GOLDEN_CUSTOMERS = dg.AssetKey(["golden", "customers"])
GOLDEN_CROSSWALK = dg.AssetKey(["golden", "crosswalk"])
REVIEW_QUEUE = dg.AssetKey(["golden", "review_queue"])
#: the other tables the golden build writes, each an asset of its own: key -> (build table, description)
SIDE_ASSETS: dict[dg.AssetKey, tuple[str, str]] = {
    dg.AssetKey(["golden", "customer_lineage"]): (
        "golden_build.customer_lineage", "Which source record supplied each golden field."),
    dg.AssetKey(["golden", "customers_history"]): (
        "golden_build.customers_history", "SCD type 2 history of golden.customers (valid_from, valid_to)."),
    dg.AssetKey(["golden", "id_registry"]): (
        "golden_build.id_registry", "Every golden id ever issued; retired ids with when and why."),
    dg.AssetKey(["golden", "id_history"]): (
        "golden_build.id_history_new", "Retired golden ids and the id that replaced each (appended by publish)."),
    dg.AssetKey(["golden", "customer_360"]): (
        "golden_build.customer_360", ("Identity, sources, orders and invoices in one currency, RFM, lifecycle, "
        "CLV and preferred channel per golden customer.")),
    dg.AssetKey(["golden", "customers_masked"]): (
        "golden_build.customers_masked", ("golden.customers for BI readers who may not see contact data: keyed "
        "e-mail hash and domain, masked phone, postal district; no names or street.")),
    dg.AssetKey(["golden", "customer_360_masked"]): (
        "golden_build.customer_360_masked", "golden.customer_360 with the same masking."),
    dg.AssetKey(["golden", "merge_lists"]): (
        "golden_build.merge_list_*", ("Per source (golden.merge_list_<source>), the records that are the same "
        "customer, for the source system to converge (also written as CSV files).")),
}
BUILD_TABLES = {
    GOLDEN_CUSTOMERS: "golden_build.customers",
    GOLDEN_CROSSWALK: "golden_build.crosswalk",
    REVIEW_QUEUE: "golden_build.review_queue",
}
#: appended to the published log instead of replacing it
APPEND_TABLES = {"golden.id_history": "golden_build.id_history_new"}


def column_schema(table: str) -> dg.TableSchema | None:
    """The documented columns of a published table (``pipelines.schema_docs``), for the asset catalog."""
    from pipelines.schema_docs import COLUMN_DOCS, doc_key

    docs = COLUMN_DOCS.get(doc_key(table))
    if not docs:
        return None
    return dg.TableSchema(columns=[dg.TableColumn(name, description=text) for name, text in docs.items()
                                   if "*" not in name])


def _spec(key: dg.AssetKey, description: str) -> dg.AssetSpec:
    name = key.path[-1]
    schema = column_schema("golden.merge_list" if name == "merge_lists" else f"golden.{name}")
    return dg.AssetSpec(
        key, group_name="golden", kinds={"polars", "duckdb"}, owners=["team:data-engineering"],
        deps=[dg.AssetKey(["matching", "clusters"]), dg.AssetKey(["staging", "customers"])],
        description=description,
        metadata={"dagster/column_schema": schema} if schema is not None else None,
    )


@dg.multi_asset(
    specs=[
        _spec(GOLDEN_CUSTOMERS, "One row per real customer (golden_build.customers until published "
              "to golden.customers), each field chosen by its survivorship rule, with a persistent "
              "golden_id; field lineage in golden.customer_lineage, SCD2 history in "
              "golden.customers_history."),
        _spec(GOLDEN_CROSSWALK, "Every staged source record and the golden customer it belongs to "
              "(source, source_record_id, golden_id)."),
        _spec(REVIEW_QUEUE, "Pairs in the uncertain probability band, with the per-comparison "
              "explanation, for a data steward to accept or reject."),
        *(_spec(key, f"{text} Built in {table}, published to golden.{key.path[-1]}.")
          for key, (table, text) in SIDE_ASSETS.items()),
    ],
    can_subset=False,
)
@timed_stage
def golden_tables(context: AssetExecutionContext, warehouse: WarehouseResource,
                  matching: MatchingResource, publishing: PublishResource, sources: SourcesResource):
    from pipelines.privacy import hash_key

    wh, settings = warehouse.get(), matching.settings()
    now = _now()
    previous = wh.exists("golden.crosswalk")
    built = build_tables(wh, rules=matching.survivorship(), review_band=settings.review_band,
                         c360_config=publishing.customer_360_config(), sources_config=sources.config(),
                         hash_key=hash_key(wh), at=now, chunk_records=chunk_records())
    customers, records = built.rows[BUILD_TABLES[GOLDEN_CUSTOMERS]], built.rows[BUILD_TABLES[GOLDEN_CROSSWALK]]
    merged = records - customers
    yield dg.MaterializeResult(asset_key=GOLDEN_CUSTOMERS, metadata={
        "dagster/row_count": customers,
        "source_records": records,
        "duplicates_merged": merged,
        "match_rate": round(merged / records, 4) if records else 0.0,
        "multi_source_customers": built.multi_source_customers,
        "ids_kept": built.id_stats["kept"],
        "ids_new": built.id_stats["new"],
        "ids_retired_by_merge": built.id_stats["merged"],
        "ids_retired_no_sources": built.id_stats["retired_no_sources"],
        "clusters_split": built.id_stats["split"],
        "customers_picked": customers - built.reused_customers,
        "customers_kept_from_last_build": built.reused_customers,
        "history_versions_opened": built.history_stats["opened"],
        "history_versions_closed": built.history_stats["closed"],
        "previous_run_state": "continued from golden.crosswalk" if previous else "first build",
        "rfm_segments": dg.MetadataValue.json(built.rfm_segments),
        "lifecycle": dg.MetadataValue.json(built.lifecycle),
        "merge_list_rows": dg.MetadataValue.json(built.merge_list_rows),
        "built_at": dg.MetadataValue.text(now.isoformat(timespec="seconds")),
    })
    yield dg.MaterializeResult(asset_key=GOLDEN_CROSSWALK, metadata={
        "dagster/row_count": records,
        "by_source": dg.MetadataValue.json(built.by_source),
    })
    yield dg.MaterializeResult(asset_key=REVIEW_QUEUE,
                               metadata={"dagster/row_count": built.rows[BUILD_TABLES[REVIEW_QUEUE]]})
    lists = sorted(t for t in built.rows if ".merge_list_" in t)
    for key, (table, _) in SIDE_ASSETS.items():
        if key.path[-1] == "merge_lists":
            yield dg.MaterializeResult(asset_key=key, metadata={
                "dagster/row_count": sum(built.rows[t] for t in lists), "tables": dg.MetadataValue.json(lists)})
        else:
            yield dg.MaterializeResult(asset_key=key, metadata={
                "dagster/row_count": built.rows.get(table, 0), "table": table})


def chunk_records() -> int | None:
    """Records per group of clusters survivorship runs on: ``CRM_GOLDEN_GOLDEN_CHUNK`` (0: all at once)."""
    raw = os.environ.get("CRM_GOLDEN_GOLDEN_CHUNK", "").strip()
    return int(raw) or None if raw else DEFAULT_CHUNK_RECORDS


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


@dg.asset(
    key=["golden", "published"],
    deps=[*BUILD_TABLES, *SIDE_ASSETS],
    group_name="golden",
    kinds={"duckdb"},
    owners=["team:data-engineering"],
    description="Publishes golden_build.* to golden.* (customers, crosswalk, review_queue, "
    "customer_360, customer_lineage, id_registry, customers_history, merge_list_<source>) and "
    "appends retired ids to golden.id_history, in one transaction, after the blocking checks "
    "passed; column comments from docs/golden_schema.md. With destination postgres or parquet "
    "the published tables are then copied there, again all-or-nothing.",
)
@timed_stage
def publish(context: AssetExecutionContext, warehouse: WarehouseResource,
            publishing: PublishResource) -> dg.MaterializeResult:
    wh = warehouse.get()
    done = publish_tables(wh, append=APPEND_TABLES, merge_list_dir=publishing.merge_list_dir(wh))
    counts, files = done["tables"], done["merge_list_files"]
    mapping = [t for t in counts if t not in APPEND_TABLES]
    meta = {"published_tables": dg.MetadataValue.json(counts), "warehouse": str(wh.path),
            "column_comments": done["comments"], "destination": publishing.destination,
            "read_copy": str(done["read_copy"]),
            "read_copy_update": done["read_copy_update"] or "copied whole",
            "merge_list_files": dg.MetadataValue.json({s: str(p) for s, p in files.items()})}
    if publishing.destination != "duckdb":
        result = publishing.publish_external(wh, [*mapping, *APPEND_TABLES])
        meta["external_publish"] = dg.MetadataValue.json(result)
        context.log.info(f"published {len(result.get('tables', {}))} tables to {publishing.destination}")
    return dg.MaterializeResult(metadata=meta)
