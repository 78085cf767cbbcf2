"""Raw layer: each configured source loaded by dlt into its own dataset (``raw_<source>``), one
Dagster asset per table keyed ``raw/<source>/<table>``; the sources come from the sources file
(``connectors.config``), so a new source appears here with no code change.

A source that cannot be loaded (database unreachable, file missing, shop page still invalid after
retries, a mapping that names columns the system does not have) does not stop the run: its error is
logged, recorded in ``quality.load_failures`` (masked), its assets are reported with
``load_status: failed`` and the row counts of the raw tables kept from earlier runs, and the
``<source>_loaded_this_run`` check turns red. Downstream steps then work on the last good raw data.
dlt loads nothing of a source whose extraction failed (the load package is only committed after
every resource was read), so no partial load is left behind.

Options per source (dlt configuration, e.g. environment variables): ``SOURCES__<NAME>__ON_INVALID_PAGE``
(``salvage``, the default, or ``fail``) and ``SOURCES__<NAME>__KEY_SCAN_HOURS`` (Shopify preset: a full
scan of the shop's customer ids at most every that many hours; 0, the default, never).

Deletions: merged raw tables keep rows deleted at the source, so each source also leaves evidence
of what is still there: ``<table>_keys`` for SQL sources (every run), ``file_inventory`` for files
sources and ``customers_keys`` for the Shopify preset (the optional periodic scan). Staging reads it.
"""


import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import dagster as dg
import dlt as dlt_lib
import polars as pl
from dagster import AssetExecutionContext
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from connectors import make_pipeline
from connectors.common import describe_load_error
from connectors.config import SourcesConfig, SourceSpec
from connectors.config.build import build_source, describe_location
from connectors.shop import KEYS_RESOURCE, InvalidPage
from connectors.sql.unchanged import SkipUnchanged
from pipelines.paths import default_warehouse, pipelines_dir
from pipelines.privacy import filter_erased_on_load
from pipelines.progress import timed_stage
from pipelines.resources import SourcesResource, WarehouseResource
from pipelines.sources import customers_key
from pipelines.warehouse import Warehouse, let_go

LOAD_FAILURES = "quality.load_failures"
"""One row per source whose load failed in a run: run_id, source, error (masked), failed_at."""
INVALID_PAGES = "quality.invalid_pages"
"""One row per shop page that stayed invalid JSON after retries and was salvaged."""
SCHEMA_CHANGES = "quality.schema_changes"
"""One row per column a load added to an existing raw table (new or renamed in the source)."""


def describe_table(spec: SourceSpec, table: str) -> str:
    """The asset description of one raw table."""
    where = {"sql": "SQL database", "rest": f"{spec.preset or 'REST'} API", "files": "files"}[spec.kind]
    if table == spec.customers_table:
        how = f"merged on {', '.join(spec.id) or 'file and row number'}" + (
            f", incremental on {spec.cursor}" if spec.cursor else "")
        return f"{spec.name} customers ({where}), as the system sent them, {how}."
    if table == spec.purchases_table:
        return f"{spec.name} {spec.purchases.kind}s ({where}), linked to customers by " \
               f"{spec.purchases.fields['customer'].describe()}."
    if table.endswith("_keys"):
        return (f"Every customer key {spec.name} serves now (key-only scan, replaced each time, scan_load_id): "
                "raw customers missing from it were deleted at the source.")
    if table == "file_inventory":
        return ("Each file's last read (present, row count, last row number): tells rows deleted from a file.")
    if table in spec.also_tables:
        return f"{spec.name} table {table}, replaced every run; staged with the customers (duplicates quarantined)."
    return f"{spec.name} table {table}"


@dataclass
class RawTranslator(DagsterDltTranslator):
    """Keys dlt resources as ``raw/<source>/<table>`` with no phantom upstream assets."""

    spec: SourceSpec | None = None

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        table = data.resource.name
        return super().get_asset_spec(data).replace_attributes(
            key=dg.AssetKey(["raw", self.spec.name, table]),
            deps=[],
            group_name="sources",
            description=describe_table(self.spec, table),
            owners=["team:data-engineering"],
            kinds={self.spec.kind, "dlt", "duckdb"},
        )


def _definition_pipeline(source: str):
    wh = default_warehouse()
    return make_pipeline(source, wh, pipelines_dir=pipelines_dir(wh))


def on_invalid_page(spec: SourceSpec) -> str:
    """``sources.<name>.on_invalid_page`` from dlt configuration; the pipeline default is ``salvage``."""
    return dlt_lib.config.get(f"sources.{spec.name}.on_invalid_page", str) or "salvage"


def key_scan_due(spec: SourceSpec, wh: Warehouse | None, *, now: float | None = None) -> bool:
    """Whether this Shopify load also scans every customer id (``key_scan_hours`` in the sources file
    or ``sources.<name>.key_scan_hours``; 0 = never): when no complete scan is loaded yet or the last one
    is at least that old."""
    hours = spec.key_scan_hours or dlt_lib.config.get(f"sources.{spec.name}.key_scan_hours", float) or 0.0
    if hours <= 0:
        return False
    table = spec.raw(KEYS_RESOURCE)
    if wh is None or not wh.exists(table):
        return True
    last = wh.query(f"select max(try_cast(scan_load_id as double)) as t from {table}")["t"][0]
    return last is None or (time.time() if now is None else now) - last >= hours * 3600


def skip_unchanged_steps(spec: SourceSpec, dlt_source, warehouse_path) -> dict[str, SkipUnchanged]:
    """For each keyed SQL table read whole every run (no cursor), a step that leaves out the rows the raw
    table already holds as they are (``connectors.sql.unchanged``): the load then writes only new and
    changed rows. ``sources.<name>.merge_unchanged_rows`` (true) switches it off."""
    if spec.kind != "sql" or dlt_lib.config.get(f"sources.{spec.name}.merge_unchanged_rows", bool):
        return {}
    tables = []
    if spec.table is not None and spec.id and not spec.cursor:
        tables.append((spec.customers_table, tuple(spec.id)))
    if spec.purchases is not None and not spec.purchases.cursor:
        tables.append((spec.purchases_table, tuple(spec.purchases.fields["id"].columns[:1])))
    steps = {}
    for table, key in tables:
        if table in dlt_source.resources and key:
            steps[table] = SkipUnchanged(warehouse_path, spec.raw(table), key)
            dlt_source.resources[table].add_map(steps[table])
    return steps


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
    frame = pl.DataFrame([asdict(p) for p in pages], schema_overrides={"objects_lost": pl.Int64}).with_columns(
        pl.lit(run_id).alias("run_id"), pl.lit(source).alias("source"),
        pl.lit(datetime.now(UTC)).cast(pl.Datetime("us", "UTC")).alias("detected_at"),
    )
    wh.append(INVALID_PAGES, frame.select("run_id", "source", "resource", "page", "request_path", "bytes",
                                          "objects_recovered", "objects_lost", "error",
                                          "detected_at"))


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


def _raw_assets(spec: SourceSpec):
    with build_source(spec, definitions=True) as definition_source:
        pass
    source = spec.name

    @dlt_assets(
        dlt_source=definition_source,
        dlt_pipeline=_definition_pipeline(source),
        name=f"raw_{source}",
        dagster_dlt_translator=RawTranslator(spec=spec),
    )
    @timed_stage
    def _assets(context: AssetExecutionContext, dlt: DagsterDltResource,
                warehouse: WarehouseResource, sources: SourcesResource):
        wh = warehouse.get()
        run_spec = sources.config().get(source)
        run_id = context.run.run_id
        pipeline = make_pipeline(source, warehouse.path, pipelines_dir=warehouse.dlt_pipelines_dir())
        results, error, pages, drift, skipped = [], None, [], {}, {}
        before = raw_columns(wh, source)
        collected: list[InvalidPage] = []
        try:
            with build_source(run_spec, invalid_pages=collected, on_invalid_page=on_invalid_page(run_spec)) \
                    as dlt_source:
                if KEYS_RESOURCE in dlt_source.resources and run_spec.preset == "shopify" \
                        and not key_scan_due(run_spec, wh):
                    dlt_source.resources[KEYS_RESOURCE].selected = False
                filter_erased_on_load(dlt_source, run_spec, warehouse.get())
                skipped = skip_unchanged_steps(run_spec, dlt_source, warehouse.path)
                with let_go(warehouse.path):  # dlt's loader opens the file with its own settings
                    results = list(dlt.run(context=context, dlt_source=dlt_source, dlt_pipeline=pipeline))
                pages = list(collected)
        except Exception as exc:  # noqa: BLE001 - one source failing must not stop the others
            error = describe_load_error(exc)
            if f"source {source!r}" not in error:  # the library's own messages name source and place
                error = f"{error} (source {source}, reading {describe_location(run_spec)})"
            context.log.error(f"raw load {source} failed: {error}"
                              + ("; later steps use the raw tables of earlier runs" if before else
                                 "; there are no raw tables of earlier runs for it")
                              + f" ({LOAD_FAILURES})")
            record_load_failure(wh, run_id=run_id, source=source, error=error)
        record_invalid_pages(wh, pages, run_id=run_id, source=source)
        if error is None:
            drift = record_schema_changes(wh, before, raw_columns(wh, source), run_id=run_id, source=source)
            for table, columns in drift.items():
                context.log.warning(f"schema drift in raw_{source}.{table}: {len(columns)} new column(s) "
                                    f"loaded (a new or renamed source column; see {SCHEMA_CHANGES})")
        loaded = {r.asset_key: r for r in results}
        for key in sorted(context.selected_asset_keys, key=lambda k: k.path):
            table = f"raw_{source}.{key.path[-1]}"
            result = loaded.get(key)
            scan_kept = result is None and error is None and key.path[-1] == KEYS_RESOURCE \
                and run_spec.preset == "shopify"
            if result is None and error is None and not scan_kept:
                continue  # a resource switched off for this run
            meta = {**((result.metadata or {}) if result is not None else {}),
                    "dagster/row_count": _row_count(wh, table), "table": table,
                    "load_status": "loaded" if error is None else "failed"}
            if scan_kept:  # shown as up to date, with why nothing was scanned
                meta["load_status"] = "not scanned this run"
                meta["note"] = dg.MetadataValue.text(
                    f"the full key scan runs every sources.{source}.key_scan_hours hours (0 = never); the table "
                    "keeps the last scan, if any")
            if error is not None:
                meta["load_error"] = dg.MetadataValue.text(error)
                meta["note"] = dg.MetadataValue.text(
                    "not loaded this run: the raw table keeps the rows of earlier runs, and later steps used those"
                    if wh.exists(table) else "not loaded this run, and never loaded before")
            step = skipped.get(key.path[-1])
            if step is not None and error is None:
                meta["load_mode"] = "changed rows only"
                meta["rows_read_from_source"] = step.rows_read
                meta["rows_unchanged_not_merged"] = step.rows_skipped
            if key.path[-1] in drift:
                meta["schema_changes"] = dg.MetadataValue.json({"added_columns": drift[key.path[-1]]})
            shown = [p for p in pages if p.resource == key.path[-1]]
            if shown:
                meta["invalid_pages_salvaged"] = dg.MetadataValue.json(
                    [{"page": p.page, "bytes": p.bytes, "objects_recovered": p.objects_recovered,
                      "objects_lost": p.objects_lost} for p in shown])
            yield dg.MaterializeResult(asset_key=key, metadata=meta)

    return _assets


def raw_assets(config: SourcesConfig) -> list:
    """One multi-asset per enabled source."""
    return [_raw_assets(spec) for spec in config.enabled]


def load_check_assets(config: SourcesConfig) -> dict[str, dg.AssetKey]:
    """The asset whose check reports whether each source loaded in this run (its customer table)."""
    return {spec.name: customers_key(spec) for spec in config.enabled}
