"""Read a crm_synth dataset (../shared/bench/crm_synth.py) into one table with the canonical
customer columns, values as the sources wrote them (the matching engine normalises).

Stand-in for the staging layer so the engine can be measured on its own; record ids use the
truth's source names (``erp``, ``shop``, ``leads_xlsx``, ``sales_csv``, ``legacy_csv``) so a
clustering can be scored by ``score.py`` directly.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import polars as pl

COLUMNS = ["record_id", "source", "source_record_id", "given_name", "surname", "full_name", "company_name",
           "email", "phone", "street", "postal_code", "city", "country", "vat_id"]


def _finish(df: pl.DataFrame, source: str) -> pl.DataFrame:
    df = df.with_columns(source=pl.lit(source), source_record_id=pl.col("source_record_id").cast(pl.Utf8))
    df = df.with_columns(record_id=pl.concat_str([pl.lit(source + ":"), pl.col("source_record_id")]))
    return df.select([(pl.col(c) if c in df.columns else pl.lit(None)).cast(pl.Utf8).alias(c) for c in COLUMNS])


def read_erp(path: Path) -> pl.DataFrame:
    con = sqlite3.connect(path)
    try:
        cur = con.execute("SELECT customer_no, company_name, contact_name, street, postal_code, city, country, "
                          "phone, email, vat_id FROM customers")
        rows = cur.fetchall()
    finally:
        con.close()
    cols = ["source_record_id", "company_name", "full_name", "street", "postal_code", "city", "country",
            "phone", "email", "vat_id"]
    df = pl.DataFrame(rows, schema=dict.fromkeys(cols, pl.Utf8), orient="row")
    return _finish(df, "erp")


def read_shop(path: Path) -> pl.DataFrame:
    df = pl.read_ndjson(path, infer_schema_length=None)
    addr = pl.col("default_address")
    df = df.select(
        source_record_id=pl.col("id").cast(pl.Utf8), given_name="first_name", surname="last_name",
        email="email", phone="phone",
        street=addr.struct.field("address1"), postal_code=addr.struct.field("zip"),
        city=addr.struct.field("city"), country=addr.struct.field("country_code"),
        company_name=addr.struct.field("company"))
    return _finish(df, "shop")


def read_leads(path: Path) -> pl.DataFrame:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True)
    rows = []
    n = 0
    for ws in wb.worksheets:
        it = ws.iter_rows(values_only=True)
        next(it, None)
        for r in it:
            n += 1
            rows.append((str(n), *(None if v is None else str(v) for v in r[:6])))
    wb.close()
    df = pl.DataFrame(rows, schema=dict.fromkeys(
        ["source_record_id", "full_name", "company_name", "email", "phone", "city", "country"], pl.Utf8), orient="row")
    return _finish(df, "leads_xlsx")


def read_sales(path: Path) -> pl.DataFrame:
    df = pl.read_csv(path, separator=";", infer_schema=False, encoding="utf8-lossy")
    df = df.rename({df.columns[0]: df.columns[0].lstrip("\ufeff")})
    df = df.with_row_index("source_record_id", offset=1).select(
        pl.col("source_record_id"), full_name="full_name", company_name="company", email="email",
        phone="phone", city="city")
    return _finish(df, "sales_csv")


def read_legacy(path: Path) -> pl.DataFrame:
    text = path.read_bytes().decode("gbk", errors="replace")
    df = pl.read_csv(text.encode("utf-8"), infer_schema=False)
    df = df.with_row_index("source_record_id", offset=1).select(
        pl.col("source_record_id"), full_name="NAME", email="EMAIL", phone="PHONE", city="CITY", country="COUNTRY")
    return _finish(df, "legacy_csv")


def load_crm_synth(root: str | Path, *, cache: bool = True) -> pl.DataFrame:
    """All customer records of a crm_synth dataset, one row each (cached as Parquet in ``root``)."""
    root = Path(root)
    cached = root / "canonical_records.parquet"
    if cache and cached.exists():
        return pl.read_parquet(cached)
    parts = [read_erp(root / "erp.sqlite"), read_shop(root / "shop" / "customers.jsonl"),
             read_leads(root / "sheets" / "trade_show_leads.xlsx"), read_sales(root / "sheets" / "sales_contacts.csv")]
    if (root / "sheets" / "legacy_export.csv").exists():
        parts.append(read_legacy(root / "sheets" / "legacy_export.csv"))
    df = pl.concat(parts)
    if cache:
        df.write_parquet(cached)
    return df


def crosswalk(clusters: pl.DataFrame, *, uid: str = "record_id") -> pl.DataFrame:
    """``source, source_record_id, golden_id`` for score.py from an engine clustering."""
    return clusters.select(
        source=pl.col(uid).str.extract(r"^([^:]*):", 1),
        source_record_id=pl.col(uid).str.extract(r"^[^:]*:(.*)$", 1),
        golden_id=pl.col("cluster_id"))
