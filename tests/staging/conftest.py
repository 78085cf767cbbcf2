"""Raw source frames built from a generated dataset the way the connectors deliver them."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sqlite3
from pathlib import Path

import openpyxl
import polars as pl
import pytest

LEADS_HEADERS = {"Name": "full_name", "Company": "company_name", "E-mail": "email", "Tel": "phone",
                 "City": "city", "Country": "country", "Notes": "notes", "Date": "last_activity"}
SALES_HEADERS = {"full_name": "full_name", "company": "company_name", "email": "email", "phone": "phone",
                 "city": "city", "last_contacted": "last_activity"}
LEGACY_HEADERS = {"NAME": "full_name", "EMAIL": "email", "PHONE": "phone", "CITY": "city",
                  "COUNTRY": "country", "LAST_ORDER": "last_activity"}


def erp_frame(root: Path) -> pl.DataFrame:
    """``customers`` UNION ALL ``customers_dirty`` (the raw table with duplicate keys), all text."""
    with sqlite3.connect(root / "erp.sqlite") as con:
        cur = con.execute("SELECT * FROM customers UNION ALL SELECT * FROM customers_dirty")
        cols = [d[0] for d in cur.description]
        rows = cur.fetchall()
    return pl.DataFrame(rows, schema=dict.fromkeys(cols, pl.Utf8), orient="row")


def _flatten(obj: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in obj.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}__"))
        else:
            out[f"{prefix}{key}"] = value
    return out


def shop_frame(root: Path, *, typed_timestamps: bool = False) -> pl.DataFrame:
    """Shop customers flattened like dlt (``default_address__city``); all-null columns dropped."""
    lines = (root / "shop" / "customers.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [_flatten(json.loads(line)) for line in lines if line.strip()]
    df = pl.DataFrame(rows, infer_schema_length=None)
    df = df.select([c for c in df.columns if df[c].null_count() < df.height])
    if typed_timestamps:  # dlt loads parseable ISO values as timestamptz, the rest as a text variant
        for col in ("created_at", "updated_at"):
            parsed = pl.col(col).str.to_datetime("%Y-%m-%dT%H:%M:%S%z", strict=False, time_zone="UTC")
            df = df.with_columns(
                pl.when(parsed.is_null()).then(pl.col(col)).alias(f"{col}__v_text"), parsed.alias(col))
    return df


def _cell_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    return str(value)


def sheets_frame(root: Path) -> pl.DataFrame:
    """Leads xlsx, sales CSV and legacy CSV with canonical column names, as text."""
    frames = []
    wb = openpyxl.load_workbook(root / "sheets" / "trade_show_leads.xlsx", read_only=True)
    rows: list[dict] = []
    for ws in wb.worksheets:
        it = ws.iter_rows(values_only=True)
        header = [LEADS_HEADERS.get(h, h) for h in next(it)]
        for values in it:
            rec = {h: _cell_text(v) for h, v in zip(header, values, strict=False)}
            rec.update(source="trade_show_leads", row_number=len(rows) + 1, file_name="trade_show_leads.xlsx",
                       sheet_name=ws.title)
            rows.append(rec)
    wb.close()
    frames.append(pl.DataFrame(rows, infer_schema_length=None))
    for name, source, enc, sep, headers in (
        ("sales_contacts.csv", "sales_contacts", "utf-8-sig", ";", SALES_HEADERS),
        ("legacy_export.csv", "legacy_export", "gbk", ",", LEGACY_HEADERS),
    ):
        path = root / "sheets" / name
        if not path.exists():
            continue
        with path.open(encoding=enc, newline="") as fh:
            reader = csv.DictReader(fh, delimiter=sep)
            recs = [
                {**{headers.get(k, k): v for k, v in r.items()}, "source": source, "row_number": i,
                 "file_name": name, "sheet_name": None}
                for i, r in enumerate(reader, start=1)
            ]
        frames.append(pl.DataFrame(recs, infer_schema_length=None))
    return pl.concat(frames, how="diagonal_relaxed")


def truth(root: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(records joined to entities, bad_rows) from the dataset's truth folder."""
    t = root / "truth"
    records = pl.read_csv(t / "records.csv", infer_schema_length=0)
    entities = pl.read_csv(t / "entities.csv", infer_schema_length=0)
    bad = pl.read_csv(t / "bad_rows.csv", infer_schema_length=0)
    return records.join(entities, on="entity_id", how="left"), entities, bad


@pytest.fixture(scope="session")
def synth_frames(synth_2k) -> dict[str, pl.DataFrame]:
    return {"erp": erp_frame(synth_2k), "shop": shop_frame(synth_2k), "sheets": sheets_frame(synth_2k)}


@pytest.fixture(scope="session")
def synth_truth(synth_2k):
    return truth(synth_2k)


@pytest.fixture(scope="session")
def synth_shop_typed(synth_2k) -> pl.DataFrame:
    return shop_frame(synth_2k, typed_timestamps=True)
