"""Tombstones: what was erased, kept as keyed hashes, so a later load does not bring it back.

``privacy.tombstones`` holds one row per erased source record (kind ``source_record``: the
source system's key in clear, because it is needed to ask that system to delete the record and
to see when it has) and one per e-mail that belonged only to the erased customer (kind
``email``: hash only). Staging drops every incoming row whose ``source:source_record_id`` or
e-mail hashes to a tombstone (:func:`suppressed`, :func:`drop_erased`).

Lifting rule (:func:`lift_tombstones`): a ``source_record`` tombstone is lifted once a *complete*
listing of its source system no longer holds that record (the source deleted it, so it cannot
come back from there); an ``email`` tombstone is lifted once no ``source_record`` tombstone of
the same erasure is left. A listing only lifts tombstones of the systems it covers. Sheet rows
are keyed by row number, which shifts when rows are removed, so sheet tombstones are lifted only
by an explicit listing, never by :func:`current_source_keys`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path

import polars as pl

from pipelines.privacy.keys import hash_key, hmac_hex, normalise_email
from pipelines.warehouse import Warehouse

TOMBSTONES = "privacy.tombstones"
TOMBSTONE_SCHEMA = {
    "identifier_hash": pl.Utf8, "kind": pl.Utf8, "source": pl.Utf8, "source_record_id": pl.Utf8,
    "erasure_id": pl.Utf8, "erased_at": pl.Datetime("us", "UTC"), "reason": pl.Utf8,
}
RECORD, EMAIL = "source_record", "email"
_PURPOSE = "tombstone"


def record_hashes(source: pl.Series, source_record_id: pl.Series, *, key: bytes) -> pl.Series:
    """Keyed hash of ``source:source_record_id`` (the record id)."""
    ids = pl.DataFrame({"s": source.cast(pl.Utf8), "r": source_record_id.cast(pl.Utf8)}).select(
        pl.concat_str("s", pl.lit(":"), "r"))
    return hmac_hex(ids.to_series(), key, f"{_PURPOSE}:{RECORD}")


def email_hashes(email: pl.Series, *, key: bytes) -> pl.Series:
    """Keyed hash of the normalised e-mail (null for a missing or malformed one)."""
    norm = pl.DataFrame({"e": email}).select(normalise_email(pl.col("e"))).to_series()
    return hmac_hex(norm, key, f"{_PURPOSE}:{EMAIL}")


def read_tombstones(warehouse: Warehouse) -> pl.DataFrame:
    """All tombstones (an empty frame before the first erasure)."""
    df = warehouse.read_if_exists(TOMBSTONES)
    return df if df is not None else pl.DataFrame(schema=TOMBSTONE_SCHEMA)


def suppressed(staged: pl.DataFrame, tombstones: pl.DataFrame, key: bytes) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split ``staged`` (``source``, ``source_record_id``, optional ``email``/``raw_email``) into
    (kept, suppressed): a row is suppressed when its record id or e-mail hashes to a tombstone."""
    if staged.height == 0 or tombstones.height == 0:
        return staged, staged.clear()
    hit = tombstone_hits(staged, tombstones, key)
    return staged.filter(~hit), staged.filter(hit)


def tombstone_hits(df: pl.DataFrame, tombstones: pl.DataFrame, key: bytes) -> pl.Series:
    """True for each row of ``df`` whose record or e-mail has a tombstone (hashed with ``key``)."""
    rec = set(tombstones.filter(pl.col("kind") == RECORD)["identifier_hash"].to_list())
    mail = set(tombstones.filter(pl.col("kind") == EMAIL)["identifier_hash"].to_list())
    hit = record_hashes(df["source"], df["source_record_id"], key=key).is_in(list(rec)).fill_null(False)
    for col in ("email", "raw_email"):
        if col in df.columns and mail:
            hit = hit | email_hashes(df[col], key=key).is_in(list(mail)).fill_null(False)
    return hit


def drop_erased(warehouse: Warehouse, tables: Mapping[str, pl.DataFrame]) -> tuple[dict[str, pl.DataFrame], int]:
    """The staging hook: drop erased records from every frame of ``tables`` that has ``source``
    and ``source_record_id`` (a record matched by e-mail in one frame is dropped from all of
    them, e.g. its quarantine and field-issue rows). Returns (frames, records suppressed).
    Costs nothing when the warehouse has no tombstones."""
    tombs = read_tombstones(warehouse)
    if tombs.height == 0:
        return dict(tables), 0
    key = hash_key(warehouse)
    keyed = [df for df in tables.values() if {"source", "source_record_id"} <= set(df.columns) and df.height]
    gone = sorted({k for df in keyed for k in df.filter(tombstone_hits(df, tombs, key)).select(_pair_key()).to_series().to_list()})
    out = {}
    for name, df in tables.items():
        if gone and {"source", "source_record_id"} <= set(df.columns):
            df = df.filter(~_pair_key().is_in(gone).fill_null(False))
        out[name] = df
    return out, len(gone)


def _pair_key() -> pl.Expr:
    return pl.concat_str(pl.col("source").cast(pl.Utf8), pl.lit("\x1f"), pl.col("source_record_id").cast(pl.Utf8))


def write_tombstones(con, rows: pl.DataFrame) -> int:
    """Append ``rows`` (``TOMBSTONE_SCHEMA``) inside the caller's DuckDB transaction."""
    con.execute("create schema if not exists privacy")
    cols = ", ".join(f"{c} {_duck_type(t)}" for c, t in TOMBSTONE_SCHEMA.items())
    con.execute(f"create table if not exists {TOMBSTONES} ({cols})")
    if rows.height:
        con.register("__tombstones", rows.select(list(TOMBSTONE_SCHEMA)).to_arrow())
        con.execute(f"insert into {TOMBSTONES} by name select * from __tombstones "
                    f"where identifier_hash not in (select identifier_hash from {TOMBSTONES})")
        con.unregister("__tombstones")
    return rows.height


def _duck_type(dtype) -> str:
    return "timestamptz" if isinstance(dtype, pl.Datetime) else "varchar"


def lift_tombstones(warehouse: Warehouse, present: pl.DataFrame, *, sources: Iterable[str]) -> dict[str, int]:
    """Lift the tombstones of ``sources`` whose record is absent from ``present`` (``source``,
    ``source_record_id``: a complete listing of those systems' current records), then the
    e-mail tombstones of erasures with no record tombstone left. Returns counts per kind."""
    covered = sorted(set(sources))
    tombs = read_tombstones(warehouse)
    if tombs.height == 0 or not covered:
        return {RECORD: 0, EMAIL: 0}
    listed = present.select(pl.col("source").cast(pl.Utf8), pl.col("source_record_id").cast(pl.Utf8)).unique()
    records = tombs.filter(pl.col("kind") == RECORD)
    gone = (records.filter(pl.col("source").is_in(covered))
            .join(listed, on=["source", "source_record_id"], how="anti"))
    left = records.join(gone.select("identifier_hash"), on="identifier_hash", how="anti")
    emails = tombs.filter(pl.col("kind") == EMAIL)
    lifted_mail = emails.filter(~pl.col("erasure_id").is_in(left["erasure_id"].unique().implode()))
    drop = pl.concat([gone.select("identifier_hash"), lifted_mail.select("identifier_hash")])
    if drop.height:
        with warehouse.connect() as con:
            con.register("__lift", drop.to_arrow())
            con.execute(f"delete from {TOMBSTONES} where identifier_hash in (select identifier_hash from __lift)")
            con.unregister("__lift")
    return {RECORD: gone.height, EMAIL: lifted_mail.height}


def current_source_keys(directory: str | Path) -> tuple[pl.DataFrame, list[str]]:
    """(keys, systems listed) of a crm_synth-layout folder: ERP ``customers.customer_no`` from
    ``erp.sqlite`` and shop customer ids from ``shop/customers.jsonl`` (or its pages), for
    :func:`lift_tombstones`. Sheets are not listed (see the module docstring)."""
    folder = Path(directory)
    frames, systems = [], []
    erp = folder / "erp.sqlite"
    if erp.is_file():
        con = sqlite3.connect(f"file:{erp}?mode=ro", uri=True)
        try:
            ids = [str(r[0]) for r in con.execute("select customer_no from customers")]
        finally:
            con.close()
        frames.append(pl.DataFrame({"source": "erp", "source_record_id": ids}, schema=_KEYS))
        systems.append("erp")
    shop = folder / "shop"
    lines = shop / "customers.jsonl"
    pages = sorted((shop / "customers").glob("page-*.json")) if (shop / "customers").is_dir() else []
    if lines.is_file() or pages:
        ids = []
        if lines.is_file():
            with lines.open(encoding="utf-8") as fh:
                ids = [str(json.loads(line)["id"]) for line in fh if line.strip()]
        else:
            for page in pages:
                ids += [str(c["id"]) for c in json.loads(page.read_text(encoding="utf-8"))["customers"]]
        frames.append(pl.DataFrame({"source": "shop", "source_record_id": ids}, schema=_KEYS))
        systems.append("shop")
    keys = pl.concat(frames) if frames else pl.DataFrame(schema=_KEYS)
    return keys, systems


_KEYS = {"source": pl.Utf8, "source_record_id": pl.Utf8}
