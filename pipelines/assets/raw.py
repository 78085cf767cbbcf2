"""Raw layer: each source system loaded by dlt into its own dataset (``raw_erp``, ``raw_shop``,
``raw_sheets``), one Dagster asset per table keyed ``raw/<source>/<table>``.

A source that cannot be loaded (database unreachable, file missing, shop page still invalid after
retries) does not stop the run: its error is logged, recorded in ``quality.load_failures`` (masked),
its assets are reported with ``load_status: failed`` and the row counts of the raw tables kept from
earlier runs, and the ``<source>_loaded_this_run`` check turns red. Downstream steps then work on the
last good raw data. dlt loads nothing of a source whose extraction failed (the load package is only
committed after every resource was read), so no partial load is left behind.

Options (dlt configuration, e.g. environment variables): ``SOURCES__ERP__INCLUDE_DIRTY`` (default
true: also load ``customers_dirty``, the stale duplicate-key copies that staging quarantines),
``SOURCES__SHOP__ON_INVALID_PAGE`` (``salvage``, the default, or ``fail``) and
``SOURCES__SHOP__KEY_SCAN_HOURS`` (default 0, off: a full scan of the shop's customer ids, run when
the last one is at least that many hours old, so customers deleted at the shop are seen).

Deletions: merged raw tables keep rows deleted at the source, so each source also leaves evidence
of what is still there: ``raw_erp.customers_keys`` (every run), ``raw_sheets.file_inventory`` (per
file) and ``raw_shop.customers_keys`` (the optional periodic scan). Staging reads it.
"""


import contextlib
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import dlt as dlt_lib
import polars as pl
from dagster import AssetExecutionContext
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData
from dlt.extract.source import DltSource

from connectors import erp_source, make_pipeline, sheets_source, shop_source
from connectors.common import describe_load_error
from connectors.shop import KEYS_RESOURCE, InvalidPage
from pipelines.paths import default_warehouse, pipelines_dir
from pipelines.privacy import filter_erased_on_load
from pipelines.resources import SourcesResource, WarehouseResource
from pipelines.warehouse import Warehouse

LOAD_FAILURES = "quality.load_failures"
"""One row per source whose load failed in a run: run_id, source, error (masked), failed_at."""
INVALID_PAGES = "quality.invalid_pages"
"""One row per shop page that stayed invalid JSON after retries and was salvaged."""
SCHEMA_CHANGES = "quality.schema_changes"
"""One row per column a load added to an existing raw table (new or renamed in the source)."""

SOURCES = ("erp", "shop", "sheets")

DESCRIPTIONS = {
    ("erp", "customers"): "ERP customer master (SQL database), merged on customer_no, incremental on updated_at.",
    ("erp", "invoices"): "ERP invoices (SQL database), merged on invoice_no.",
    ("erp", "customers_keys"): "Every customer_no now in the ERP customers table (key-only query, "
    "replaced every run, scan_load_id): raw customers missing from it were deleted at the source.",
    ("shop", "customers_keys"): "Every customer id the shop API serves now (optional periodic full scan, "
    "sources.shop.key_scan_hours): raw customers missing from it were deleted at the shop.",
    ("erp", "customers_dirty"): "ERP customers UNION ALL customers_dirty (stale copies with duplicate "
    "customer_no, column source_table), replaced every run; staging quarantines the copies.",
    ("shop", "customers"): "Web shop customers from the Shopify-style Admin API, merged on id, "
    "incremental on updated_at.",
    ("shop", "orders"): "Web shop orders from the Admin API, merged on id, incremental on updated_at.",
    ("sheets", "contacts"): "Rows of every CSV/XLSX sheet (sales lists, trade-show leads), headers "
    "mapped to canonical names, keyed by file stem and data row number; raw_sheets.file_inventory holds "
    "each file's last read (row count, present), which tells rows deleted from a sheet.",
}


@dataclass
class RawTranslator(DagsterDltTranslator):
    """Keys dlt resources as ``raw/<source>/<table>`` with no phantom upstream assets."""

    source: str = ""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        table = data.resource.name
        return super().get_asset_spec(data).replace_attributes(
            key=dg.AssetKey(["raw", self.source, table]),
            deps=[],
            group_name="sources",
            description=DESCRIPTIONS.get((self.source, table), f"{self.source} table {table}"),
            owners=["team:data-engineering"],
        )


def _definition_pipeline(source: str):
    wh = default_warehouse()
    return make_pipeline(source, wh, pipelines_dir=pipelines_dir(wh))


def erp_include_dirty() -> bool:
    """``sources.erp.include_dirty`` from dlt configuration; the pipeline default is True."""
    value = dlt_lib.config.get("sources.erp.include_dirty", bool)
    return True if value is None else bool(value)


def shop_on_invalid_page() -> str:
    """``sources.shop.on_invalid_page`` from dlt configuration; the pipeline default is ``salvage``."""
    return dlt_lib.config.get("sources.shop.on_invalid_page", str) or "salvage"


SHOP_KEYS = "raw_shop.customers_keys"


def shop_key_scan_due(wh: Warehouse | None, *, now: float | None = None) -> bool:
    """Whether this shop load also scans every customer id (``sources.shop.key_scan_hours``, 0 = never):
    when no complete scan is loaded yet or the last one is at least that old."""
    hours = dlt_lib.config.get("sources.shop.key_scan_hours", float) or 0.0
    if hours <= 0:
        return False
    if wh is None or not wh.exists(SHOP_KEYS):
        return True
    last = wh.query(f"select max(try_cast(scan_load_id as double)) as t from {SHOP_KEYS}")["t"][0]
    return last is None or (time.time() if now is None else now) - last >= hours * 3600


def _require_sqlite_file(url: str) -> None:
    """SQLite would create a missing database file (and then miss its tables): name it instead."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    local = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
    if local and not Path(parsed.database).is_file():
        raise FileNotFoundError(f"ERP database file {parsed.database} not found")


@contextlib.contextmanager
def runtime_source(source: str, sources: SourcesResource) -> Iterator[DltSource]:
    """The dlt source for one load; for the shop, the built-in server stays up meanwhile.

    The shop source carries ``invalid_pages``: the pages it salvaged (filled during the load), and
    its key-scan resource (deselected by the asset when the scan is not due).
    """
    if source == "erp":
        url = sources.erp()
        dirty = erp_include_dirty()
        if url:
            _require_sqlite_file(url)
            yield erp_source(credentials=url, include_dirty=dirty)
        else:
            yield erp_source(include_dirty=dirty)
    elif source == "shop":
        pages: list[InvalidPage] = []
        options = {"on_invalid_page": shop_on_invalid_page(), "invalid_pages": pages, "key_scan": True}
        with sources.shop() as (url, token):
            src = (shop_source(base_url=url, access_token=token, **options) if token
                   else shop_source(base_url=url, **options))
            src.invalid_pages = pages
            yield src
    elif source == "sheets":
        bucket = sources.sheets()
        if "://" not in bucket and not Path(bucket).is_dir():
            raise FileNotFoundError(f"sheets folder {bucket} not found")
        yield sheets_source(bucket_url=bucket)
    else:
        raise ValueError(f"unknown source {source!r}")


def record_load_failure(wh: Warehouse, *, run_id: str, source: str, error: str) -> None:
    """Append one row to ``quality.load_failures`` (``error`` must already be masked)."""
    wh.append(LOAD_FAILURES, pl.DataFrame(
        {"run_id": [run_id], "source": [source], "error": [error], "failed_at": [datetime.now(UTC)]},
        schema={"run_id": pl.Utf8, "source": pl.Utf8, "error": pl.Utf8, "failed_at": pl.Datetime("us", "UTC")},
    ))


def record_invalid_pages(wh: Warehouse, pages: list[InvalidPage], *, run_id: str, source: str) -> None:
    """Append the salvaged pages of one load to ``quality.invalid_pages``."""
    if not pages:
        return
    frame = pl.DataFrame([asdict(p) for p in pages]).with_columns(
        pl.lit(run_id).alias("run_id"), pl.lit(source).alias("source"),
        pl.lit(datetime.now(UTC)).cast(pl.Datetime("us", "UTC")).alias("detected_at"),
    )
    wh.append(INVALID_PAGES, frame.select("run_id", "source", "resource", "page", "request_path", "bytes",
                                          "objects_recovered", "error", "detected_at"))


def raw_columns(wh: Warehouse, source: str) -> dict[str, set[str]]:
    """Columns of each table in ``raw_<source>`` (dlt's own tables and columns left out)."""
    if not wh.path.exists():
        return {}
    rows = wh.query("select table_name, column_name from information_schema.columns where table_schema = ?",
                    [f"raw_{source}"])
    tables: dict[str, set[str]] = {}
    for table, column in rows.iter_rows():
        if not table.startswith("_dlt") and not column.startswith("_dlt_"):
            tables.setdefault(table, set()).add(column)
    return tables


def record_schema_changes(wh: Warehouse, before: dict[str, set[str]], after: dict[str, set[str]], *,
                          run_id: str, source: str) -> dict[str, list[str]]:
    """Columns added to tables that existed before the load, appended to ``quality.schema_changes``.

    A column the source renamed arrives as a new column (the old one stays, null for new rows):
    it is loaded, not dropped, and reported here so the mapping can follow.
    """
    added = {t: sorted(after[t] - before[t]) for t in sorted(after) if t in before and after[t] - before[t]}
    if added:
        now = datetime.now(UTC)
        wh.append(SCHEMA_CHANGES, pl.DataFrame(
            [(run_id, source, f"raw_{source}.{t}", c, "added", now) for t, cols in added.items() for c in cols],
            schema={"run_id": pl.Utf8, "source": pl.Utf8, "table_name": pl.Utf8, "column_name": pl.Utf8,
                    "change": pl.Utf8, "detected_at": pl.Datetime("us", "UTC")}, orient="row"))
    return added


def _row_count(wh: Warehouse, table: str) -> int:
    return int(wh.query(f"select count(*) as n from {table}")["n"][0]) if wh.exists(table) else 0


def _raw_assets(source: str, definition_source: DltSource):
    @dlt_assets(
        dlt_source=definition_source,
        dlt_pipeline=_definition_pipeline(source),
        name=f"raw_{source}",
        dagster_dlt_translator=RawTranslator(source=source),
    )
    def _assets(context: AssetExecutionContext, dlt: DagsterDltResource,
                warehouse: WarehouseResource, sources: SourcesResource):
        wh = warehouse.get()
        run_id = context.run.run_id
        pipeline = make_pipeline(source, warehouse.path, pipelines_dir=warehouse.dlt_pipelines_dir())
        results, error, pages, drift = [], None, [], {}
        before = raw_columns(wh, source)
        try:
            with runtime_source(source, sources) as dlt_source:
                if KEYS_RESOURCE in dlt_source.resources and source == "shop" and not shop_key_scan_due(wh):
                    dlt_source.resources[KEYS_RESOURCE].selected = False
                filter_erased_on_load(dlt_source, source, warehouse.get())
                results = list(dlt.run(context=context, dlt_source=dlt_source, dlt_pipeline=pipeline))
                pages = list(getattr(dlt_source, "invalid_pages", None) or [])
        except Exception as exc:  # noqa: BLE001 - one source failing must not stop the others
            error = describe_load_error(exc)
            context.log.error(f"raw load {source} failed: {error}; later steps use the raw tables of "
                              f"earlier runs ({LOAD_FAILURES})")
            record_load_failure(wh, run_id=run_id, source=source, error=error)
        record_invalid_pages(wh, pages, run_id=run_id, source=source)
        if error is None:
            drift = record_schema_changes(wh, before, raw_columns(wh, source), run_id=run_id, source=source)
            for table, columns in drift.items():
                context.log.warning(f"schema drift in raw_{source}.{table}: new column(s) {', '.join(columns)} "
                                    f"loaded (a new or renamed source column; see {SCHEMA_CHANGES})")
        loaded = {r.asset_key: r for r in results}
        for key in sorted(context.selected_asset_keys, key=lambda k: k.path):
            table = f"raw_{source}.{key.path[-1]}"
            result = loaded.get(key)
            scan_kept = result is None and error is None and source == "shop" and key.path[-1] == KEYS_RESOURCE
            if result is None and error is None and not scan_kept:
                continue  # a resource switched off for this run (e.g. include_dirty=false)
            meta = {**((result.metadata or {}) if result is not None else {}),
                    "dagster/row_count": _row_count(wh, table), "table": table,
                    "load_status": "loaded" if error is None else "failed"}
            if scan_kept:  # shown as up to date, with why nothing was scanned
                meta["load_status"] = "not scanned this run"
                meta["note"] = dg.MetadataValue.text(
                    "the full key scan runs every sources.shop.key_scan_hours hours (0 = never); the table "
                    "keeps the last scan, if any")
            if error is not None:
                meta["load_error"] = dg.MetadataValue.text(error)
                meta["note"] = dg.MetadataValue.text("not loaded this run: the raw table keeps the rows of "
                                                     "earlier runs, and later steps used those")
            if key.path[-1] in drift:
                meta["schema_changes"] = dg.MetadataValue.json({"added_columns": drift[key.path[-1]]})
            shown = [p for p in pages if p.resource == key.path[-1]]
            if shown:
                meta["invalid_pages_salvaged"] = dg.MetadataValue.json(
                    [{"page": p.page, "bytes": p.bytes, "objects_recovered": p.objects_recovered} for p in shown])
            yield dg.MaterializeResult(asset_key=key, metadata=meta)

    return _assets


# Definition-time sources only name the tables; real locations are resolved at run time.
raw_erp = _raw_assets("erp", erp_source(credentials="sqlite:///:memory:", include_dirty=True))
raw_shop = _raw_assets("shop", shop_source(base_url="http://127.0.0.1:9", access_token="-", key_scan=True))
raw_sheets = _raw_assets("sheets", sheets_source(bucket_url="."))

RAW_ASSETS = [raw_erp, raw_shop, raw_sheets]

#: the asset whose check reports whether each source loaded in this run
LOAD_CHECK_ASSETS = {
    "erp": dg.AssetKey(["raw", "erp", "customers"]),
    "shop": dg.AssetKey(["raw", "shop", "customers"]),
    "sheets": dg.AssetKey(["raw", "sheets", "contacts"]),
}
