"""Asset checks: Great Expectations suites on raw, staged and golden tables, load status and
reconciliation.

* ``<source>_loaded_this_run`` (on each source's main raw asset): red when the load failed this
  run; not blocking, so later steps run on the raw data of earlier runs.
* raw suites (one per raw table): key problems block staging, dates and amounts only warn. They assert
  the whole table every run, counted in SQL; only rows of loads new since the last run are parsed
  (``expectations.table_state``), and each check's metadata says how (``validation_mode``, rows read
  and parsed this run).
* suites on the golden build and the per-source reconciliation (rows read = rows in the crosswalk +
  rows quarantined + rows deleted at the source, ``quality.source_deletions``) are blocking: when one fails, ``golden/published`` does not run and the last
  published tables stay as they were.

Every suite puts its validation in one Great Expectations Data Docs site in ``docs/`` beside the
warehouse (``docs/index.html`` lists the newest validation of each suite); each check's metadata
links its suite's page.
"""


import dagster as dg
import polars as pl

from connectors.config import SourcesConfig, SourceSpec
from expectations import (
    rows_reconcile,
    run_suite_on_table,
    suite_spec,
)
from expectations.dagster_checks import check_specs, to_check_results
from expectations.data_docs import queue_data_docs, render_in_background
from expectations.raw_suites import RAW_SUITE_TABLES, raw_table_suite
from expectations.runner import run_raw_suite_on_table
from expectations.suites import register_suite
from pipelines.assets.golden import BUILD_TABLES, GOLDEN_CROSSWALK, GOLDEN_CUSTOMERS
from pipelines.assets.matching import MatchingResource
from pipelines.assets.raw import LOAD_FAILURES, load_check_assets
from pipelines.assets.staging import MAPPING_ERRORS, SOURCE_DELETIONS, docs_dir, read_raw_customers
from pipelines.publish.swap import delta_table
from pipelines.resources import SourcesResource, WarehouseResource
from pipelines.sources import customers_key, purchases_key
from pipelines.warehouse import Warehouse

STAGED = dg.AssetKey(["staging", "customers"])
QUARANTINE = "quality.quarantine"


def _suite(wh: Warehouse, name: str, table: str, **related) -> tuple[object, dict]:
    """Run suite ``name`` on ``table`` in the warehouse (streamed, never read whole) and queue its
    validation for the Data Docs site beside the warehouse (replacing the suite's previous page);
    returns the outcome and check metadata linking the page the renderer draws."""
    with wh.connect() as con:
        outcome = run_suite_on_table(name, con, table, **related)
    return outcome, _docs(wh, outcome)


def _docs(wh: Warehouse, outcome) -> dict:
    """Queue the outcome's validation for the Data Docs site; the check metadata linking its page."""
    docs = docs_dir(wh)
    if outcome.validation_result is None:
        return {"data_docs": dg.MetadataValue.path(str(docs / "index.html"))}
    page = queue_data_docs(outcome, docs)  # drawn by one renderer beside the run, not in this step
    render_in_background(docs)
    return {"data_docs": dg.MetadataValue.path(str(page))}


@dg.multi_asset_check(specs=check_specs("staged_customers", STAGED), can_subset=False)
def staged_customers_suite(warehouse: WarehouseResource):
    """The staged_customers suite on staging.customers."""
    wh = warehouse.get()
    outcome, docs = _suite(wh, "staged_customers", "staging.customers")
    yield from to_check_results(outcome, asset_key=STAGED, metadata=docs)


@dg.multi_asset_check(specs=check_specs("golden_customers", GOLDEN_CUSTOMERS), can_subset=False)
def golden_customers_suite(warehouse: WarehouseResource):
    """The golden_customers suite on the golden build, before it is published."""
    wh = warehouse.get()
    outcome, docs = _suite(wh, "golden_customers", BUILD_TABLES[GOLDEN_CUSTOMERS])
    yield from to_check_results(outcome, asset_key=GOLDEN_CUSTOMERS, metadata=docs)


@dg.multi_asset_check(specs=check_specs("golden_crosswalk", GOLDEN_CROSSWALK), can_subset=False)
def golden_crosswalk_suite(warehouse: WarehouseResource):
    """The golden_crosswalk suite, including: every staged record is in the crosswalk once."""
    wh = warehouse.get()
    outcome, docs = _suite(wh, "golden_crosswalk", BUILD_TABLES[GOLDEN_CROSSWALK],
                           staged_table="staging.customers")
    yield from to_check_results(outcome, asset_key=GOLDEN_CROSSWALK, metadata=docs)


def _reconcile_name(system: str) -> str:
    return f"{system}_rows_reconcile"


def source_reconciliation_check(config: SourcesConfig):
    """One blocking ``<source>_rows_reconcile`` check per enabled source, on the golden crosswalk."""
    systems = config.names()

    @dg.multi_asset_check(
        specs=[dg.AssetCheckSpec(
            _reconcile_name(system), asset=GOLDEN_CROSSWALK, blocking=True,
            description=f"{system}: every raw customer row read this run is in the crosswalk, in "
            "quality.quarantine or deleted at the source (rows read = crosswalk rows + quarantined rows + "
            "rows of keys in quality.source_deletions, key by key)",
            metadata={"severity": "error", "source_system": system},
        ) for system in systems],
        can_subset=False,
        name="source_reconciliation",
    )
    def source_reconciliation(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                              sources: SourcesResource):
        """Per source: raw rows (extra tables' duplicate copies included, erased people's left out) =
        crosswalk rows + quarantined rows + rows of keys deleted at the source; a gap fails and names the
        keys. A deleted key still in the crosswalk counts as extra, so staging cannot both record a
        deletion and keep the record."""
        from pipelines.privacy import drop_erased
        from pipelines.staging import NON_RECORD_RULES

        wh = warehouse.get()
        failed = _failed_sources(wh, context.run.run_id)
        raw = read_raw_customers(wh, sources.config(), keys_only=True)
        keys = raw.keys()
        # rows of erased people still in a raw table are suppressed by staging, as here
        kept, _ = drop_erased(wh, {"read": keys})
        read = kept["read"].drop("email")
        system_of = read.select("source", pl.col("system").alias("_system")).unique("source", keep="first")
        for spec in sources.config().enabled:
            system_of = pl.concat([system_of, pl.DataFrame({"source": [spec.name], "_system": [spec.name]})]) \
                .unique("source", keep="first", maintain_order=True)

        def with_system(df: pl.DataFrame) -> pl.DataFrame:
            return df.join(system_of, on="source", how="left")

        read = read.rename({"system": "_system"})
        crosswalk = with_system(wh.read(BUILD_TABLES[GOLDEN_CROSSWALK], columns=["source", "source_record_id"]))
        quarantine = (wh.read(QUARANTINE, columns=["source", "source_record_id", "rule"]) if wh.exists(QUARANTINE)
                      else pl.DataFrame(schema={"source": pl.Utf8, "source_record_id": pl.Utf8, "rule": pl.Utf8}))
        # purchase rows and page-level findings are not customer rows
        quarantine = with_system(quarantine.filter(~pl.col("rule").is_in(NON_RECORD_RULES)))
        gone = (wh.read(SOURCE_DELETIONS, columns=["source", "source_record_id"]) if wh.exists(SOURCE_DELETIONS)
                else pl.DataFrame(schema={"source": pl.Utf8, "source_record_id": pl.Utf8}))
        # one row per raw row read of a deleted key (duplicate copies of the key included)
        deleted = read.join(gone.unique(), on=["source", "source_record_id"], how="semi")
        for system in systems:
            def part(df: pl.DataFrame, s: str = system) -> pl.DataFrame:
                return df.filter(pl.col("_system") == s)

            r, x, q, d = part(read), part(crosswalk), part(quarantine), part(deleted)
            outcome = rows_reconcile(r, x, q, deleted=d, check_name=_reconcile_name(system))
            unmapped = raw.failed.get(system)
            yield dg.AssetCheckResult(
                asset_key=GOLDEN_CROSSWALK,
                check_name=outcome.check_name,
                passed=outcome.success and unmapped is None,
                severity=dg.AssetCheckSeverity.ERROR,
                description=(f"not staged: {unmapped}" if unmapped else
                             outcome.describe() + f" ({outcome.description})"),
                metadata={
                    "rows_read": r.height,
                    "rows_in_crosswalk": x.height,
                    "rows_quarantined": q.height,
                    "rows_deleted_at_source": d.height,
                    "unaccounted_or_extra": outcome.unexpected_count,
                    "keys": dg.MetadataValue.json(list(outcome.sample)),
                    "loaded_this_run": system not in failed,
                },
            )

    return source_reconciliation


def mapping_check(spec: SourceSpec):
    """``<source>_columns_are_mapped``: every column the sources file maps is in the raw table (blocking:
    a renamed or dropped source column stops the publish instead of degrading the golden records)."""

    @dg.asset_check(asset=STAGED, name=f"{spec.name}_columns_are_mapped", blocking=True,
                    description=f"every column the sources file maps for {spec.name} is in its raw table")
    def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        wh = warehouse.get()
        error = None
        if wh.exists(MAPPING_ERRORS):
            rows = wh.query(f"select error from {MAPPING_ERRORS} where run_id = ? and source = ?",
                            [context.run.run_id, spec.name])
            error = rows["error"][0] if rows.height else None
        if error is None and wh.exists(LOAD_FAILURES):  # the load found the source's columns changed
            rows = wh.query(f"select error from {LOAD_FAILURES} where run_id = ? and source = ? "
                            "and error like 'SourceSchemaError:%'", [context.run.run_id, spec.name])
            error = rows["error"][0] if rows.height else None
        return dg.AssetCheckResult(
            passed=error is None, severity=dg.AssetCheckSeverity.ERROR,
            description=error or f"{spec.name}: every mapped column found",
            metadata={"source": spec.name, "table": MAPPING_ERRORS,
                      **({"error": dg.MetadataValue.text(error)} if error else {})})

    return _check


def _failed_sources(wh: Warehouse, run_id: str | None) -> dict[str, tuple[str, object]]:
    """``{source: (error, failed_at)}`` from ``quality.load_failures`` for ``run_id``."""
    if run_id is None or not wh.exists(LOAD_FAILURES):
        return {}
    rows = wh.query(f"select source, error, failed_at from {LOAD_FAILURES} where run_id = ? order by failed_at",
                    [run_id])
    return {s: (e, t) for s, e, t in rows.iter_rows()}


def _load_check(source: str, key: dg.AssetKey):
    @dg.asset_check(asset=key, name=f"{source}_loaded_this_run", blocking=False,
                    description=f"the {source} source loaded in this run (a failure keeps the raw tables "
                    "of earlier runs, which later steps then use)")
    def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        failed = _failed_sources(warehouse.get(), context.run.run_id).get(source)
        if failed is None:
            return dg.AssetCheckResult(passed=True, metadata={"load_status": "loaded"})
        error, at = failed
        return dg.AssetCheckResult(
            passed=False, severity=dg.AssetCheckSeverity.ERROR,
            description=f"{source} was not loaded this run: {error}",
            metadata={"load_status": "failed", "error": dg.MetadataValue.text(error),
                      "failed_at": dg.MetadataValue.text(str(at)), "table": LOAD_FAILURES},
        )

    return _check


def _raw_suite(wh: Warehouse, suite: str, table: str, *, full: bool) -> tuple[object, dict]:
    """Suite ``suite`` on the whole raw ``table``, parsing only the rows of loads new since the last
    run (``expectations.table_state``); the metadata says how the rows were brought up to date."""
    with wh.connect() as con:
        outcome, info = run_raw_suite_on_table(suite, con, table, full=full)
    meta = {"table": table, "validation_mode": info.mode, "rows_read_this_run": info.rows_read,
            "rows_parsed_this_run": info.rows_parsed}
    if info.reason:
        meta["validation_note"] = dg.MetadataValue.text(info.reason)
    return outcome, {**meta, **_docs(wh, outcome)}


def _raw_suite_check(suite: str, table: str, key: dg.AssetKey):
    @dg.multi_asset_check(specs=check_specs(suite, key), can_subset=False, name=f"{suite}_suite")
    def _check(warehouse: WarehouseResource, matching: MatchingResource):
        wh = warehouse.get()
        if not wh.exists(table):
            for spec in suite_spec(suite).checks:
                yield dg.AssetCheckResult(asset_key=key, check_name=spec.name, passed=True,
                                          description=f"{table} does not exist yet: nothing to check",
                                          metadata={"table": table, "element_count": 0})
            return
        outcome, meta = _raw_suite(wh, suite, table, full=matching.full_rebuild)
        yield from to_check_results(outcome, asset_key=key, metadata=meta)

    return _check


def load_checks(config: SourcesConfig) -> list:
    return [_load_check(source, key) for source, key in load_check_assets(config).items()]


def raw_suite_checks(config: SourcesConfig) -> list:
    """A suite per configured customer and purchase table (``raw_<source>_<table>``): keys blocking."""
    checks = []
    for spec in config.enabled:
        keys = tuple(spec.id) if spec.id else ("source", "row_number")
        dates = tuple(dict.fromkeys(c for f in ("created_at", "updated_at") if f in spec.fields
                                    and len(spec.fields[f].columns) == 1 and spec.kind != "files"
                                    for c in spec.fields[f].columns))
        tables = [(spec.customers_table, customers_key(spec), keys, dates, ())]
        if spec.purchases is not None:
            p = spec.purchases.fields
            tables.append((spec.purchases_table, purchases_key(spec), p["id"].columns[:1],
                           p["date"].columns[:1] if "date" in p else (), p["amount"].columns[:1]))
        for table, key, cols, ds, amounts in tables:
            cols = tuple(c.replace(".", "__") for c in cols)
            suite = f"raw_{spec.name}_{table}"
            builtin = RAW_SUITE_TABLES.get(suite) == spec.raw(table) \
                and tuple(suite_spec(suite).key_columns) == cols
            if not builtin:  # the demo layout's tables keep their hand-written suites
                register_suite(suite, raw_table_suite(suite, spec.raw(table), cols,
                                                      dates=tuple(d.replace(".", "__") for d in ds),
                                                      amounts=tuple(a.replace(".", "__") for a in amounts)))
            checks.append(_raw_suite_check(suite, spec.raw(table), key))
    return checks

@dg.asset_check(asset=GOLDEN_CUSTOMERS, name="golden_ids_are_stable", blocking=False,
                description="Every golden id of the last published run is still in use or listed in "
                "golden.id_history with the id that replaced it.")
def golden_ids_are_stable(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    wh = warehouse.get()
    if not wh.exists("golden.crosswalk"):
        return dg.AssetCheckResult(passed=True, metadata={"previous_run": "none (first build)"})
    # one join of the two sets of golden ids in DuckDB: two crosswalks never come into memory
    ids = wh.query(f"""
        with before as (select distinct golden_id from golden.crosswalk),
             now as (select distinct golden_id from {BUILD_TABLES[GOLDEN_CROSSWALK]}),
             both_ as (select b.golden_id as was, n.golden_id as is_ from before b full join now n using (golden_id))
        select count(*) filter (where was is not null and is_ is not null) as kept,
               count(*) filter (where is_ is null) as vanished,
               count(*) filter (where was is null) as new,
               list(was order by was) filter (where is_ is null and was not in
                                              (select retired_id from golden_build.id_history_new)) as unexplained
        from both_""").row(0, named=True)
    with wh.connect() as con:   # a crosswalk built as a delta: a record can only have moved in it
        changed = delta_table(con, BUILD_TABLES[GOLDEN_CROSSWALK]) or BUILD_TABLES[GOLDEN_CROSSWALK]
        ids["moved"] = con.execute(f"select count(*) from golden.crosswalk p join {changed} c using (record_id) "
                                   "where p.golden_id <> c.golden_id").fetchall()[0][0]
    unexplained = ids["unexplained"] or []
    return dg.AssetCheckResult(
        passed=not unexplained, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"ids_kept": ids["kept"], "ids_retired": ids["vanished"], "ids_new": ids["new"],
                  "records_with_new_id": ids["moved"], "unexplained_ids": dg.MetadataValue.json(unexplained[:10])})


@dg.asset_check(asset=dg.AssetKey(["golden", "review_queue"]), name="review_queue_is_not_growing_unbounded",
                blocking=False,
                description="The steward review queue holds at most 5 % of the records, or grew by at "
                "most half since the last published run.")
def review_queue_is_not_growing_unbounded(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    wh = warehouse.get()
    now = wh.query("select count(*) as n from golden_build.review_queue")["n"][0]
    records = wh.query(f"select count(*) as n from {BUILD_TABLES[GOLDEN_CROSSWALK]}")["n"][0]
    before = (wh.query("select count(*) as n from golden.review_queue")["n"][0]
              if wh.exists("golden.review_queue") else None)
    small = now <= max(50, 0.05 * records)
    steady = before is not None and now <= 1.5 * max(before, 1)
    return dg.AssetCheckResult(
        passed=bool(small or steady), severity=dg.AssetCheckSeverity.WARN,
        metadata={"pending_pairs": int(now), "previous_pending_pairs": int(before) if before is not None else -1,
                  "share_of_records": round(now / records, 4) if records else 0.0})


def asset_checks(config: SourcesConfig) -> list:
    """Every check of a pipeline over the sources of ``config``."""
    return [*load_checks(config), *raw_suite_checks(config), *(mapping_check(s) for s in config.enabled),
            staged_customers_suite, golden_customers_suite, golden_crosswalk_suite,
            source_reconciliation_check(config), golden_ids_are_stable, review_queue_is_not_growing_unbounded]
