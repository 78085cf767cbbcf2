"""Staging: every raw source table mapped to one canonical, normalised customer schema.

The step also writes the data-quality ledger of the run: ``quality.quarantine`` (rows that break a
row rule: no key, duplicate key, no identity, negative amounts, cut shop pages) and
``quality.field_issues`` (a field nulled or flagged, the record kept). Both are rebuilt from the raw
tables every run, so a row fixed at the source leaves quarantine on the next run.

Raw rows deleted at the source (told by the ERP key scan, the sheets' file inventory and the
optional shop key scan; see ``pipelines.staging.deletions``) are not staged, so their records leave
their clusters and a golden customer left with none is retired. They are listed in
``quality.source_deletions`` (one row per key, with the run and time they were first seen gone),
rebuilt every run: a key that comes back at the source leaves it.
"""


from dataclasses import dataclass, replace
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
SOURCE_DELETIONS = "quality.source_deletions"
"""One row per source record deleted at the source whose raw row is still loaded: source_system,
source, table_name, source_record_id, reason, run_id and detected_at (when first seen gone)."""
#: evidence of deletions per source system: (table, key column or None for the sheets inventory,
#: asset staging waits for). The shop's scan is periodic: a run without it must not skip staging,
#: so it is no dependency (it is loaded by the same step as raw/shop/customers).
DELETION_EVIDENCE = {
    "erp": ("raw_erp.customers_keys", "customer_no", dg.AssetKey(["raw", "erp", "customers_keys"])),
    "shop": ("raw_shop.customers_keys", "id", None),
    "sheets": ("raw_sheets.file_inventory", None, None),
}
#: purchase tables checked by the amount rules, and their upstream assets
RAW_PURCHASE_TABLES = {
    "invoices": ("raw_erp.invoices", dg.AssetKey(["raw", "erp", "invoices"]), ["invoice_no", "amount"]),
    "orders": ("raw_shop.orders", dg.AssetKey(["raw", "shop", "orders"]), ["id", "total_price"]),
}


def _without_dlt_columns(df: pl.DataFrame) -> pl.DataFrame:
    return df.drop([c for c in df.columns if c.startswith("_dlt_")])


@dataclass
class RawCustomers:
    """The raw customer rows staging reads and the keys among them deleted at the source."""

    frames: dict[str, pl.DataFrame]
    """Every raw row per system (``erp``, ``shop``, ``sheets``), dlt's columns dropped."""
    missing: list[str]
    """Systems with no raw table yet."""
    deleted: pl.DataFrame
    """Deleted keys (``pipelines.staging.deletions.DELETION_SCHEMA``)."""

    def live(self) -> dict[str, pl.DataFrame]:
        """The frames without the rows of deleted keys: what is staged."""
        from pipelines.staging.deletions import without_deleted

        return without_deleted(self.frames, self.deleted)


def read_raw_customers(wh: Warehouse, *, include_dirty: bool | None = None) -> RawCustomers:
    """Raw customer frames (ERP rows with the stale copies of ``customers_dirty`` unless
    ``include_dirty`` is off; default: the ``sources.erp.include_dirty`` setting) and the keys the
    deletion evidence marks as gone."""
    from pipelines.staging import with_dirty_copies
    from pipelines.staging.deletions import DELETION_SCHEMA, key_scan_deletions, sheet_deletions

    frames, missing, deleted = {}, [], []
    for source, (table, _) in RAW_CUSTOMER_TABLES.items():
        df = wh.read_if_exists(table)
        if df is None:
            missing.append(source)
            continue
        evidence_table, key, _ = DELETION_EVIDENCE[source]
        evidence = wh.read_if_exists(evidence_table)
        if key is None:
            deleted.append(sheet_deletions(df, evidence, table=table))
        else:
            deleted.append(key_scan_deletions(df, evidence, key=key, source=source, table=table))
        frames[source] = _without_dlt_columns(df)
    dirty = erp_include_dirty() if include_dirty is None else include_dirty
    if "erp" in frames and dirty:
        frames["erp"] = with_dirty_copies(frames["erp"], wh.read_if_exists(DIRTY_TABLE))
    return RawCustomers(frames, missing, pl.concat(deleted) if deleted else pl.DataFrame(schema=DELETION_SCHEMA))


def read_customer_frames(wh: Warehouse, *, include_dirty: bool | None = None) -> tuple[dict[str, pl.DataFrame], list[str]]:
    """Every raw customer row staging reads (``{"erp": ..., "shop": ..., "sheets": ...}``, the rows of
    keys deleted at the source included) and the systems with no raw table yet."""
    raw = read_raw_customers(wh, include_dirty=include_dirty)
    return raw.frames, raw.missing


def deletion_ledger(deleted: pl.DataFrame, previous: pl.DataFrame | None, *, run_id: str,
                    now: datetime) -> pl.DataFrame:
    """``quality.source_deletions`` for this run: the deleted keys, each with the run and time it
    was first seen gone (kept from ``previous``), so an unchanged source rewrites the same rows."""
    keys = ["source", "source_record_id"]
    ledger = deleted.with_columns(pl.lit(run_id).alias("run_id"),
                                  pl.lit(now).cast(pl.Datetime("us", "UTC")).alias("detected_at"))
    if previous is not None and previous.height:
        first = previous.select(*keys, pl.col("run_id").alias("__run"), pl.col("detected_at").alias("__at"))
        ledger = ledger.join(first, on=keys, how="left").with_columns(
            pl.coalesce("__run", "run_id").alias("run_id"),
            pl.coalesce(pl.col("__at").cast(pl.Datetime("us", "UTC")), "detected_at").alias("detected_at"),
        ).drop("__run", "__at")
    return ledger.select("source_system", "source", "table_name", "source_record_id", "reason", "run_id",
                         "detected_at").sort("source_system", "source", "source_record_id")


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
    deps=[key for _, key in RAW_CUSTOMER_TABLES.values()] + [key for _, key, _ in RAW_PURCHASE_TABLES.values()]
    + [key for _, _, key in DELETION_EVIDENCE.values() if key is not None],
    kinds={"polars", "duckdb"},
    owners=["team:data-engineering"],
    description="Every source's customers in one canonical schema (staging.customers): names split, "
    "e-mails case-folded, phones in E.164, countries ISO-2, company suffixes canonical; raw values "
    "kept beside. Rows that break a row rule (no key, duplicate key incl. the ERP's stale copies, no "
    "name/e-mail/phone, negative amounts, cut shop pages) go to quality.quarantine, nulled or flagged "
    "fields to quality.field_issues; rows deleted at the source (ERP key scan, sheets file inventory, "
    "optional shop key scan) are left out and listed in quality.source_deletions; the metadata holds a "
    "per-source quality scorecard.",
)
def staged_customers(context: AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    from pipelines.staging import QUARANTINE_SCHEMA, scorecard, scorecard_markdown, stage_all

    wh = warehouse.get()
    raw = read_raw_customers(wh)
    frames, missing = raw.live(), raw.missing
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
    previous = wh.read_if_exists(SOURCE_DELETIONS)
    ledger = deletion_ledger(raw.deleted, previous, run_id=run_id, now=now)
    wh.write_many({
        "staging.customers": result.customers,
        "quality.quarantine": quarantine.select("run_id", *QUARANTINE_SCHEMA, "detected_at"),
        "quality.field_issues": issues,
        SOURCE_DELETIONS: ledger,
    })
    read = rows_read(raw.frames)
    card = scorecard(result, rows_read(frames))
    new_deletions = ledger.filter(pl.col("run_id") == run_id)
    if ledger.height:
        context.log.info(f"{ledger.height} source records deleted at the source left out of staging "
                         f"({new_deletions.height} new this run; {SOURCE_DELETIONS})")
    by_source = result.customers.group_by("source").len().sort("source")
    rules = quarantine.group_by("rule").len().sort("rule")
    fixes = issues.group_by("rule").len().sort("rule")
    docs = docs_dir(wh) / "index.html"
    context.log.info(f"staged {result.customers.height} records; quarantined {quarantine.height} rows, "
                     f"{issues.height} field issues")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": result.customers.height,
        "rows_read_by_system": dg.MetadataValue.json(read),
        "deleted_at_source": ledger.height,
        "deleted_at_source_this_run": new_deletions.height,
        "deleted_at_source_by_system": dg.MetadataValue.json(
            dict(ledger.group_by("source_system").len().sort("source_system").iter_rows())),
        "deleted_at_source_by_reason": dg.MetadataValue.json(
            dict(ledger.group_by("reason").len().sort("reason").iter_rows())),
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
