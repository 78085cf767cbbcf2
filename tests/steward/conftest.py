"""A small hand-made warehouse for the review app's fast tests: the tables the app reads, with
known e-mails and phones so the tests can look for them where they must not be."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

EMAILS = ["anna.berg@example.org", "a.berg@example.org", "jon.miller@example.net", "jmiller@example.net",
          "kim.lee@example.com"]
PHONES = ["+49 30 1234567", "+49 30 1234567", "+44 20 7946 0011", "+44 20 7946 0999", "+1 415 555 0100"]


def build_tiny_warehouse(path: Path) -> Path:
    """Five staged records, three golden customers, three queued pairs (one merged now)."""
    records = pl.DataFrame({
        "record_id": ["erp:1", "shop:2", "erp:3", "shop:4", "sheet:5"],
        "source": ["erp", "shop", "erp", "shop", "sheet"],
        "source_record_id": ["1", "2", "3", "4", "5"],
        "given_name": ["Anna", "Anna", "Jon", "John", "Kim"],
        "surname": ["Berg", "Berg", "Miller", "Miller", "Lee"],
        "full_name": ["Anna Berg", "Anna Berg", "Jon Miller", "John Miller", "Kim Lee"],
        "email": EMAILS, "phone": PHONES,
        "city": ["Berlin", "Berlin", "London", "London", "San Francisco"],
        "country": ["DE", "DE", "GB", "GB", "US"],
    })
    crosswalk = pl.DataFrame({"record_id": records["record_id"], "source": records["source"],
                              "golden_id": ["GC-a", "GC-a", "GC-b", "GC-c", "GC-d"]})
    queue = pl.DataFrame({
        "id_l": ["erp:1", "erp:3", "erp:1"], "id_r": ["shop:2", "shop:4", "sheet:5"],
        "match_probability": [0.86, 0.72, 0.55], "match_weight": [2.6, 1.4, 0.3],
        "rule": ["email", "name_city", "phone"],
        "bf_name": [3.0, 2.5, -4.0], "gamma_name": [3, 2, 0],
        "bf_email": [1.0, -3.0, 5.0], "gamma_email": [2, 0, 3],
        "golden_id_l": ["GC-a", "GC-b", "GC-a"], "golden_id_r": ["GC-a", "GC-c", "GC-d"],
        "merged": [True, False, False],
    })
    customers = pl.DataFrame({"golden_id": ["GC-a", "GC-b", "GC-c", "GC-d"],
                              "full_name": ["Anna Berg", "Jon Miller", "John Miller", "Kim Lee"],
                              "email": [EMAILS[0], EMAILS[2], EMAILS[3], EMAILS[4]]})
    lineage = pl.DataFrame({"golden_id": ["GC-a", "GC-a"], "field": ["full_name", "email"],
                            "record_id": ["erp:1", "erp:1"]})
    con = duckdb.connect(str(path))
    try:
        for schema in ("staging", "golden"):
            con.execute(f"create schema {schema}")
        for name, df in (("staging.customers", records), ("golden.crosswalk", crosswalk),
                         ("golden.review_queue", queue), ("golden.customers", customers),
                         ("golden.customer_lineage", lineage)):
            con.register("f", df.to_arrow())
            con.execute(f"create table {name} as select * from f")
            con.unregister("f")
    finally:
        con.close()
    return path


@pytest.fixture
def tiny_warehouse(tmp_path) -> Path:
    return build_tiny_warehouse(tmp_path / "warehouse.duckdb")
