"""ERP source against real SQLite files: raw text values, merge without duplicates, dirty rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from connectors import erp_source, loaded_rows
from connectors.erp.helpers import select_as_text

from .conftest import Warehouse, truth_counts


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def sqlite_rows(path: Path, query: str) -> list[tuple]:
    with sqlite3.connect(path) as con:
        return con.execute(query).fetchall()


@pytest.fixture(scope="module")
def erp_loaded(synth_2k, module_warehouse):
    """The 2k ERP loaded twice (with the dirty union); row counts of both runs."""
    pipeline = module_warehouse.pipeline("erp")
    runs = []
    for _ in range(2):
        pipeline.run(erp_source(sqlite_url(synth_2k / "erp.sqlite"), include_dirty=True))
        runs.append(loaded_rows(pipeline))
    return module_warehouse, runs


def test_all_customers_and_invoices_load_once(erp_loaded, synth_2k):
    wh, (first, second) = erp_loaded
    db = synth_2k / "erp.sqlite"
    n_customers = truth_counts(synth_2k)["erp"]
    [(n_invoices,)] = sqlite_rows(db, "select count(*) from invoices")
    assert first["customers"] == n_customers
    assert first["invoices"] == n_invoices
    # nothing changed in SQLite: the second run reads past the cursors and loads no key again
    assert "customers" not in second and "invoices" not in second
    # the key scan is replaced every run with the current keys
    assert first["customers_keys"] == second["customers_keys"] == n_customers
    assert wh.sql("select count(*), count(distinct customer_no) from raw_erp.customers") == [
        (n_customers, n_customers)
    ]
    assert wh.sql("select count(*), count(distinct invoice_no) from raw_erp.invoices") == [
        (n_invoices, n_invoices)
    ]


def test_values_are_the_text_sqlite_stores(erp_loaded, synth_2k):
    wh, _ = erp_loaded
    db = synth_2k / "erp.sqlite"
    types = wh.column_types("raw_erp", "invoices")
    assert {types[c] for c in ("invoice_no", "invoice_date", "amount", "currency")} == {"VARCHAR"}
    assert set(wh.column_types("raw_erp", "customers").values()) == {"VARCHAR"}
    expected = dict(sqlite_rows(db, "select invoice_no, cast(amount as text) from invoices"))
    loaded = dict(wh.sql("select invoice_no, amount from raw_erp.invoices"))
    assert loaded == expected
    assert any("." not in v for v in loaded.values())  # integers stay integers ("105", not "105.0")
    stored = set(sqlite_rows(db, "select customer_no, created_at, updated_at, phone, email from customers"))
    assert set(wh.sql("select customer_no, created_at, updated_at, phone, email from raw_erp.customers")) == stored


def test_dirty_union_keeps_duplicate_keys(erp_loaded, synth_2k):
    wh, (first, second) = erp_loaded
    db = synth_2k / "erp.sqlite"
    [(n_clean,)] = sqlite_rows(db, "select count(*) from customers")
    [(n_dirty,)] = sqlite_rows(db, "select count(*) from customers_dirty")
    assert n_dirty > 0
    # replace, not append: the second run leaves the same rows
    assert first["customers_dirty"] == second["customers_dirty"] == n_clean + n_dirty
    [(rows, keys, dirty)] = wh.sql(
        "select count(*), count(distinct customer_no), count(*) filter (source_table = 'customers_dirty')"
        " from raw_erp.customers_dirty"
    )
    assert (rows, keys, dirty) == (n_clean + n_dirty, n_clean, n_dirty)


def make_tiny_erp(path: Path) -> Path:
    with sqlite3.connect(path) as con:
        con.executescript(
            """
            create table customers (customer_no text primary key, contact_name text, city text,
                                    created_at text, updated_at text);
            create table invoices (invoice_no text primary key, customer_no text, invoice_date text,
                                   amount numeric, currency text);
            insert into customers values
              ('C1', 'DOE, JANE', 'Leeds', '2020-01-01 10:00:00', '2020-01-01 10:00:00'),
              ('C2', 'Roe, Rick', 'Lyon', '2020-02-01 10:00:00', '2020-03-01 09:00:00'),
              ('C3', 'Poe, Pam', 'Köln', '2020-02-05 10:00:00', null);
            insert into invoices values ('I1', 'C1', '2020-01-02', 10.50, 'GBP'),
                                        ('I2', 'C2', '2020-03-02', 7, 'EUR');
            """
        )
    return path


def test_changed_row_is_merged_not_duplicated(warehouse: Warehouse, tmp_path):
    db = make_tiny_erp(tmp_path / "erp.sqlite")
    pipeline = warehouse.pipeline("erp")
    pipeline.run(erp_source(sqlite_url(db)))
    assert loaded_rows(pipeline) == {"customers": 3, "customers_keys": 3, "invoices": 2}
    with sqlite3.connect(db) as con:
        con.execute("update customers set city = 'York', updated_at = '2021-05-05 08:00:00' where customer_no = 'C1'")
        con.execute("insert into customers values ('C4', 'Li, Na', '深圳', '2021-06-01 00:00:00', '2021-06-01 00:00:00')")
        con.execute("insert into invoices values ('I3', 'C4', '2021-06-02', 99.9, 'CNY')")
    pipeline.run(erp_source(sqlite_url(db)))
    # C1 changed, C4 is new, C3 has no updated_at so it is read every time (and merged)
    # invoices: I2 sits on the date cursor and is recognised by its key, so only I3 loads
    assert loaded_rows(pipeline) == {"customers": 3, "customers_keys": 4, "invoices": 1}
    rows = warehouse.sql("select customer_no, city, updated_at from raw_erp.customers order by 1")
    assert rows == [
        ("C1", "York", "2021-05-05 08:00:00"),
        ("C2", "Lyon", "2020-03-01 09:00:00"),
        ("C3", "Köln", None),
        ("C4", "深圳", "2021-06-01 00:00:00"),
    ]
    assert warehouse.sql("select invoice_no, amount from raw_erp.invoices order by 1") == [
        ("I1", "10.5"), ("I2", "7"), ("I3", "99.9"),
    ]


def test_credentials_come_from_configuration(warehouse: Warehouse, tmp_path, monkeypatch):
    db = make_tiny_erp(tmp_path / "erp.sqlite")
    monkeypatch.setenv("SOURCES__ERP__CREDENTIALS", sqlite_url(db))
    monkeypatch.setenv("SOURCES__ERP__INCLUDE_DIRTY", "true")
    pipeline = warehouse.pipeline("erp")
    pipeline.run(erp_source())
    # customers_dirty does not exist here: the union holds the clean rows only
    assert loaded_rows(pipeline) == {"customers": 3, "customers_dirty": 3, "customers_keys": 3, "invoices": 2}


def test_missing_table_is_named(warehouse: Warehouse, tmp_path):
    db = make_tiny_erp(tmp_path / "erp.sqlite")
    with pytest.raises(Exception) as info:
        warehouse.pipeline("erp").run(erp_source(sqlite_url(db), tables=("customers", "kunden")))
    assert "kunden" in str(info.value)


def test_text_cast_compiles_for_other_databases():
    meta = sa.MetaData()
    table = sa.Table("invoices", meta, sa.Column("invoice_no", sa.String), sa.Column("amount", sa.Numeric(12, 2)))
    query = select_as_text(table.select().where(table.c.amount > 0).order_by(table.c.invoice_no), table)
    pg = str(query.compile(dialect=postgresql.dialect()))
    my = str(query.compile(dialect=mysql.dialect()))
    assert "CAST(invoices.amount AS TEXT) AS amount" in pg and "WHERE invoices.amount >" in pg
    assert "CAST(invoices.amount AS CHAR) AS amount" in my and "ORDER BY invoices.invoice_no" in my
