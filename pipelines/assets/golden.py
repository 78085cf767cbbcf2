"""Golden customers, the crosswalk and the steward review queue, built apart and then published.

The build writes to the ``golden_build`` schema; blocking checks run on it; only ``publish``
copies it over the ``golden`` schema, in one transaction. A failed check or a failed run never
touches the last published tables.
"""


import dagster as dg
import polars as pl
from dagster import AssetExecutionContext

from pipelines.assets.matching import MatchingResource
from pipelines.progress import mark, timed_stage
from pipelines.resources import PublishResource, SourcesResource, WarehouseResource
from pipelines.warehouse import publish_read_copy

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
#: built beside the three assets and published with them
SIDE_TABLES = ["golden_build.customer_lineage", "golden_build.id_registry", "golden_build.customers_history",
               "golden_build.customer_360", "golden_build.customers_masked", "golden_build.customer_360_masked"]
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
    from dedupe.canonical import GOLDEN_FIELDS
    from dedupe.golden.history import update_history
    from dedupe.golden.records import build_golden

    wh, settings = warehouse.get(), matching.settings()
    staged = wh.read("staging.customers", columns=_golden_inputs(wh))
    clusters = wh.read("matching.clusters")
    previous = wh.read_if_exists("golden.crosswalk")
    now = _now()
    mark("read")
    build = build_golden(staged, clusters, rules=matching.survivorship(), at=now,
                         previous_crosswalk=previous, registry=wh.read_if_exists("golden.id_registry"))
    mark("build_golden")
    fields = [f for f in GOLDEN_FIELDS if f in build.customers.columns]
    history, hstats = update_history(wh.read_if_exists("golden.customers_history"), build.customers,
                                     at=now, fields=fields)
    mark("history")
    review = review_queue(_pairs_in_band(wh, settings.review_band), build.crosswalk, settings.review_band,
                          decided=wh.read_if_exists("golden.steward_decisions"))
    mark("review_queue")
    from pipelines.customer360 import customer_360, merge_lists

    orders, invoices = _purchases(wh, sources.config())
    c360 = customer_360(build.customers, build.crosswalk, orders, invoices, config=publishing.customer_360_config())
    mark("customer_360")
    lists = {f"golden_build.merge_list_{src}": df for src, df in merge_lists(build.crosswalk).items()}
    mark("merge_lists")
    from pipelines.privacy import hash_key, masked_tables

    masked = masked_tables({"golden_build.customers": build.customers, "golden_build.customer_360": c360},
                           key=hash_key(wh))
    mark("masked_tables")
    wh.write_many({
        **lists,
        **masked,
        "golden_build.customer_360": c360,
        BUILD_TABLES[GOLDEN_CUSTOMERS]: build.customers,
        BUILD_TABLES[GOLDEN_CROSSWALK]: build.crosswalk,
        BUILD_TABLES[REVIEW_QUEUE]: review,
        "golden_build.customer_lineage": build.lineage,
        "golden_build.id_registry": build.registry,
        "golden_build.customers_history": history,
        "golden_build.id_history_new": build.retired,
    })
    mark("write")
    merged = build.crosswalk.height - build.customers.height
    sizes = build.crosswalk.group_by("golden_id").len()
    yield dg.MaterializeResult(asset_key=GOLDEN_CUSTOMERS, metadata={
        "dagster/row_count": build.customers.height,
        "source_records": build.crosswalk.height,
        "duplicates_merged": merged,
        "match_rate": round(merged / build.crosswalk.height, 4) if build.crosswalk.height else 0.0,
        "multi_source_customers": sizes.filter(pl.col("len") > 1).height,
        "ids_kept": build.id_stats["kept"],
        "ids_new": build.id_stats["new"],
        "ids_retired_by_merge": build.id_stats["merged"],
        "ids_retired_no_sources": build.id_stats["retired_no_sources"],
        "clusters_split": build.id_stats["split"],
        "history_versions_opened": hstats["opened"],
        "history_versions_closed": hstats["closed"],
        "previous_run_state": "continued from golden.crosswalk" if previous is not None else "first build",
        "rfm_segments": dg.MetadataValue.json(dict(c360.group_by("rfm_segment").len().sort("rfm_segment").iter_rows())),
        "lifecycle": dg.MetadataValue.json(dict(c360.group_by("lifecycle_status").len().sort("lifecycle_status").iter_rows())),
        "merge_list_rows": dg.MetadataValue.json({k.split("merge_list_")[1]: v.height for k, v in lists.items()}),
        "built_at": dg.MetadataValue.text(now.isoformat(timespec="seconds")),
    })
    yield dg.MaterializeResult(asset_key=GOLDEN_CROSSWALK, metadata={
        "dagster/row_count": build.crosswalk.height,
        "by_source": dg.MetadataValue.json(dict(build.crosswalk.group_by("source").len().sort("source").iter_rows())),
    })
    yield dg.MaterializeResult(asset_key=REVIEW_QUEUE, metadata={"dagster/row_count": review.height})
    built = {"golden_build.customer_lineage": build.lineage, "golden_build.customers_history": history,
             "golden_build.id_registry": build.registry, "golden_build.id_history_new": build.retired,
             "golden_build.customer_360": c360, **masked}
    for key, (table, _) in SIDE_ASSETS.items():
        if key.path[-1] == "merge_lists":
            rows = sum(df.height for df in lists.values())
            yield dg.MaterializeResult(asset_key=key, metadata={
                "dagster/row_count": rows, "tables": dg.MetadataValue.json(sorted(lists))})
        else:
            frame = built.get(table)
            yield dg.MaterializeResult(asset_key=key, metadata={
                "dagster/row_count": frame.height if frame is not None else 0, "table": table})


def _purchases(wh, config) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every configured source's orders and invoices, in the column layout customer_360 reads (plus
    ``source``, the crosswalk source their customer references belong to); empty when none is loaded."""
    from pipelines.customer360 import INVOICE_COLUMNS, ORDER_COLUMNS
    from pipelines.staging.mapping import resolve_column

    layouts = {"order": ORDER_COLUMNS, "invoice": INVOICE_COLUMNS}
    frames: dict[str, list[pl.DataFrame]] = {"order": [], "invoice": []}
    for spec in config.enabled:
        p = spec.purchases
        table = spec.raw(spec.purchases_table) if p is not None else None
        if p is None or not wh.exists(table):
            continue
        raw = wh.read(table)
        quarantined = _quarantined_ids(wh, f"{spec.name}_{spec.purchases_table}")
        key = resolve_column(raw.columns, p.fields["id"].columns[0]) if p.fields["id"].columns else None
        if quarantined is not None and key is not None:  # a quarantined invoice counts nowhere
            raw = raw.filter(~pl.col(key).cast(pl.Utf8).str.strip_chars().is_in(quarantined.implode()))
        target = layouts[p.kind]
        exprs = [pl.lit(spec.name).alias("source"), pl.lit(table).alias("table_name")]
        for name, column in zip(("id", "customer", "date", "amount", "currency"), target, strict=True):
            fmap = p.fields.get(name)
            found = resolve_column(raw.columns, fmap.columns[0]) if fmap is not None and fmap.columns else None
            if fmap is not None and fmap.value is not None:
                exprs.append(pl.lit(fmap.value).alias(column))
            elif found is None:
                exprs.append(pl.lit(None, pl.Utf8).alias(column))
            else:
                exprs.append(pl.col(found).alias(column))
        frames[p.kind].append(raw.select(exprs))

    def stacked(kind: str) -> pl.DataFrame:
        parts = frames[kind]
        if not parts:
            return pl.DataFrame(schema=dict.fromkeys(layouts[kind], pl.Utf8))
        return pl.concat([f.with_columns(pl.exclude("source", "table_name").cast(pl.Utf8)) for f in parts],
                         how="diagonal_relaxed")

    return stacked("order"), stacked("invoice")


def _golden_inputs(wh) -> list[str]:
    """The staged columns the golden build reads: all but the ``raw_*`` copies of the source values
    (a third of the table, never used by survivorship, repair or ids)."""
    cols = wh.query("select column_name from information_schema.columns where table_schema = 'staging' "
                    "and table_name = 'customers' order by ordinal_position")["column_name"].to_list()
    return [c for c in cols if not c.startswith("raw_")]


def _pairs_in_band(wh, band: tuple[float, float]) -> pl.DataFrame:
    """Only the scored pairs in the review band (a few percent of them), filtered in DuckDB."""
    lo, hi = band
    return wh.query("select * from matching.scored_pairs where match_probability >= ? and match_probability < ?",
                    [float(lo), float(hi)])


def _quarantined_ids(wh, source: str) -> pl.Series | None:
    """Ids of ``source``'s rows in ``quality.quarantine`` (purchases: ``<source>_<table>``)."""
    if not wh.exists("quality.quarantine"):
        return None
    return wh.query("select source_record_id from quality.quarantine where source = ?", [source])[
        "source_record_id"]


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


def review_queue(scored: pl.DataFrame, crosswalk: pl.DataFrame, band: tuple[float, float], *,
                 decided: pl.DataFrame | None = None) -> pl.DataFrame:
    """Scored pairs whose probability lies in ``band`` (low inclusive, high exclusive) that no
    steward has decided yet."""
    lo, hi = band
    gid = crosswalk.select("record_id", "golden_id")
    pending = scored.filter(pl.col("match_probability").is_between(lo, hi, closed="left"))
    if decided is not None and decided.height:
        done = decided.filter(pl.col("id_l").is_not_null()).select("id_l", "id_r").unique()
        pending = pending.join(done, on=["id_l", "id_r"], how="anti")
    return (
        pending
        .join(gid.rename({"record_id": "id_l", "golden_id": "golden_id_l"}), on="id_l", how="left")
        .join(gid.rename({"record_id": "id_r", "golden_id": "golden_id_r"}), on="id_r", how="left")
        .with_columns(merged=pl.col("golden_id_l") == pl.col("golden_id_r"))
        .sort(["match_probability", "id_l", "id_r"], descending=[True, False, False])  # ties: same order every run
    )


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
    from pipelines.schema_docs import apply_duckdb_comments

    wh = warehouse.get()
    built = wh.query("select table_name from information_schema.tables where table_schema = 'golden_build'")
    extra = [f"golden_build.{t}" for t in built["table_name"].to_list() if t.startswith("merge_list_")]
    tables = [*BUILD_TABLES.values(), *SIDE_TABLES, *extra]
    mapping = {table.replace("golden_build.", "golden."): table for table in tables}
    wh.publish(mapping, append=APPEND_TABLES)
    mark("swap_tables")
    with wh.connect() as con:
        comments = apply_duckdb_comments(con, tables=[*mapping, *APPEND_TABLES])
    mark("column_comments")
    read_copy = publish_read_copy(wh.path)
    mark("read_copy")
    counts = {t: int(wh.query(f"select count(*) as n from {t}")["n"][0]) for t in mapping}
    from pipelines.publish import write_merge_lists

    lists = {t.split("merge_list_", 1)[1]: wh.read(t) for t in mapping if ".merge_list_" in t}
    files = write_merge_lists(lists, publishing.merge_list_dir(wh))
    mark("merge_list_files")
    meta = {"published_tables": dg.MetadataValue.json(counts), "warehouse": str(wh.path),
            "column_comments": comments, "destination": publishing.destination, "read_copy": str(read_copy),
            "merge_list_files": dg.MetadataValue.json({s: str(p) for s, p in files.items()})}
    if publishing.destination != "duckdb":
        result = publishing.publish_external(wh, [*mapping, *APPEND_TABLES])
        meta["external_publish"] = dg.MetadataValue.json(result)
        context.log.info(f"published {len(result.get('tables', {}))} tables to {publishing.destination}")
    return dg.MaterializeResult(metadata=meta)
