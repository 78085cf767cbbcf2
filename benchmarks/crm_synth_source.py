"""Read a crm_synth dataset (../shared/bench/crm_synth.py) into one table with the canonical
customer columns, values as the sources wrote them (the matching engine normalises).

Stand-in for the staging layer so the engine can be measured on its own; record ids use the
truth's source names (``erp``, ``shop``, ``leads_xlsx``, ``sales_csv``, ``legacy_csv``) so a
clustering can be scored by ``score.py`` directly. Every source is read in batches, so the cached
Parquet of a 10M-entity dataset (about 17M records) is built in bounded memory.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

COLUMNS = ["record_id", "source", "source_record_id", "given_name", "surname", "full_name", "company_name",
           "email", "phone", "street", "postal_code", "city", "country", "vat_id"]


def _finish(df: pl.DataFrame, source: str) -> pl.DataFrame:
    df = df.with_columns(source=pl.lit(source), source_record_id=pl.col("source_record_id").cast(pl.Utf8))
    df = df.with_columns(record_id=pl.concat_str([pl.lit(source + ":"), pl.col("source_record_id")]))
    return df.select([(pl.col(c) if c in df.columns else pl.lit(None)).cast(pl.Utf8).alias(c) for c in COLUMNS])


BATCH_ROWS = 500_000


def iter_erp(path: Path, batch_rows: int = BATCH_ROWS) -> Iterator[pl.DataFrame]:
    cols = ["source_record_id", "company_name", "full_name", "street", "postal_code", "city", "country",
            "phone", "email", "vat_id"]
    con = sqlite3.connect(path)
    try:
        cur = con.execute("SELECT customer_no, company_name, contact_name, street, postal_code, city, country, "
                          "phone, email, vat_id FROM customers")
        first = True
        while (rows := cur.fetchmany(batch_rows)) or first:
            first = False
            yield _finish(pl.DataFrame(rows, schema=dict.fromkeys(cols, pl.Utf8), orient="row"), "erp")
    finally:
        con.close()


def read_erp(path: Path) -> pl.DataFrame:
    return pl.concat(iter_erp(path))


_SHOP_SCHEMA = {"id": pl.Int64, "first_name": pl.Utf8, "last_name": pl.Utf8, "email": pl.Utf8, "phone": pl.Utf8,
                "default_address": pl.Struct({"address1": pl.Utf8, "zip": pl.Utf8, "city": pl.Utf8,
                                              "country_code": pl.Utf8, "company": pl.Utf8})}


def iter_shop(path: Path, batch_rows: int = BATCH_ROWS) -> Iterator[pl.DataFrame]:
    with open(path, "rb") as fh:
        first = True
        while (lines := list(islice(fh, batch_rows))) or first:
            first = False
            df = pl.read_ndjson(io.BytesIO(b"".join(lines)), schema=_SHOP_SCHEMA) if lines else \
                pl.DataFrame(schema=_SHOP_SCHEMA)
            yield _shop_columns(df)


def read_shop(path: Path) -> pl.DataFrame:
    return pl.concat(iter_shop(path))


def _shop_columns(df: pl.DataFrame) -> pl.DataFrame:
    addr = pl.col("default_address")
    df = df.select(
        source_record_id=pl.col("id").cast(pl.Utf8), given_name="first_name", surname="last_name",
        email="email", phone="phone",
        street=addr.struct.field("address1"), postal_code=addr.struct.field("zip"),
        city=addr.struct.field("city"), country=addr.struct.field("country_code"),
        company_name=addr.struct.field("company"))
    return _finish(df, "shop")


def iter_leads(path: Path, batch_rows: int = BATCH_ROWS) -> Iterator[pl.DataFrame]:
    import openpyxl

    schema = dict.fromkeys(["source_record_id", "full_name", "company_name", "email", "phone", "city", "country"],
                           pl.Utf8)
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        rows: list[tuple] = []
        n = 0
        for ws in wb.worksheets:
            it = ws.iter_rows(values_only=True)
            next(it, None)
            for r in it:
                n += 1
                rows.append((str(n), *(None if v is None else str(v) for v in r[:6])))
                if len(rows) == batch_rows:
                    yield _finish(pl.DataFrame(rows, schema=schema, orient="row"), "leads_xlsx")
                    rows = []
        if rows or n == 0:
            yield _finish(pl.DataFrame(rows, schema=schema, orient="row"), "leads_xlsx")
    finally:
        wb.close()


def read_leads(path: Path) -> pl.DataFrame:
    return pl.concat(iter_leads(path))


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


def iter_crm_synth(root: str | Path, batch_rows: int = BATCH_ROWS) -> Iterator[pl.DataFrame]:
    """The records source by source (ERP, shop, leads, sales, legacy), in batches of at most
    ``batch_rows`` for the large sources."""
    root = Path(root)
    yield from iter_erp(root / "erp.sqlite", batch_rows)
    yield from iter_shop(root / "shop" / "customers.jsonl", batch_rows)
    yield from iter_leads(root / "sheets" / "trade_show_leads.xlsx", batch_rows)
    yield read_sales(root / "sheets" / "sales_contacts.csv")
    if (root / "sheets" / "legacy_export.csv").exists():
        yield read_legacy(root / "sheets" / "legacy_export.csv")


def canonical_records(root: str | Path, batch_rows: int = BATCH_ROWS) -> Path:
    """Path of the cached canonical records of a dataset, written batch by batch when missing
    (memory stays bounded by one batch, whatever the dataset size)."""
    root = Path(root)
    cached = root / "canonical_records.parquet"
    if cached.exists():
        return cached
    tmp = cached.with_suffix(".parquet.tmp")
    writer = None
    try:
        for batch in iter_crm_synth(root, batch_rows):
            table = batch.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=100_000)
    finally:
        if writer is not None:
            writer.close()
    tmp.replace(cached)
    return cached


def load_crm_synth(root: str | Path, *, cache: bool = True) -> pl.DataFrame:
    """All customer records of a crm_synth dataset, one row each (cached as Parquet in ``root``)."""
    if cache:
        return pl.read_parquet(canonical_records(root))
    return pl.concat(iter_crm_synth(root))


def crosswalk(clusters: pl.DataFrame, *, uid: str = "record_id") -> pl.DataFrame:
    """``source, source_record_id, golden_id`` for score.py from an engine clustering."""
    return clusters.select(
        source=pl.col(uid).str.extract(r"^([^:]*):", 1),
        source_record_id=pl.col(uid).str.extract(r"^[^:]*:(.*)$", 1),
        golden_id=pl.col("cluster_id"))
