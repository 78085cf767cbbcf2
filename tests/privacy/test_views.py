"""Masked tables for analysts, PostgreSQL grants (bi_reader masked only, bi_full everything) and
erasure in the PostgreSQL copy."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import polars as pl
import psycopg
import pytest

from pipelines.privacy import (
    FULL_BI_TABLES,
    MASKED_BI_VIEWS,
    erase,
    grant_bi_access,
    mask_customers,
    masked_tables,
    publish_masked,
)
from pipelines.privacy.keys import purpose_key
from pipelines.privacy.views import email_hashes
from pipelines.publish import publish_postgres
from pipelines.warehouse import Warehouse

UTC = dt.UTC
PII = ["Wei", "张", "Anna", "O'Brien", "zw@qq.com", "Anna.OBrien@Example.co.uk", "+8613800138000",
       "+442071234567", "南山区科技路88号", "1 Main St", "DE123456789"]


def golden() -> pl.DataFrame:
    return pl.DataFrame({
        "golden_id": ["GC-1", "GC-2", "GC-3"],
        "given_name": ["Wei", "Anna", None], "surname": ["张", "O'Brien", "Müller"],
        "full_name": ["张 Wei", "Anna O'Brien", "Müller"],
        "email": ["zw@qq.com", "Anna.OBrien@Example.co.uk", None],
        "phone": ["+8613800138000", "+442071234567", None],
        "street": ["南山区科技路88号", "1 Main St", "Hauptstr. 5"],
        "postal_code": ["518057", "SW1A 1AA", "10115"], "city": ["深圳", "London", "Berlin"],
        "country": ["CN", "GB", "DE"], "company_name": [None, "Acme Ltd", "Müller GmbH"],
        "vat_id": [None, None, "DE123456789"], "source_count": [2, 1, 1],
        "first_seen": [dt.datetime(2020, 1, 2, 3, 4, tzinfo=UTC)] * 3,
    })


def test_masked_customers_allow_counting_not_contacting():
    key = b"k" * 32
    m = mask_customers(golden(), key=key)
    assert m.columns == ["golden_id", "email_hash", "email_domain", "phone_masked", "postal_district", "city",
                         "country", "company_name", "has_vat_id", "source_count", "first_seen"]
    text = " ".join(str(v) for row in m.rows() for v in row)
    leaked = [v for v in PII if v in text]
    assert leaked == []
    sub = purpose_key(key, "masked:email")
    assert m["email_hash"][1] == hmac.new(sub, b"anna.obrien@example.co.uk", hashlib.sha256).hexdigest()
    assert m["email_hash"][2] is None
    assert m["email_domain"].to_list() == ["qq.com", "example.co.uk", None]
    assert m["phone_masked"].to_list() == ["+86 *** ** 00", "+44 *** ** 67", None]
    assert m["postal_district"].to_list() == ["51", "SW1A", "10"]
    assert m["has_vat_id"].to_list() == [False, False, True]
    assert m["first_seen"].dtype == pl.Date
    # same key, same hash (stable across runs); another key, another hash
    assert mask_customers(golden(), key=key)["email_hash"].equals(m["email_hash"])
    assert mask_customers(golden(), key=b"x" * 32)["email_hash"][0] != m["email_hash"][0]


def test_known_email_hashes_are_reused_and_the_rest_computed():
    key = b"k" * 32
    first = golden().head(1)
    known = email_hashes(first, mask_customers(first, key=key))
    assert known.height == 1
    # a wrong hash in ``known`` shows it is the one used; e-mails not in it are hashed as usual
    planted = known.with_columns(email_hash=pl.lit("from-known"))
    m = mask_customers(golden(), key=key, known=planted)
    plain = mask_customers(golden(), key=key)
    assert m["email_hash"].to_list() == ["from-known", plain["email_hash"][1], None]
    assert mask_customers(golden(), key=key, known=known).equals(plain)
    twice = pl.concat([known, email_hashes(golden(), plain)])   # hashes gathered from several tables
    assert mask_customers(golden(), key=key, known=twice).equals(plain)


def test_unknown_personal_columns_are_dropped():
    df = golden().with_columns(raw_email=pl.col("email"), mobile=pl.col("phone"), notes=pl.lit("call Anna"))
    m = mask_customers(df, key=b"k")
    assert not {"raw_email", "mobile", "notes"} & set(m.columns)


def test_publish_masked_in_duckdb(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.write_many({"golden.customers": golden(), "golden.customer_360": golden().select("golden_id", "email", "full_name")})
    assert publish_masked(wh) == {"golden.customers_masked": 3, "golden.customer_360_masked": 3}
    c360 = wh.read("golden.customer_360_masked")
    assert c360.columns == ["golden_id", "email_hash", "email_domain"]
    assert c360["email_hash"].to_list() == wh.read("golden.customers_masked")["email_hash"].to_list()


def _select_as(url: str, role: str, table: str) -> int | str:
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f'SET ROLE "{role}"')
        try:
            return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        except psycopg.errors.InsufficientPrivilege:
            return "denied"


def test_postgres_bi_reader_sees_masked_tables_only(pg_url):
    frames = {"golden.customers": golden(), "golden.customer_360": golden().select("golden_id", "email", "surname"),
              "golden.crosswalk": pl.DataFrame({"source": ["erp"], "source_record_id": ["C1"],
                                                "record_id": ["erp:C1"], "golden_id": ["GC-1"]})}
    for _ in range(2):  # a republish drops and re-creates the tables: grants must be set again
        tables = {**frames, **masked_tables(frames, key=b"k")}
        publish_postgres(tables, pg_url, bi_views=MASKED_BI_VIEWS)
        result = grant_bi_access(pg_url)
        assert sorted(result["masked"]) == sorted(MASKED_BI_VIEWS) and result["missing"] == []
        for table in MASKED_BI_VIEWS:
            assert _select_as(pg_url, "bi_reader", table) == 3
        for table in ("golden.customers", "golden.customer_360", "golden.crosswalk"):
            assert _select_as(pg_url, "bi_reader", table) == "denied"
        for table in FULL_BI_TABLES:
            assert isinstance(_select_as(pg_url, "bi_full", table), int)
    with psycopg.connect(pg_url) as con:
        cols = [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE "
                                          "table_schema = 'golden' AND table_name = 'customers_masked'")]
        values = " ".join(str(v) for row in con.execute("SELECT * FROM golden.customers_masked") for v in row)
    assert "email" not in cols and "street" not in cols
    assert [v for v in PII if v in values] == []


def test_default_bi_views_would_expose_contact_data(pg_url):
    """Why the lead must pass ``bi_views=MASKED_BI_VIEWS``: grant_bi_access also revokes."""
    frames = {"golden.customers": golden()}
    publish_postgres({**frames, **masked_tables(frames, key=b"k")}, pg_url)  # default bi_views
    assert _select_as(pg_url, "bi_reader", "golden.customers") == 3
    assert grant_bi_access(pg_url)["revoked"] == ["golden.customers"]
    assert _select_as(pg_url, "bi_reader", "golden.customers") == "denied"


def test_erasure_reaches_the_postgres_copy(wh_copy, pg_url):
    names = ["golden.customers", "golden.crosswalk", "golden.customer_360", "golden.customer_lineage",
             "golden.customers_history", "golden.review_queue", "staging.customers", "quality.field_issues",
             "raw_erp.customers", "raw_erp.invoices", "raw_shop.customers", "raw_shop.orders",
             "raw_shop.orders__line_items", "raw_sheets.contacts"]
    frames = {t: wh_copy.read(t) for t in names if wh_copy.exists(t)}
    publish_postgres(frames, pg_url)
    cw = frames["golden.crosswalk"]
    gid = cw.group_by("golden_id").len().sort(["len", "golden_id"], descending=[True, False])["golden_id"][0]
    record_ids = cw.filter(pl.col("golden_id") == gid)["record_id"].to_list()
    assert any(r.startswith("erp:") for r in record_ids) or any(r.startswith("shop:") for r in record_ids)

    report = erase(wh_copy, golden_id=gid, postgres_url=pg_url)

    assert report.postgres_error is None and report.complete
    assert report.postgres["golden.customers"] == 1
    assert report.postgres["staging.customers"] == len(record_ids)
    with psycopg.connect(pg_url) as con:
        for table in frames:
            cols = [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE "
                                              "table_schema = %s AND table_name = %s", table.split("."))]
            if "golden_id" in cols:
                assert con.execute(f"SELECT count(*) FROM {table} WHERE golden_id = %s", [gid]).fetchone()[0] == 0
            if "record_id" in cols:
                assert con.execute(f"SELECT count(*) FROM {table} WHERE record_id = ANY(%s)",
                                   [record_ids]).fetchone()[0] == 0
        erp = [r.split(":", 1)[1] for r in record_ids if r.startswith("erp:")]
        shop = [int(r.split(":", 1)[1]) for r in record_ids if r.startswith("shop:")]
        assert con.execute("SELECT count(*) FROM raw_erp.customers WHERE customer_no = ANY(%s)", [erp]).fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM raw_shop.customers WHERE id = ANY(%s)", [shop]).fetchone()[0] == 0
        total = con.execute("SELECT count(*) FROM golden.customers").fetchone()[0]
    assert total == frames["golden.customers"].height - 1


def test_unreachable_postgres_stops_the_erasure_before_it_starts(wh_copy):
    gid = wh_copy.read("golden.customers")["golden_id"][0]
    with pytest.raises(Exception, match=r"postgresql://u:\*\*\*@127\.0\.0\.1:9/db") as err:
        erase(wh_copy, golden_id=gid, postgres_url="postgresql://u:pw-Secret1@127.0.0.1:9/db")
    assert "pw-Secret1" not in str(err.value)
    assert wh_copy.query("select count(*) as n from golden.customers where golden_id = ?", [gid])["n"][0] == 1
