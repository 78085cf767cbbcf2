"""The golden build and its publish as plain functions: each ``golden_build`` table is written as
soon as it is finished and its frame dropped, the per-customer part in groups of clusters.

Every table is written in its own transaction: nobody reads ``golden_build`` but the checks that
run after the build, and publishing (:func:`publish_tables`, renames: :mod:`pipelines.publish.swap`)
is the one transaction readers see. A build that fails half-way leaves ``golden_build``
incomplete and nothing published.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import polars as pl

from dedupe.canonical import GOLDEN_FIELDS, RECORD_ID
from dedupe.golden.history import update_history
from dedupe.golden.records import BUILD_COLUMNS, cluster_digests, golden_chunks, plan_golden, without_clusters
from dedupe.golden.survivorship import SurvivorshipRules, cluster_local
from pipelines.assets import golden_reuse
from pipelines.customer360 import (
    IDENTITY_FIELDS,
    INVOICE_COLUMNS,
    ORDER_COLUMNS,
    SEEN_FIELDS,
    Customer360Config,
    customer_360,
    merge_lists,
    purchase_rows,
)
from pipelines.privacy import masked_tables
from pipelines.privacy.views import email_hashes
from pipelines.progress import mark
from pipelines.publish.swap import BUILD_SCHEMA, discard_build, publish_built, write_built, write_delta
from pipelines.staging.mapping import resolve_column
from pipelines.warehouse import Warehouse, kept_open, publish_read_copy, read_copy_update, utc_frame

SCHEMA = BUILD_SCHEMA
#: records per group of clusters the survivorship pick runs on (``CRM_GOLDEN_GOLDEN_CHUNK``)
DEFAULT_CHUNK_RECORDS = 200_000


@dataclass
class BuildSummary:
    """What the build wrote: row counts per table and the figures the assets report."""

    rows: dict[str, int] = field(default_factory=dict)
    id_stats: dict[str, int] = field(default_factory=dict)
    history_stats: dict[str, int] = field(default_factory=dict)
    by_source: dict[str, int] = field(default_factory=dict)
    multi_source_customers: int = 0
    rfm_segments: dict[str, int] = field(default_factory=dict)
    lifecycle: dict[str, int] = field(default_factory=dict)
    merge_list_rows: dict[str, int] = field(default_factory=dict)
    reused_customers: int = 0
    """Golden customers whose rows were taken from the last build (members unchanged)."""


def write_table(con: duckdb.DuckDBPyConnection, table: str, df: pl.DataFrame, *, append: bool = False) -> int:
    """Create (or replace) build table ``table`` with ``df``, or append ``df`` to it; returns the
    rows written (:func:`pipelines.publish.swap.write_built`)."""
    return write_built(con, table, df, append=append)


def build_tables(wh: Warehouse, *, rules: SurvivorshipRules, review_band: tuple[float, float],
                 c360_config: Customer360Config, sources_config, hash_key: bytes, at: datetime,
                 chunk_records: int | None = DEFAULT_CHUNK_RECORDS) -> BuildSummary:
    """Build every ``golden_build`` table from ``staging.customers`` and ``matching.clusters``."""
    # reads that need nothing the build computes run in a thread beside it (polars and DuckDB let go of
    # the GIL): the last published ids, the purchases customer_360 sums and the review band's pairs. Both
    # threads take cursors of one open database (two opens of a file in one process conflict)
    with kept_open(wh.path), ThreadPoolExecutor(1) as pool:
        last = pool.submit(lambda: (wh.read_if_exists("golden.crosswalk"), wh.read_if_exists("golden.id_registry")))
        bought = pool.submit(lambda: purchase_rows(*purchases(wh, sources_config), config=c360_config))
        in_band = pool.submit(_pairs_in_band, wh, review_band)
        return _build(wh, rules=rules, review_band=review_band, c360_config=c360_config, hash_key=hash_key, at=at,
                      chunk_records=chunk_records, last=last, bought=bought, in_band=in_band)


def _build(wh: Warehouse, *, rules: SurvivorshipRules, review_band: tuple[float, float],
           c360_config: Customer360Config, hash_key: bytes, at: datetime, chunk_records: int | None,
           last: Future, bought: Future, in_band: Future) -> BuildSummary:
    out = BuildSummary()
    staged = wh.read("staging.customers", columns=_staged_columns(wh, rules))
    clusters = wh.read("matching.clusters", columns=[RECORD_ID, "cluster_id"])
    previous, registry = last.result()   # the last published crosswalk and id registry
    with wh.connect() as con:
        discard_build(con)
    mark("read")
    plan = plan_golden(staged, clusters, rules=rules, previous_crosswalk=previous, registry=registry, at=at)
    del staged, clusters, previous, registry
    out.id_stats = plan.ids.stats
    mark("plan")
    crosswalk = plan.crosswalk
    with wh.connect() as con:
        out.rows[f"{SCHEMA}.id_registry"] = write_table(con, f"{SCHEMA}.id_registry", plan.ids.registry)
        out.rows[f"{SCHEMA}.id_history_new"] = write_table(con, f"{SCHEMA}.id_history_new", plan.ids.retired)
    out.by_source = dict(crosswalk.group_by("source").len().sort("source").iter_rows())
    out.multi_source_customers = crosswalk.group_by("golden_id").len().filter(pl.col("len") > 1).height
    plan.ids.registry = plan.ids.retired = None
    mark("write_crosswalk")

    customers_table, lineage_table = f"{SCHEMA}.customers", f"{SCHEMA}.customer_lineage"
    masked_table = f"{SCHEMA}.customers_masked"
    digests, fingerprint = cluster_digests(plan), golden_reuse.fingerprint(plan, hash_key)
    reuse, previous_build = (golden_reuse.reusable_ids(wh, digests, fingerprint)
                             if cluster_local(plan.rules) else (pl.Series("golden_id", [], pl.Utf8), None))
    state = golden_reuse.state_frame(digests, fingerprint, kept=reuse, previous_build=previous_build, at=at)
    del digests
    # with customers kept, the tables keyed by golden id are built as deltas: the picked customers'
    # rows, the published rows of the others staying in place (pipelines.publish.swap.write_delta)
    delta = not reuse.is_empty()
    todo, parts, rows = without_clusters(plan, reuse), [], 0
    del plan
    kept = pl.col("golden_id").is_in(reuse.implode())
    with wh.connect() as con:   # lineage (about ten rows per customer) written group by group
        out.rows[golden_reuse.STATE] = write_table(con, golden_reuse.STATE, state)
        del state
        xw = f"{SCHEMA}.crosswalk"   # a kept customer has the same members: the same crosswalk rows
        out.rows[xw] = (write_delta(con, xw, crosswalk.filter(~kept), published="golden.crosswalk",
                                    kept_by=golden_reuse.STATE) if delta else write_table(con, xw, crosswalk))
        if todo.members.height or not delta:
            for customers, lineage in golden_chunks(todo, chunk_records):
                if delta:
                    rows = write_delta(con, lineage_table, lineage, published="golden.customer_lineage",
                                       kept_by=golden_reuse.STATE, append=bool(parts))
                else:
                    rows += write_table(con, lineage_table, lineage, append=bool(parts))
                parts.append(customers)
                del lineage
        del todo
        if delta and not parts:
            rows = write_delta(con, lineage_table, None, published="golden.customer_lineage",
                               kept_by=golden_reuse.STATE)
        reused, published = pl.DataFrame(), []
        if delta:   # only what customer_360 reads of the kept customers: their rows stay where they are
            rel = golden_reuse.register_ids(con, reuse)
            published = [c for (c,) in con.execute("select column_name from duckdb_columns() where schema_name = "
                                                   "'golden' and table_name = 'customers' order by column_index")
                         .fetchall()]
            wanted = {"golden_id", *IDENTITY_FIELDS, *SEEN_FIELDS}
            reused = golden_reuse.reused_rows(con, "golden.customers", rel, columns=[c for c in published if c in wanted])
            con.unregister(rel)
    out.rows[lineage_table], out.reused_customers = rows, reuse.len()
    new = pl.concat(parts, rechunk=False) if parts else None
    del parts
    fields = [f for f in GOLDEN_FIELDS if f in (new.columns if new is not None else published)]
    customers = golden_reuse.stacked(new, reused)   # customer_360's input: every customer
    known = None
    if customers.width:   # one table each: appending group by group costs twice as much
        fresh = masked_tables({customers_table: new}, key=hash_key)[masked_table] if new is not None else None
        with wh.connect() as con:
            if delta:
                for table, df in ((customers_table, new), (masked_table, fresh)):
                    out.rows[table] = write_delta(con, table, df, published=f"golden.{table.partition('.')[2]}",
                                                  kept_by=golden_reuse.STATE)
            else:
                out.rows[customers_table] = write_table(con, customers_table, customers)
                out.rows[masked_table] = write_table(con, masked_table, fresh)
        if fresh is not None:
            known = email_hashes(new, fresh)   # the same golden e-mails in customer_360: hashed once
        del fresh, reused
    else:
        out.rows[customers_table] = out.rows[masked_table] = 0
    mark("survivorship")

    review = review_queue(in_band.result(), crosswalk, review_band,
                          decided=wh.read_if_exists("golden.steward_decisions"))
    # a kept customer's merge-list rows and history versions are the published ones
    sources = sorted(crosswalk["source"].drop_nulls().unique().to_list())
    by_customer = delta and all(wh.exists(f"golden.merge_list_{s}") for s in sources)
    lists = merge_lists(crosswalk.filter(~kept) if by_customer else crosswalk)
    with wh.connect() as con:
        out.rows[f"{SCHEMA}.review_queue"] = write_table(con, f"{SCHEMA}.review_queue", review)
        for src in sources:
            table = f"{SCHEMA}.merge_list_{src}"
            out.rows[table] = (write_delta(con, table, lists.get(src), published=f"golden.merge_list_{src}",
                                           kept_by=golden_reuse.STATE) if by_customer
                               else write_table(con, table, lists[src]))
            out.merge_list_rows[src] = out.rows[table]
    del review, lists
    mark("review_and_merge_lists")

    history_table = f"{SCHEMA}.customers_history"
    if not delta or not wh.exists("golden.customers_history"):
        history, out.history_stats = update_history(wh.read_if_exists("golden.customers_history"), customers,
                                                    at=at, fields=fields)
        with wh.connect() as con:
            out.rows[history_table] = write_table(con, history_table, history)
    else:   # only the versions of the customers picked again (and of retired ids) can change
        with wh.connect() as con:
            rel = golden_reuse.register_ids(con, reuse)
            last = utc_frame(con.sql(f"select * from golden.customers_history where golden_id not in "
                                     f"(select golden_id from {rel})").pl())
            unchanged = con.execute(f"select count(*) from golden.customers_history where is_current and "
                                    f"golden_id in (select golden_id from {rel})").fetchall()[0][0]
            con.unregister(rel)
        mine = new.sort("golden_id") if new is not None else last.select("golden_id", *fields).clear()
        history, out.history_stats = update_history(last, mine, at=at, fields=fields)
        out.history_stats["unchanged"] += unchanged
        with wh.connect() as con:
            out.rows[history_table] = write_delta(con, history_table, history, published="golden.customers_history",
                                                  kept_by=golden_reuse.STATE)
    del history, new
    mark("history")

    c360 = customer_360(customers, crosswalk, config=c360_config, purchases=bought.result())
    del customers, crosswalk
    out.rfm_segments = dict(c360.group_by("rfm_segment").len().sort("rfm_segment").iter_rows())
    out.lifecycle = dict(c360.group_by("lifecycle_status").len().sort("lifecycle_status").iter_rows())
    c360_table = f"{SCHEMA}.customer_360"
    # the rows of customer_360 that equal the published ones stay (most: RFM scores move at the edges)
    c360_state = golden_reuse.row_state(wh, c360, fingerprint, published="golden.customer_360",
                                        state=golden_reuse.PUBLISHED_C360_STATE, keep=delta)
    changed = c360.join(c360_state.filter("kept").select("golden_id"), on="golden_id", how="anti")
    masked = masked_tables({c360_table: changed}, key=hash_key, known=known)
    del known
    with wh.connect() as con:
        out.rows[golden_reuse.C360_STATE] = write_table(con, golden_reuse.C360_STATE, c360_state)
        for table, df in ((c360_table, changed), *masked.items()):
            out.rows[table] = (write_delta(con, table, df, published=f"golden.{table.partition('.')[2]}",
                                           kept_by=golden_reuse.C360_STATE)
                               if c360_state["kept"].any() else write_table(con, table, df))
    mark("customer_360")
    return out


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


def publish_tables(wh: Warehouse, *, append: Mapping[str, str], merge_list_dir) -> dict:
    """Publish the build (one transaction), then the column comments, the BI read copy and the
    merge-list CSV files; returns the published tables with their row counts, the comments set,
    the read copy and the files written."""
    from pipelines.publish import write_merge_lists
    from pipelines.schema_docs import apply_duckdb_comments

    with wh.connect() as con:
        published = [t for t in publish_built(con, append=append)
                     if not t.partition(".")[2].startswith("_")]   # internal state: not for readers
    mark("swap_tables")
    with wh.connect() as con:
        comments = apply_duckdb_comments(con, tables=list(dict.fromkeys([*published, *append])))
        counts = {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in published}
    mark("column_comments")
    read_copy = publish_read_copy(wh.path)
    mark("read_copy")
    # in a stable order (a table updated by customer keeps no order of its own)
    lists = {t.split("merge_list_", 1)[1]: wh.query(f"select * from {t} order by golden_id, source_record_id")
             for t in published if ".merge_list_" in t}
    files = write_merge_lists(lists, merge_list_dir)
    mark("merge_list_files")
    return {"tables": counts, "comments": comments, "read_copy": read_copy, "merge_list_files": files,
            "read_copy_update": read_copy_update(wh.path)}


def _staged_columns(wh: Warehouse, rules: SurvivorshipRules) -> list[str]:
    """The staged columns the build reads: the golden fields and record keys; with a custom
    survivorship rule every column but the ``raw_*`` copies (a custom rule may read any)."""
    cols = wh.query("select column_name from information_schema.columns where table_schema = 'staging' "
                    "and table_name = 'customers' order by ordinal_position")["column_name"].to_list()
    custom = any(callable(rule) for rule in rules.fields.values())
    wanted = set(GOLDEN_FIELDS) | set(BUILD_COLUMNS)
    return [c for c in cols if (not c.startswith("raw_") if custom else c in wanted)]


def _pairs_in_band(wh: Warehouse, band: tuple[float, float]) -> pl.DataFrame:
    """Only the scored pairs in the review band (a few percent of them), filtered in DuckDB."""
    lo, hi = band
    return wh.query("select * from matching.scored_pairs where match_probability >= ? and match_probability < ?",
                    [float(lo), float(hi)])


def purchases(wh: Warehouse, config) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every configured source's orders and invoices, in the column layout customer_360 reads (plus
    ``source``, the crosswalk source their customer references belong to); empty when none is
    loaded. Only the mapped columns are read."""
    layouts: Mapping[str, list[str]] = {"order": ORDER_COLUMNS, "invoice": INVOICE_COLUMNS}
    frames: dict[str, list[pl.DataFrame]] = {"order": [], "invoice": []}
    for spec in config.enabled:
        p = spec.purchases
        table = spec.raw(spec.purchases_table) if p is not None else None
        if p is None or not wh.exists(table):
            continue
        columns = _column_names(wh, table)
        key = resolve_column(columns, p.fields["id"].columns[0]) if p.fields["id"].columns else None
        target = layouts[p.kind]
        picked: dict[str, str | None] = {}
        for name, column in zip(("id", "customer", "date", "amount", "currency"), target, strict=True):
            fmap = p.fields.get(name)
            picked[column] = resolve_column(columns, fmap.columns[0]) if fmap is not None and fmap.columns else None
        raw = wh.read(table, columns=list(dict.fromkeys(c for c in [key, *picked.values()] if c is not None)))
        quarantined = _quarantined_ids(wh, f"{spec.name}_{spec.purchases_table}")
        if quarantined is not None and key is not None:  # a quarantined invoice counts nowhere
            raw = raw.filter(~pl.col(key).cast(pl.Utf8).str.strip_chars().is_in(quarantined.implode()))
        exprs = [pl.lit(spec.name).alias("source"), pl.lit(table).alias("table_name")]
        for name, column in zip(("id", "customer", "date", "amount", "currency"), target, strict=True):
            fmap = p.fields.get(name)
            found = picked[column]
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


def _column_names(wh: Warehouse, table: str) -> list[str]:
    schema, _, name = table.partition(".")
    return wh.query("select column_name from information_schema.columns where table_schema = ? and table_name = ? "
                    "order by ordinal_position", [schema, name])["column_name"].to_list()


def _quarantined_ids(wh: Warehouse, source: str) -> pl.Series | None:
    """Ids of ``source``'s rows in ``quality.quarantine`` (purchases: ``<source>_<table>``)."""
    if not wh.exists("quality.quarantine"):
        return None
    return wh.query("select source_record_id from quality.quarantine where source = ?", [source])[
        "source_record_id"]
