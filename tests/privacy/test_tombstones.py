"""Tombstones: hashing key, suppression in staging, the load filter and the lifting rule."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import dlt
import duckdb
import polars as pl
import pytest

from pipelines.privacy import (
    KEY_ENV,
    PrivacyError,
    current_source_keys,
    drop_erased,
    filter_erased_on_load,
    hash_key,
    lift_tombstones,
    read_tombstones,
    suppressed,
)
from pipelines.privacy.tombstones import TOMBSTONE_SCHEMA, email_hashes, record_hashes, write_tombstones
from pipelines.warehouse import Warehouse


def tombstone(wh: Warehouse, *, records=(), emails=(), erasure_id="ER-1") -> pl.DataFrame:
    key = hash_key(wh)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    recs = pl.DataFrame({"source": [s for s, _ in records], "source_record_id": [r for _, r in records]},
                        schema={"source": pl.Utf8, "source_record_id": pl.Utf8})
    rows = pl.concat([
        recs.select(identifier_hash=record_hashes(recs["source"], recs["source_record_id"], key=key),
                    kind=pl.lit("source_record"), source="source", source_record_id="source_record_id"),
        pl.DataFrame({"identifier_hash": email_hashes(pl.Series(list(emails), dtype=pl.Utf8), key=key)}).select(
            "identifier_hash", kind=pl.lit("email"), source=pl.lit(None, pl.Utf8),
            source_record_id=pl.lit(None, pl.Utf8)),
    ]).with_columns(erasure_id=pl.lit(erasure_id), erased_at=pl.lit(now), reason=pl.lit("test")).cast(TOMBSTONE_SCHEMA)
    with wh.connect() as con:
        write_tombstones(con, rows)
    return rows


@pytest.fixture
def wh(tmp_path) -> Warehouse:
    return Warehouse(tmp_path / "w.duckdb")


def staged() -> pl.DataFrame:
    return pl.DataFrame({
        "source": ["erp", "erp", "shop", "sales_contacts", "shop"],
        "source_record_id": ["C1", "C2", "7300000000001", "4", "7300000000002"],
        "email": ["anna@example.com", None, "BOB@Example.com ", None, "carl@example.com"],
        "raw_email": [None, None, None, "Bob@example.com", None],
    })


def test_suppressed_matches_record_ids_and_normalised_emails(wh):
    tombs = tombstone(wh, records=[("erp", "C1")], emails=["bob@example.com"])
    kept, dropped = suppressed(staged(), tombs, hash_key(wh))
    assert sorted(dropped["source_record_id"]) == ["4", "7300000000001", "C1"]
    assert sorted(kept["source_record_id"]) == ["7300000000002", "C2"]
    # the same id in another source is someone else
    other = staged().with_columns(source=pl.lit("shop"))
    assert "C1" in suppressed(other, tombs, hash_key(wh))[0]["source_record_id"].to_list()


def test_tombstones_hold_no_identifier_in_clear(wh):
    tombstone(wh, records=[("erp", "C1")], emails=["bob@example.com"])
    raw = wh.path.read_bytes().lower()
    assert b"bob@example.com" not in raw
    assert read_tombstones(wh)["identifier_hash"].str.len_chars().to_list() == [64, 64]


def test_drop_erased_removes_a_record_from_every_staging_frame(wh):
    untouched, n = drop_erased(wh, {"c": staged()})  # no tombstones yet
    assert n == 0 and untouched["c"].equals(staged())
    tombstone(wh, emails=["anna@example.com"])
    quarantine = pl.DataFrame({"source": ["erp", "erp"], "source_record_id": ["C1", "C2"],
                               "rule": ["x", "y"], "raw_value": ["v", "w"]})
    frames, n = drop_erased(wh, {"customers": staged(), "quarantine": quarantine, "other": pl.DataFrame({"a": [1]})})
    assert n == 1
    assert "C1" not in frames["customers"]["source_record_id"].to_list()
    assert frames["quarantine"]["source_record_id"].to_list() == ["C2"]  # matched by e-mail elsewhere
    assert frames["other"].height == 1


def test_key_from_environment_must_not_change(wh, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "first-secret")
    tombs = tombstone(wh, records=[("erp", "C1")])
    assert hash_key(wh) == b"first-secret"
    assert "first-secret" not in wh.read("privacy.settings")["value"].to_list()
    monkeypatch.setenv(KEY_ENV, "another-secret")
    with pytest.raises(PrivacyError, match="not the key this warehouse") as err:
        hash_key(wh)
    assert "secret" not in str(err.value)
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(PrivacyError, match=f"set {KEY_ENV}"):
        hash_key(wh)
    monkeypatch.setenv(KEY_ENV, "first-secret")
    assert suppressed(staged(), tombs, hash_key(wh))[1].height == 1


def test_generated_key_is_stable_per_warehouse(tmp_path):
    a, b = Warehouse(tmp_path / "a.duckdb"), Warehouse(tmp_path / "b.duckdb")
    assert hash_key(a, create=False) is None
    assert not a.path.exists()
    ka = hash_key(a)
    assert hash_key(a) == ka and len(ka) == 32
    assert hash_key(b) != ka


def test_lifting_follows_the_source_listing(wh):
    tombstone(wh, records=[("erp", "C1"), ("shop", "7300000000001")], emails=["anna@example.com"], erasure_id="ER-a")
    tombstone(wh, records=[("erp", "C7")], emails=["zed@example.com"], erasure_id="ER-b")
    listing = pl.DataFrame({"source": ["erp", "erp"], "source_record_id": ["C2", "C7"]})
    # erp no longer has C1; shop is not listed, so its tombstone stays, and so does ER-a's e-mail
    assert lift_tombstones(wh, listing, sources=["erp"]) == {"source_record": 1, "email": 0}
    left = read_tombstones(wh)
    assert sorted(left.filter(pl.col("kind") == "source_record")["source_record_id"]) == ["7300000000001", "C7"]
    # now the shop has dropped it too: ER-a is gone entirely, ER-b untouched
    shop = pl.DataFrame({"source": ["shop"], "source_record_id": ["7300000000009"]})
    assert lift_tombstones(wh, shop, sources=["shop"]) == {"source_record": 1, "email": 1}
    assert read_tombstones(wh)["erasure_id"].unique().to_list() == ["ER-b"]


def test_current_source_keys_reads_erp_and_shop(tmp_path):
    from pipelines.demo import generate

    counts = generate(tmp_path / "src", entities=12, seed=5)
    keys, systems = current_source_keys(tmp_path / "src")
    assert systems == ["erp", "shop"]
    assert keys.filter(pl.col("source") == "erp").height == counts["erp"]
    assert keys.filter(pl.col("source") == "shop").height == counts["shop"]
    assert keys["source_record_id"].str.contains(r"^(C\d+|\d{13})$").all()


def test_load_filter_keeps_tombstoned_erp_rows_out_of_raw(tmp_path, wh):
    from connectors.config import parse_config
    from connectors.config.build import build_source

    db = tmp_path / "erp.sqlite"
    con = sqlite3.connect(db)
    con.execute("create table customers (customer_no text primary key, contact_name text, email text, "
                "updated_at text)")
    con.execute("create table invoices (invoice_no text primary key, customer_no text, invoice_date text, "
                "amount text, currency text)")
    con.executemany("insert into customers values (?, ?, ?, ?)", [
        ("C1", "DOE, Jane", "jane@example.com", "2024-01-01 00:00:00"),
        ("C2", "ROE, Rick", "rick@example.com", "2024-01-02 00:00:00"),
        ("C3", "POE, Pat", "PAT@example.com", "2024-01-03 00:00:00")])
    con.executemany("insert into invoices values (?, ?, ?, ?, ?)", [
        ("I1", "C1", "2024-02-01", "10", "EUR"), ("I2", "C2", "2024-02-02", "20", "EUR")])
    con.commit()
    con.close()
    tombstone(wh, records=[("erp", "C1")], emails=["pat@example.com"])
    spec = parse_config({"sources": [{
        "name": "erp", "kind": "sql", "url": f"sqlite:///{db}", "table": "customers", "id": "customer_no",
        "cursor": "updated_at", "fields": {"full_name": "contact_name", "email": "email"},
        "purchases": {"table": "invoices", "id": "invoice_no", "customer": "customer_no", "amount": "amount"}}]}).get("erp")
    target = tmp_path / "raw.duckdb"
    pipeline = dlt.pipeline("privacy_filter_test", destination=dlt.destinations.duckdb(str(target)),
                            dataset_name="raw_erp", pipelines_dir=str(tmp_path / "dlt"))
    with build_source(spec) as source:  # rows arrive as Arrow tables: the filters work on those
        assert filter_erased_on_load(source, spec, wh) == 3   # customers, invoices, customers_keys
        pipeline.run(source)
    out = duckdb.connect(str(target), read_only=True)
    try:
        assert out.execute("select customer_no from raw_erp.customers").fetchall() == [("C2",)]
        assert out.execute("select invoice_no from raw_erp.invoices").fetchall() == [("I2",)]
        # the key scan drops the erased record too (C3 is erased by e-mail, which a key scan cannot see)
        assert out.execute("select customer_no from raw_erp.customers_keys order by 1").fetchall() == [("C2",), ("C3",)]
    finally:
        out.close()
