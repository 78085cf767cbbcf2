"""A keyed SQL table without a cursor loads only its new and changed rows, with the result of a full merge."""

from __future__ import annotations

import sqlite3

from connectors.sql import table_resource
from connectors.sql.unchanged import SkipUnchanged

COLUMNS = "invoice_no, customer_no, invoice_date, amount, currency"


def _source(path) -> str:
    con = sqlite3.connect(path)
    con.execute("create table invoices (invoice_no text primary key, customer_no text, invoice_date text, "
                "amount numeric, currency text)")
    con.executemany("insert into invoices values (?, ?, ?, ?, ?)",
                    [(f"I{i:04d}", f"C{i % 40}", f"2024-0{1 + i % 9}-1{i % 10}", i * 1.25, "EUR" if i % 3 else None)
                     for i in range(1500)])
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def _load(warehouse, url: str, *, skip: bool) -> SkipUnchanged | None:
    resource = table_resource(url, "invoices", key=["invoice_no"], chunk_size=400)
    step = SkipUnchanged(warehouse.path, "raw_erp.invoices", ["invoice_no"]) if skip else None
    if step is not None:
        resource.add_map(step)
    warehouse.pipeline("erp").run(resource)
    return step


def _rows(path) -> set[tuple]:
    con = sqlite3.connect(path)
    rows = set(con.execute("select " + ", ".join(f"cast({c} as text)" for c in COLUMNS.split(", "))
                           + " from invoices").fetchall())
    con.close()
    return rows


def _edit(path) -> int:
    """Edit some rows (some edits set a value the row already had) and add one; how many rows differ."""
    before = _rows(path)
    con = sqlite3.connect(path)
    con.execute("update invoices set amount = amount + 1 where rowid % 100 = 3")
    con.execute("update invoices set currency = null where rowid % 250 = 5")
    con.execute("update invoices set currency = 'USD' where rowid % 250 = 6 and currency is null")
    con.execute("insert into invoices values ('I9999', 'C1', '2024-12-01', '-3.5', 'EUR')")
    con.commit()
    con.close()
    return len(_rows(path) - before)


def test_only_changed_rows_are_merged_and_the_table_equals_a_full_merge(tmp_path):
    from tests.connectors.conftest import Warehouse

    url = _source(tmp_path / "erp.sqlite")
    skipping, merging = Warehouse(tmp_path / "a"), Warehouse(tmp_path / "b")
    first = _load(skipping, url, skip=True)
    _load(merging, url, skip=False)
    assert (first.rows_read, first.rows_skipped) == (1500, 0)  # no raw table yet: every row loaded
    changed = _edit(tmp_path / "erp.sqlite")

    step = _load(skipping, url, skip=True)
    _load(merging, url, skip=False)
    assert step.rows_read == 1501
    assert step.rows_read - step.rows_skipped == changed
    mine = skipping.frame(f"select {COLUMNS} from raw_erp.invoices order by invoice_no")
    full = merging.frame(f"select {COLUMNS} from raw_erp.invoices order by invoice_no")
    assert mine.equals(full)
    loads = skipping.sql("select _dlt_load_id, count(*) from raw_erp.invoices group by all order by 1")
    assert [n for _, n in loads] == [1501 - changed, changed]

    again = _load(skipping, url, skip=True)
    assert (again.rows_read, again.rows_skipped) == (1501, 1501)
    assert skipping.frame(f"select {COLUMNS} from raw_erp.invoices order by invoice_no").equals(full)
