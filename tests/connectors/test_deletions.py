"""Deletion evidence the connectors leave beside the merged raw tables, judged by staging's rules.

Real files and real dlt loads: an ERP SQLite file with a customer deleted, sheet files that shrink,
lose a row in the middle, go blank and disappear, and the shop's key scan over the local API.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import polars as pl

from connectors import ShopServer, erp_source, loaded_rows, sheets_source, shop_source
from pipelines.staging.deletions import (
    FILE_REMOVED,
    KEY_NOT_IN_SOURCE,
    ROW_BEYOND_FILE_END,
    ROW_NOT_IN_FILE,
    key_scan_deletions,
    sheet_deletions,
    without_deleted,
)

from .conftest import Warehouse
from .test_erp import make_tiny_erp, sqlite_url
from .test_shop_source import customer

TOKEN = "shpat_test_token_0123"


def table(wh: Warehouse, name: str) -> pl.DataFrame:
    return wh.frame(f"select * from {name}")


def touch(path: Path, seconds: int = 5) -> None:
    later = path.stat().st_mtime + seconds
    os.utime(path, (later, later))


def test_erp_key_scan_tells_deleted_customers(warehouse: Warehouse, tmp_path):
    db = make_tiny_erp(tmp_path / "erp.sqlite")
    pipeline = warehouse.pipeline("erp")
    pipeline.run(erp_source(sqlite_url(db)))
    first = table(warehouse, "raw_erp.customers_keys")
    assert sorted(first["customer_no"]) == ["C1", "C2", "C3"] and first["scan_load_id"].n_unique() == 1
    with sqlite3.connect(db) as con:
        con.execute("delete from customers where customer_no = 'C2'")
    pipeline.run(erp_source(sqlite_url(db)))
    raw, keys = table(warehouse, "raw_erp.customers"), table(warehouse, "raw_erp.customers_keys")
    assert sorted(raw["customer_no"]) == ["C1", "C2", "C3"]  # merge keeps the deleted row
    assert sorted(keys["customer_no"]) == ["C1", "C3"]
    gone = key_scan_deletions(raw, keys, key="customer_no", source="erp", table="raw_erp.customers")
    assert gone.select("source", "source_record_id", "reason").rows() == [("erp", "C2", KEY_NOT_IN_SOURCE)]
    assert sorted(without_deleted({"erp": raw}, gone)["erp"]["customer_no"]) == ["C1", "C3"]
    # a row read in the scanning load itself is not judged (it was in the source moments ago)
    same_load = raw.with_columns(pl.lit(keys["scan_load_id"][0]).alias("_dlt_load_id"))
    assert key_scan_deletions(same_load, keys, key="customer_no", source="erp", table="t").height == 0
    # no scan, or an empty one, is no evidence
    assert key_scan_deletions(raw, keys.clear(), key="customer_no", source="erp", table="t").height == 0
    assert key_scan_deletions(raw, None, key="customer_no", source="erp", table="t").height == 0


def test_sheet_rows_that_left_their_file(warehouse: Warehouse, tmp_path):
    folder = tmp_path / "sheets"
    folder.mkdir()
    (folder / "a.csv").write_text("name,email\nA1,a1@x.org\nA2,a2@x.org\nA3,a3@x.org\nA4,a4@x.org\n", encoding="utf-8")
    (folder / "b.csv").write_text("name,email\nB1,b1@x.org\nB2,b2@x.org\nB3,b3@x.org\n", encoding="utf-8")
    (folder / "c.csv").write_text("name,email\nC1,c1@x.org\n", encoding="utf-8")
    (folder / "d.csv").write_text("name,email\nD1,d1@x.org\n", encoding="utf-8")
    pipeline = warehouse.pipeline("sheets")
    pipeline.run(sheets_source(str(folder)))
    contacts, inventory = table(warehouse, "raw_sheets.contacts"), table(warehouse, "raw_sheets.file_inventory")
    assert sheet_deletions(contacts, inventory).height == 0
    # a: the last row removed; b: the middle row emptied; c: gone; d: only the header left
    (folder / "a.csv").write_text("name,email\nA1,a1@x.org\nA2,a2@x.org\nA3,a3@x.org\n", encoding="utf-8")
    (folder / "b.csv").write_text("name,email\nB1,b1@x.org\n,\nB3,b3@x.org\n", encoding="utf-8")
    (folder / "c.csv").unlink()
    (folder / "d.csv").write_text("name,email\n", encoding="utf-8")
    for name in ("a.csv", "b.csv", "d.csv"):
        touch(folder / name)
    pipeline.run(sheets_source(str(folder)))
    assert loaded_rows(pipeline) == {"contacts": 5, "file_inventory": 4}
    contacts, inventory = table(warehouse, "raw_sheets.contacts"), table(warehouse, "raw_sheets.file_inventory")
    assert contacts.height == 9  # nothing is removed from the raw table
    assert sorted(inventory.select("file_name", "present", "row_count", "last_row_number").rows()) == [
        ("a.csv", True, 3, 3), ("b.csv", True, 2, 3), ("c.csv", False, 0, 0), ("d.csv", True, 0, 0)]
    gone = sheet_deletions(contacts, inventory)
    assert sorted(gone.select("source", "source_record_id", "reason").rows()) == [
        ("a", "4", ROW_BEYOND_FILE_END), ("b", "2", ROW_NOT_IN_FILE), ("c", "1", FILE_REMOVED),
        ("d", "1", ROW_BEYOND_FILE_END)]
    live = without_deleted({"sheets": contacts}, gone)["sheets"]
    assert sorted(live["full_name"]) == ["A1", "A2", "A3", "B1", "B3"]
    # nothing changed: nothing is read, the inventory and the verdict stay
    pipeline.run(sheets_source(str(folder)))
    assert loaded_rows(pipeline) == {}
    assert sheet_deletions(table(warehouse, "raw_sheets.contacts"),
                           table(warehouse, "raw_sheets.file_inventory")).equals(gone)
    # a file that comes back is read again and its rows are current again
    (folder / "c.csv").write_text("name,email\nC1,c1@x.org\n", encoding="utf-8")
    pipeline.run(sheets_source(str(folder)))
    gone = sheet_deletions(table(warehouse, "raw_sheets.contacts"), table(warehouse, "raw_sheets.file_inventory"))
    assert ("c", "1") not in set(gone.select("source", "source_record_id").rows())


def write_pages(folder: Path, customers: list[list[dict]]) -> Path:
    from .conftest import write_shop_dir

    return write_shop_dir(folder, {"customers": customers, "orders": [[]]})


def test_shop_key_scan_tells_deleted_customers(warehouse: Warehouse, tmp_path):
    pages = [[customer(1, "2024-05-01T12:00:00+08:00"), customer(2, "2024-05-01T13:00:00+08:00")],
             [customer(3, "2024-05-01T14:00:00+08:00")]]
    pipeline = warehouse.pipeline("shop")
    with ShopServer(write_pages(tmp_path / "v1", pages), access_token=TOKEN) as server:
        pipeline.run(shop_source(server.url, TOKEN, key_scan=True))
        scan_requests = [p for p, _ in server.requests if p.endswith("customers.json")]
    assert loaded_rows(pipeline)["customers_keys"] == 3
    assert len(scan_requests) == 4  # two pages for the incremental read, two for the scan
    pages[0] = pages[0][:1]  # customer 2 deleted at the shop
    with ShopServer(write_pages(tmp_path / "v2", pages), access_token=TOKEN) as server:
        pipeline.run(shop_source(server.url, TOKEN))  # no scan: nothing can be told
        raw, keys = table(warehouse, "raw_shop.customers"), table(warehouse, "raw_shop.customers_keys")
        assert key_scan_deletions(raw, keys, key="id", source="shop", table="raw_shop.customers").height == 0
        pipeline.run(shop_source(server.url, TOKEN, key_scan=True))
    raw, keys = table(warehouse, "raw_shop.customers"), table(warehouse, "raw_shop.customers_keys")
    assert sorted(keys["id"]) == [1, 3] and sorted(raw["id"]) == [1, 2, 3]
    gone = key_scan_deletions(raw, keys, key="id", source="shop", table="raw_shop.customers")
    assert gone.select("source_record_id", "reason").rows() == [("2", KEY_NOT_IN_SOURCE)]
    # a scan cut by a page that stays invalid is not written: the table is left empty (no evidence)
    first_page = "customers/page-0001.json"
    with ShopServer(tmp_path / "v2", access_token=TOKEN, truncate_pages={first_page: 0.5}) as server:
        pipeline.run(shop_source(server.url, TOKEN, key_scan=True, on_invalid_page="salvage",
                                 initial_updated_at="2030-01-01T00:00:00+00:00"))
    keys = table(warehouse, "raw_shop.customers_keys")
    assert keys.height == 0
    assert key_scan_deletions(raw, keys, key="id", source="shop", table="raw_shop.customers").height == 0


def test_shop_server_serves_only_the_fields_asked_for(tmp_path):
    import requests

    pages = [[customer(1, "2024-05-01T12:00:00+08:00")], [customer(2, "2024-05-01T13:00:00+08:00")]]
    with ShopServer(write_pages(tmp_path / "shop", pages)) as server:
        first = requests.get(f"{server.url}/admin/api/2024-01/customers.json", params={"fields": "id"}, timeout=10)
        second = requests.get(first.links["next"]["url"], timeout=10)
    assert first.json() == {"customers": [{"id": 1}]} and second.json() == {"customers": [{"id": 2}]}


def test_shop_key_scan_runs_when_due(tmp_path, monkeypatch):
    from connectors.config import demo_layout
    from pipelines.assets.raw import key_scan_due
    from pipelines.warehouse import Warehouse as Wh

    shop = demo_layout(tmp_path).get("shop")

    def shop_key_scan_due(wh, **kw):
        return key_scan_due(shop, wh, **kw)

    wh = Wh(tmp_path / "w.duckdb")
    assert not shop_key_scan_due(wh)  # off by default
    monkeypatch.setenv("SOURCES__SHOP__KEY_SCAN_HOURS", "24")
    assert shop_key_scan_due(wh)  # no scan yet
    wh.write("raw_shop.customers_keys", pl.DataFrame({"id": [1], "scan_load_id": ["1700000000.5"]}))
    assert not shop_key_scan_due(wh, now=1700000000.5 + 23 * 3600)
    assert shop_key_scan_due(wh, now=1700000000.5 + 24 * 3600)
    wh.write("raw_shop.customers_keys", pl.DataFrame(schema={"id": pl.Int64, "scan_load_id": pl.Utf8}))
    assert shop_key_scan_due(wh, now=1700000000.5)  # the last scan was cut short: scan again
