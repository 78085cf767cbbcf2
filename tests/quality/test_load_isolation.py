"""The raw and staging assets on small hand-made sources, run by Dagster in-process: missing source
files isolated and reported, quarantined rows re-admitted after a fix at the source, and a renamed
source column loaded and reported (schema drift)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from dagster_dlt import DagsterDltResource

from connectors.config import demo_layout
from pipelines.assets.matching import MatchingResource
from pipelines.assets.raw import raw_assets
from pipelines.assets.staging import staged_customers_asset
from pipelines.checks import load_checks
from pipelines.resources import SourcesResource, WarehouseResource
from pipelines.warehouse import Warehouse

from .conftest import run_events

ERP_COLUMNS = ("customer_no", "company_name", "contact_name", "street", "postal_code", "city", "country",
               "phone", "email", "vat_id", "created_at", "updated_at")


def materialize(sources: Path, warehouse: Path, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    config = demo_layout(sources)
    return dg.materialize(
        [*raw_assets(config), staged_customers_asset(config), *load_checks(config)],
        resources={"dlt": DagsterDltResource(), "warehouse": WarehouseResource(path=str(warehouse)),
                   "sources": SourcesResource(directory=str(sources)), "matching": MatchingResource()},
        instance=instance,
    )


def erp_row(no: str, name: str | None, email: str | None, phone: str | None, updated: str) -> tuple:
    return (no, None, name, "Hauptstr. 5", "10115", "Berlin", "DE", phone, email, None,
            "2020-01-01 00:00:00", updated)


def write_erp(path: Path) -> None:
    con = sqlite3.connect(path)
    cols = ", ".join(f"{c} TEXT" for c in ERP_COLUMNS)
    con.execute(f"CREATE TABLE customers ({cols.replace('customer_no TEXT', 'customer_no TEXT PRIMARY KEY')})")
    con.execute(f"CREATE TABLE customers_dirty ({cols})")
    con.execute("CREATE TABLE invoices (invoice_no TEXT PRIMARY KEY, customer_no TEXT, invoice_date TEXT, "
                "amount NUMERIC, currency TEXT)")
    rows = [erp_row("C1", "MÜLLER, ANNA", "a.mueller@example.de", "030 1234567", "2024-01-01 10:00:00"),
            erp_row("C2", None, None, None, "2024-01-01 10:00:00"),  # nothing to identify: quarantined
            erp_row("C3", "SCHMIDT, BEN", None, "030 7654321", "2024-01-01 10:00:00")]
    con.executemany(f"INSERT INTO customers VALUES ({', '.join('?' * len(ERP_COLUMNS))})", rows)
    con.execute(f"INSERT INTO customers_dirty VALUES ({', '.join('?' * len(ERP_COLUMNS))})",  # stale copy of C1
                erp_row("C1", "MUELLER, ANNA", "a.mueller@example.de", None, "2019-05-01 10:00:00"))
    con.executemany("INSERT INTO invoices VALUES (?, ?, ?, ?, 'EUR')",
                    [("I1", "C1", "2024-01-02", 120.5), ("I2", "C3", "2024-01-03", -40.0)])
    con.commit()
    con.close()


def write_shop(root: Path) -> None:
    for resource, objects in (
        ("customers", [{"id": 11, "email": "x@example.com", "first_name": "Xia", "last_name": "Li",
                        "created_at": "2024-01-01T00:00:00+08:00", "updated_at": "2024-01-01T00:00:00+08:00"}]),
        ("orders", [{"id": 71, "customer": {"id": 11}, "created_at": "2024-01-01T00:00:00+08:00",
                     "total_price": "10.00"}]),
    ):
        folder = root / "shop" / resource
        folder.mkdir(parents=True)
        (folder / "page-0001.json").write_text(json.dumps({resource: objects, "next_page_info": None}))
        (folder / "_index.json").write_text(json.dumps({"first_page": "page-0001.json"}))


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def test_missing_source_files_fail_alone_and_are_reported(tmp_path, instance):
    sources = tmp_path / "sources"
    write_shop(sources)  # no erp.sqlite, no sheets/ folder
    wh = Warehouse(tmp_path / "warehouse.duckdb")
    result = materialize(sources, wh.path, instance)
    assert result.success
    assert not (sources / "erp.sqlite").exists()  # not created empty by the attempt
    failures = wh.read("quality.load_failures").sort("source")
    assert failures["run_id"].unique().to_list() == [result.run_id]
    erp, sheets = failures.rows(named=True)
    assert erp["source"] == "erp" and erp["error"].startswith("FileNotFoundError: source 'erp': database file ")
    assert str(sources / "erp.sqlite") in erp["error"]
    assert sheets["source"] == "sheets"
    assert sheets["error"] == f"FileNotFoundError: source 'sheets': folder {sources / 'sheets'} not found"
    events = run_events(result.run_id, instance)
    assert not events.check("raw/erp/customers", "erp_loaded_this_run").passed
    assert not events.check("raw/sheets/contacts", "sheets_loaded_this_run").passed
    assert events.check("raw/shop/customers", "shop_loaded_this_run").passed
    assert events.meta("raw/erp/customers")["load_status"] == "failed"
    assert events.meta("raw/erp/customers")["dagster/row_count"] == 0
    assert events.meta("raw/shop/customers")["load_status"] == "loaded"
    # staging ran on what there is: the shop
    assert wh.read("staging.customers")["record_id"].to_list() == ["shop:11"]
    assert events.meta("staging/customers")["missing_sources"] == ["erp", "sheets"]


@pytest.fixture(scope="module")
def erp_runs(tmp_path_factory):
    """Two runs over one ERP: as written, then after fixes at the source and a new column (an unmapped
    column renamed at the source arrives the same way; a renamed mapped column stops the source:
    tests/quality/test_renamed_columns.py)."""
    root = tmp_path_factory.mktemp("erp_runs")
    sources = root / "sources"
    write_shop(sources)
    (sources / "sheets").mkdir()
    write_erp(sources / "erp.sqlite")
    wh = Warehouse(root / "warehouse.duckdb")
    with dg.instance_for_test() as inst:
        first = materialize(sources, wh.path, inst)
        q1, staged1 = wh.read("quality.quarantine"), wh.read("staging.customers")
        con = sqlite3.connect(sources / "erp.sqlite")
        con.execute("ALTER TABLE customers ADD COLUMN segment TEXT")
        con.execute("UPDATE customers SET contact_name = 'KRAUSE, CARLA', email = 'c.krause@example.de', "
                    "segment = 'retail', updated_at = '2024-03-01 09:00:00' WHERE customer_no = 'C2'")
        con.execute("DELETE FROM customers_dirty")
        con.commit()
        con.close()
        second = materialize(sources, wh.path, inst)
        events = run_events(second.run_id, inst)
    return wh, (first, q1, staged1), (second, events)


def test_quarantine_on_the_first_run(erp_runs):
    _, (first, q1, staged1), _ = erp_runs
    assert first.success
    assert sorted(q1.select("source", "source_record_id", "rule", "field", "raw_value").iter_rows()) == [
        ("erp", "C1", "duplicate_primary_key", "source_record_id", "C1"),
        ("erp", "C2", "no_identity", "name", None),
        ("erp_invoices", "I2", "negative_amount", "amount", "-40"),
    ]
    assert set(q1["run_id"]) == {first.run_id}
    assert sorted(staged1["record_id"]) == ["erp:C1", "erp:C3", "shop:11"]
    c1 = staged1.filter(pl.col("record_id") == "erp:C1").row(0, named=True)
    assert c1["phone"] == "+49301234567"  # the current row won, not the stale copy without a phone


def test_fixed_rows_are_readmitted(erp_runs):
    wh, _, (second, _) = erp_runs
    assert second.success
    # C2 got a name and the stale copy of C1 was deleted at the source: both left quarantine; the
    # negative invoice was not touched and stays (in-place invoice edits need a full refresh)
    q = wh.read("quality.quarantine")
    assert q.select("source", "source_record_id", "rule").rows() == [("erp_invoices", "I2", "negative_amount")]
    assert set(q["run_id"]) == {second.run_id}
    staged = wh.read("staging.customers")
    assert sorted(staged["record_id"]) == ["erp:C1", "erp:C2", "erp:C3", "shop:11"]
    assert staged.filter(pl.col("record_id") == "erp:C2")["surname"].to_list() == ["Krause"]


def test_new_column_is_loaded_and_reported(erp_runs):
    wh, _, (second, events) = erp_runs
    changes = wh.read("quality.schema_changes")
    assert sorted(changes.select("run_id", "source", "table_name", "column_name", "change").rows()) == [
        (second.run_id, "erp", "raw_erp.customers", "segment", "added")]
    assert events.meta("raw/erp/customers")["schema_changes"] == {"added_columns": ["segment"]}
    raw = wh.query("select customer_no, email, segment from raw_erp.customers order by customer_no")
    # C2 was re-read after the change: the new column arrived with it, nothing dropped
    assert raw.filter(pl.col("customer_no") == "C2").select("email", "segment").row(0) == (
        "c.krause@example.de", "retail")
    assert raw.filter(pl.col("customer_no") == "C1")["email"].to_list() == ["a.mueller@example.de"]
