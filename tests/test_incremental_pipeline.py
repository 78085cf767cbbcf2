"""An incremental pipeline run after rows were added, edited and deleted at the sources stages and matches
only what changed, and publishes what a --full-rebuild of the same data publishes: the same staged rows,
quality ledger, scored pairs and crosswalk. Run with the chunked engine (CRM_GOLDEN_LARGE_RECORDS lowered),
whose first run is chunked and whose later runs are incremental in memory."""

from __future__ import annotations

import csv
import shutil
import sqlite3

import dagster as dg
import openpyxl
import polars as pl
import pytest

from pipelines.demo import generate
from pipelines.runner import run_pipeline
from pipelines.warehouse import Warehouse

pytestmark = pytest.mark.slow


def partition(wh: Warehouse) -> set[frozenset[str]]:
    cw = wh.read("golden.crosswalk")
    return {frozenset(g) for g in cw.group_by("golden_id").agg("record_id")["record_id"].to_list()}


def table(wh: Warehouse, name: str) -> pl.DataFrame:
    df = wh.read(name).drop(["run_id", "detected_at"], strict=False)
    return df.sort(df.columns, nulls_last=True)


def latest(key: list[str]) -> dict:
    event = dg.DagsterInstance.get().get_latest_materialization_event(dg.AssetKey(key))
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def edit(sources, extra) -> None:
    """New sales rows, an ERP customer moved, one deleted, one sheet row removed from the middle."""
    with open(extra / "sheets" / "sales_contacts.csv", encoding="utf-8-sig", newline="") as fh:
        new_rows = list(csv.reader(fh, delimiter=";"))[1:40]
    with open(sources / "sheets" / "sales_contacts.csv", "a", encoding="utf-8", newline="") as fh:
        csv.writer(fh, delimiter=";", lineterminator="\r\n").writerows(new_rows)
    with sqlite3.connect(sources / "erp.sqlite") as con:
        con.execute("update customers set street = '1 Moved Street', phone = '+49 30 1234567', "
                    "updated_at = '2026-01-01 00:00:00' where customer_no = (select min(customer_no) from customers)")
        con.execute("delete from customers where customer_no = (select max(customer_no) from customers)")
    path = sources / "sheets" / "trade_show_leads.xlsx"
    if not path.exists():
        return
    book = openpyxl.load_workbook(path)
    book.active.delete_rows(5)
    book.save(path)


def test_incremental_run_equals_full_rebuild_in_large_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("CRM_GOLDEN_LARGE_RECORDS", "50")
    a, extra, b = tmp_path / "a", tmp_path / "extra", tmp_path / "b"
    generate(a, entities=150, seed=5, bad_rows=0.05)
    generate(extra, entities=40, seed=6)
    base = run_pipeline(sources=a, warehouse=tmp_path / "base.duckdb")
    assert base.published, base.render()
    assert Warehouse(tmp_path / "base.duckdb").read("matching.run_mode")["mode"][0] == "large"
    shutil.copytree(a, b)
    edit(b, extra)

    def copy(name: str) -> Warehouse:
        shutil.copy(tmp_path / "base.duckdb", tmp_path / f"{name}.duckdb")
        shutil.copytree(tmp_path / "base_dlt_pipelines", tmp_path / f"{name}_dlt_pipelines")
        return Warehouse(tmp_path / f"{name}.duckdb")

    inc, full = copy("inc"), copy("full")
    summary = run_pipeline(sources=b, warehouse=inc.path)
    assert summary.published, summary.render()
    staged, matched = latest(["staging", "customers"]), latest(["matching", "candidate_pairs"])
    summary = run_pipeline(sources=b, warehouse=full.path, full_rebuild=True)
    assert summary.published, summary.render()

    assert staged["staging_mode"] == "incremental"
    assert 0 < staged["rows_staged_this_run"] < staged["dagster/row_count"] / 3
    assert matched["mode"] == "incremental" and 0 < matched["pairs_compared"] < matched["dagster/row_count"] / 3
    assert latest(["staging", "customers"])["staging_mode"] == "full"
    assert full.read("matching.run_mode")["mode"][0] == "large"
    for name in ("staging.customers", "quality.quarantine", "quality.field_issues", "quality.source_deletions",
                 "matching.scored_pairs", "matching.clusters"):
        assert table(inc, name).equals(table(full, name)), name
    assert partition(inc) == partition(full)
    assert inc.read("quality.source_deletions").height >= 2     # the ERP customer and the sheet row
    changed = inc.read("matching.changed_records")
    assert set(changed["change"]) == {"changed", "deleted"} and changed.height < 80
