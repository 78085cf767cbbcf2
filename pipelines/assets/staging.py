"""Staging: every raw source table mapped to one canonical, normalised customer schema.

The step also writes the data-quality ledger of the run: ``quality.quarantine`` (rows that break a
row rule: no key, duplicate key, no identity, negative amounts, cut shop pages) and
``quality.field_issues`` (a field nulled or flagged, the record kept). Both are rebuilt from the raw
tables every run, so a row fixed at the source leaves quarantine on the next run.
"""


from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl
from dagster import AssetExecutionContext

from pipelines.assets.raw import INVALID_PAGES, erp_include_dirty
from pipelines.resources import WarehouseResource
from pipelines.warehouse import Warehouse

#: raw table read for each source system, and the upstream asset that loads it
RAW_CUSTOMER_TABLES = {
    "erp": ("raw_erp.customers", dg.AssetKey(["raw", "erp", "customers"])),
    "shop": ("raw_shop.customers", dg.AssetKey(["raw", "shop", "customers"])),
    "sheets": ("raw_sheets.contacts", dg.AssetKey(["raw", "sheets", "contacts"])),
}
DIRTY_TABLE = "raw_erp.customers_dirty"
#: purchase tables checked by the amount rules, and their upstream assets
RAW_PURCHASE_TABLES = {
    "invoices": ("raw_erp.invoices", dg.AssetKey(["raw", "erp", "invoices"]), ["invoice_no", "amount"]),
    "orders": ("raw_shop.orders", dg.AssetKey(["raw", "shop", "orders"]), ["id", "total_price"]),
}


def _without_dlt_columns(df: pl.DataFrame) -> pl.DataFrame:
    return df.drop([c for c in df.columns if c.startswith("_dlt_")])


def read_customer_frames(wh: Warehouse, *, include_dirty: bool | None = None) -> tuple[dict[str, pl.DataFrame], list[str]]:
    """The raw customer frames staging reads (``{"erp": ..., "shop": ..., "sheets": ...}``) and the
    systems with no raw table yet. ERP rows include the stale copies of ``customers_dirty`` unless
    ``include_dirty`` is off (default: the ``sources.erp.include_dirty`` setting)."""
    from pipelines.staging import with_dirty_copies

    frames, missing = {}, []
    for source, (table, _) in RAW_CUSTOMER_TABLES.items():
        df = wh.read_if_exists(table)
        if df is None:
            missing.append(source)
            continue
        frames[source] = _without_dlt_columns(df)
    dirty = erp_include_dirty() if include_dirty is None else include_dirty
    if "erp" in frames and dirty:
        frames["erp"] = with_dirty_copies(frames["erp"], wh.read_if_exists(DIRTY_TABLE))
    return frames, missing


def rows_read(frames: dict[str, pl.DataFrame]) -> dict[str, int]:
    """Raw rows per staged source name (sheets by file stem)."""
    read = {s: df.height for s, df in frames.items() if s != "sheets"}
    if "sheets" in frames:
        read.update(frames["sheets"].group_by(pl.col("source").cast(pl.Utf8)).len().sort("source").iter_rows())
    return read


def docs_dir(wh: Warehouse) -> Path:
    """Where Data Docs of the run's suites go: ``docs/`` beside the warehouse file."""
    return wh.path.parent / "docs"


def _read_columns(wh: Warehouse, table: str, columns: list[str]) -> pl.DataFrame | None:
    """The given columns of ``table`` that exist (None when the table does not)."""
    if not wh.exists(table):
        return None
    schema, name = table.split(".")
    present = set(wh.query("select column_name from information_schema.columns where table_schema = ? "
                           "and table_name = ?", [schema, name])["column_name"].to_list())
    return wh.read(table, columns=[c for c in columns if c in present] or None)


def _load_findings(wh: Warehouse, run_id: str) -> pl.DataFrame:
    """Quarantine rows that are not customer rows: cut shop pages and bad purchase amounts."""
    from pipelines.staging import purchase_quarantine, truncated_pages

    logged = wh.query(f"select * from {INVALID_PAGES} where run_id = ?", [run_id]) \
        if wh.exists(INVALID_PAGES) else None
    purchases = {name: _read_columns(wh, table, cols) for name, (table, _, cols) in RAW_PURCHASE_TABLES.items()}
    return pl.concat([
        truncated_pages(logged, source="shop", resource="customers"),
        truncated_pages(logged, source="shop_orders", resource="orders"),
        purchase_quarantine(**purchases),
    ])


@dg.asset(
    key=["staging", "customers"],
    group_name="staging",
    deps=[key for _, key in RAW_CUSTOMER_TABLES.values()] + [key for _, key, _ in RAW_PURCHASE_TABLES.values()],
    kinds={"polars", "duckdb"},
    owners=["team:data-engineering"],
    description="Every source's customers in one canonical schema (staging.customers): names split, "
    "e-mails case-folded, phones in E.164, countries ISO-2, company suffixes canonical; raw values "
    "kept beside. Rows that break a row rule (no key, duplicate key incl. the ERP's stale copies, no "
    "name/e-mail/phone, negative amounts, cut shop pages) go to quality.quarantine, nulled or flagged "
    "fields to quality.field_issues; the metadata holds a per-source quality scorecard.",
)
def staged_customers(context: AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    from pipelines.staging import QUARANTINE_SCHEMA, scorecard, scorecard_markdown, stage_all

    wh = warehouse.get()
    frames, missing = read_customer_frames(wh)
    if missing:
        context.log.warning(f"no raw table yet for: {', '.join(missing)} (not loaded or load failed)")
    if not frames:
        raise dg.Failure("no raw customer tables in the warehouse: load the sources first",
                         metadata={"warehouse": str(wh.path)})
    result = stage_all(frames)
    from pipelines.privacy import drop_erased

    kept, n_erased = drop_erased(wh, {"customers": result.customers, "quarantine": result.quarantine,
                                      "field_issues": result.field_issues})
    result = replace(result, **kept)
    if n_erased:
        context.log.info(f"{n_erased} rows of erased people suppressed (privacy.tombstones)")
    run_id = context.run.run_id
    findings = _load_findings(wh, run_id)
    now = datetime.now(UTC)
    quarantine = pl.concat([result.quarantine, findings.select(list(QUARANTINE_SCHEMA))]).with_columns(
        pl.lit(run_id).alias("run_id"), pl.lit(now).alias("detected_at"))
    issues = result.field_issues.with_columns(
        pl.lit(run_id).alias("run_id"), pl.lit(now).alias("detected_at"))
    wh.write_many({
        "staging.customers": result.customers,
        "quality.quarantine": quarantine.select("run_id", *QUARANTINE_SCHEMA, "detected_at"),
        "quality.field_issues": issues,
    })
    read = rows_read(frames)
    card = scorecard(result, read)
    by_source = result.customers.group_by("source").len().sort("source")
    rules = quarantine.group_by("rule").len().sort("rule")
    fixes = issues.group_by("rule").len().sort("rule")
    docs = docs_dir(wh) / "index.html"
    context.log.info(f"staged {result.customers.height} records; quarantined {quarantine.height} rows, "
                     f"{issues.height} field issues")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": result.customers.height,
        "rows_read_by_system": dg.MetadataValue.json(read),
        "staged_by_source": dg.MetadataValue.json(dict(by_source.iter_rows())),
        "quarantined": quarantine.height,
        "quarantine_by_rule": dg.MetadataValue.json(dict(rules.iter_rows())),
        "fields_repaired": issues.height,
        "erased_records_suppressed": n_erased,
        "field_issues_by_rule": dg.MetadataValue.json(dict(fixes.iter_rows())),
        "missing_sources": dg.MetadataValue.json(missing),
        "quality_scorecard": dg.MetadataValue.md(scorecard_markdown(card)),
        "data_docs": dg.MetadataValue.path(str(docs)),
    })
