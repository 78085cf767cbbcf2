"""Staging: every raw source table mapped to one canonical, normalised customer schema."""


from datetime import UTC, datetime

import dagster as dg
import polars as pl
from dagster import AssetExecutionContext

from pipelines.resources import WarehouseResource

#: raw table read for each source system, and the upstream asset that loads it
RAW_CUSTOMER_TABLES = {
    "erp": ("raw_erp.customers", dg.AssetKey(["raw", "erp", "customers"])),
    "shop": ("raw_shop.customers", dg.AssetKey(["raw", "shop", "customers"])),
    "sheets": ("raw_sheets.contacts", dg.AssetKey(["raw", "sheets", "contacts"])),
}


def _without_dlt_columns(df: pl.DataFrame) -> pl.DataFrame:
    return df.drop([c for c in df.columns if c.startswith("_dlt_")])


@dg.asset(
    key=["staging", "customers"],
    group_name="staging",
    deps=[key for _, key in RAW_CUSTOMER_TABLES.values()],
    kinds={"polars", "duckdb"},
    owners=["team:data-engineering"],
    description="Every source's customers in one canonical schema (staging.customers): names split, "
    "e-mails case-folded, phones in E.164, countries ISO-2, company suffixes canonical; raw values "
    "kept beside. Rows that break a row rule go to quality.quarantine, repaired fields to "
    "quality.field_issues.",
)
def staged_customers(context: AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    from pipelines.staging import stage_all

    wh = warehouse.get()
    frames, missing = {}, []
    for source, (table, _) in RAW_CUSTOMER_TABLES.items():
        df = wh.read_if_exists(table)
        if df is None:
            missing.append(source)
            continue
        frames[source] = _without_dlt_columns(df)
    if missing:
        context.log.warning(f"no raw table yet for: {', '.join(missing)} (not loaded or load failed)")
    if not frames:
        raise dg.Failure("no raw customer tables in the warehouse: load the sources first",
                         metadata={"warehouse": str(wh.path)})
    result = stage_all(frames)
    now = datetime.now(UTC)
    run_id = context.run.run_id
    quarantine = result.quarantine.with_columns(
        pl.lit(run_id).alias("run_id"), pl.lit(now).alias("detected_at"))
    issues = result.field_issues.with_columns(
        pl.lit(run_id).alias("run_id"), pl.lit(now).alias("detected_at"))
    wh.write_many({
        "staging.customers": result.customers,
        "quality.quarantine": quarantine,
        "quality.field_issues": issues,
    })
    read = {s: df.height for s, df in frames.items()}
    by_source = result.customers.group_by("source").len().sort("source")
    rules = result.quarantine.group_by("rule").len().sort("rule") if quarantine.height else None
    return dg.MaterializeResult(metadata={
        "dagster/row_count": result.customers.height,
        "rows_read_by_system": dg.MetadataValue.json(read),
        "staged_by_source": dg.MetadataValue.json(dict(by_source.iter_rows())),
        "quarantined": quarantine.height,
        "quarantine_by_rule": dg.MetadataValue.json(dict(rules.iter_rows()) if rules is not None else {}),
        "fields_repaired": issues.height,
        "missing_sources": dg.MetadataValue.json(missing),
    })
