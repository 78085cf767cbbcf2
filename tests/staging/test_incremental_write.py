"""The staging step on a warehouse: an incremental staging (the changed keys' rows deleted and inserted)
leaves the same tables as a full one, a failed one leaves them as they were, and golden records do not
depend on the row order that leaves in staging.customers."""

from __future__ import annotations

import shutil
import sqlite3
import types
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from connectors.config import demo_layout
from dedupe.golden.records import golden_rows, plan_golden
from pipelines.assets import staging
from pipelines.demo import generate
from pipelines.staging import incremental as inc
from pipelines.warehouse import Warehouse

from .conftest import shop_frame

TABLES = ("staging.customers", inc.ROW_DIGESTS, inc.STATE_QUARANTINE, inc.STATE_FIELD_ISSUES,
          "quality.quarantine", "quality.field_issues", "quality.source_deletions")


def context(run_id: str):
    log = types.SimpleNamespace(info=lambda _: None, warning=lambda _: None, error=lambda _: None)
    return types.SimpleNamespace(run=types.SimpleNamespace(run_id=run_id), log=log)


def load_raw(wh: Warehouse, erp: dict[str, pl.DataFrame], shop: pl.DataFrame) -> None:
    """The raw tables as the loads leave them (the sheets source is not loaded: left out of staging)."""
    wh.write_many({"raw_erp.customers": erp["customers"], "raw_erp.customers_dirty": erp["customers_dirty"],
                   "raw_shop.customers": shop})


def content(wh: Warehouse, table: str) -> pl.DataFrame:
    df = wh.read(table).drop(["run_id", "detected_at"], strict=False)
    return df.sort(df.columns, nulls_last=True)


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> tuple[Path, dict[str, pl.DataFrame], pl.DataFrame]:
    root = tmp_path_factory.mktemp("incremental_write")
    generate(root, entities=80, seed=3, bad_rows=0.05)
    with sqlite3.connect(root / "erp.sqlite") as con:
        erp = {t: pl.read_database(f"select * from {t}", con) for t in ("customers", "customers_dirty")}
    ids = erp["customers"]["customer_no"]
    # a/b/yyyy dates all readable either way (read day-first) and a date after the run's time
    erp["customers"] = erp["customers"].with_columns(
        created_at=pl.when(pl.col("customer_no").is_in(ids[:3].implode())).then(pl.lit("03/04/2020"))
        .otherwise("created_at"),
        updated_at=pl.when(pl.col("customer_no") == ids[3]).then(pl.lit("2099-01-01 00:00:00"))
        .otherwise("updated_at"))
    return root, erp, shop_frame(root)


def edited(erp: dict[str, pl.DataFrame], shop: pl.DataFrame) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """A street moved, a customer deleted, one added, a stale duplicate of a key, a month-first date
    (every a/b/yyyy date of the ERP is read again), a shop e-mail changed and a shop customer gone."""
    c = erp["customers"]
    ids = c["customer_no"]
    c = c.with_columns(
        street=pl.when(pl.col("customer_no") == ids[10]).then(pl.lit("1 Moved Street")).otherwise("street"),
        created_at=pl.when(pl.col("customer_no") == ids[11]).then(pl.lit("12/25/2019")).otherwise("created_at"),
    ).filter(pl.col("customer_no") != ids[12])
    new = c.head(1).with_columns(customer_no=pl.lit("C999999"), email=pl.lit("new.person@example.com"))
    dirty = pl.concat([erp["customers_dirty"], c.filter(pl.col("customer_no") == ids[20])
                       .with_columns(updated_at=pl.lit("2001-01-01 00:00:00"))])
    shop_ids = shop["id"]
    shop = shop.with_columns(email=pl.when(pl.col("id") == shop_ids[0]).then(pl.lit("changed@example.com"))
                             .otherwise("email")).filter(pl.col("id") != shop_ids[1])
    return {"customers": pl.concat([c, new]), "customers_dirty": dirty}, shop


@pytest.fixture()
def staged_once(tmp_path, sources) -> tuple[Warehouse, Path]:
    """A warehouse staged once (full), then the sources edited and loaded again."""
    root, erp, shop = sources
    wh = Warehouse(tmp_path / "wh.duckdb")
    load_raw(wh, erp, shop)
    assert staging._stage(context("first"), wh, demo_layout(root)).metadata["staging_mode"] == "full"
    load_raw(wh, *edited(erp, shop))
    return wh, root


def test_incremental_staging_writes_what_a_full_one_writes(tmp_path, staged_once):
    wh, root = staged_once
    full = Warehouse(tmp_path / "full.duckdb")
    shutil.copy(wh.path, full.path)
    meta = staging._stage(context("second"), wh, demo_layout(root)).metadata
    assert staging._stage(context("second"), full, demo_layout(root), full_rebuild=True).metadata[
        "staging_mode"] == "full"
    assert meta["staging_mode"] == "incremental"
    # the ERP's date order turned: all its rows staged again; of the shop only the changed customer
    erp_rows = sum(wh.read(t).height for t in ("raw_erp.customers", "raw_erp.customers_dirty"))
    assert meta["rows_staged_this_run"] == erp_rows + 1
    assert meta["records_kept_from_last_staging"] > 0
    for table in TABLES:
        assert content(wh, table).equals(content(full, table)), table
    staged = wh.read("staging.customers")
    assert "erp:C999999" in staged["record_id"].to_list()
    assert staged.filter(pl.col("street") == "1 Moved Street").height == 1
    # the month-first date turned every a/b/yyyy date of the ERP: read again, now as March 4
    assert staged.filter(pl.col("raw_name").is_not_null() & (pl.col("created_at").dt.month() == 3)
                         & (pl.col("created_at").dt.day() == 4)).height >= 3
    # a staging with nothing changed stages only the keys with a time-dependent issue
    again = staging._stage(context("third"), wh, demo_layout(root)).metadata
    assert again["staging_mode"] == "incremental" and again["rows_staged_this_run"] == 1
    for table in TABLES:
        assert content(wh, table).equals(content(full, table)), table


def test_a_failed_incremental_staging_leaves_every_table_as_it_was(staged_once, monkeypatch):
    wh, root = staged_once
    before = {t: content(wh, t) for t in TABLES}
    # the last statement of the transaction fails: every delete, insert and table written before it
    # is rolled back
    monkeypatch.setattr(staging, "CARD_COLUMNS", ("no_such_column",))
    with pytest.raises(Exception, match="no_such_column"):
        staging._stage(context("second"), wh, demo_layout(root))
    for table in TABLES:
        assert content(wh, table).equals(before[table]), table
    assert wh.read(inc.STATE)["run_id"].to_list() == ["first"]


def test_golden_records_do_not_depend_on_the_staged_row_order(tmp_path, staged_once):
    """An incremental staging appends the changed keys' rows to staging.customers (a full one writes
    them in record_id order): what the golden build makes of them must not depend on it."""
    wh, root = staged_once
    staging._stage(context("second"), wh, demo_layout(root))
    staged = wh.read("staging.customers")
    # clusters of several records: one per e-mail (else per record), as matching might make them
    clusters = staged.select("record_id", pl.coalesce("email", "record_id").alias("cluster_id"))
    assert clusters["cluster_id"].n_unique() < staged.height
    at = datetime(2026, 1, 1, tzinfo=UTC)
    results = []
    for order in (staged.sort("record_id"), staged, staged.sample(fraction=1.0, shuffle=True, seed=7),
                  staged.reverse()):
        plan = plan_golden(order, clusters, at=at)
        customers, lineage = golden_rows(plan)
        results.append((plan.crosswalk, plan.ids.registry, customers, lineage))
    for result in results[1:]:
        for got, want in zip(result, results[0], strict=True):
            assert got.equals(want)
