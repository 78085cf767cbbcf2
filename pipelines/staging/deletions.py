"""Rows deleted at the source, told apart from the merged raw tables (which never lose a row).

dlt merges every source on its key, so a record deleted at the source stays in ``raw_*``. The
connectors leave the evidence beside it: a key scan (``raw_erp.customers_keys``, optionally
``raw_shop.customers_keys``) or the sheets' per-file inventory (``raw_sheets.file_inventory``).
These functions turn raw rows plus that evidence into the keys staging must leave out; staging
records them in ``quality.source_deletions`` and the reconciliation counts them.

Pure polars: frames in, one frame of deleted keys out (``DELETION_SCHEMA``).
"""

from __future__ import annotations

import polars as pl

from pipelines.staging.columns import text

#: One row per deleted source record (key), with the evidence that says so.
DELETION_SCHEMA: dict[str, pl.DataType] = {
    "source_system": pl.Utf8(), "source": pl.Utf8(), "table_name": pl.Utf8(), "source_record_id": pl.Utf8(),
    "reason": pl.Utf8(),
}
LOAD_ID = "_dlt_load_id"
SCAN_LOAD_ID = "scan_load_id"
READ_LOAD_ID = "read_load_id"
#: reasons
KEY_NOT_IN_SOURCE = "key_not_in_source"
FILE_REMOVED = "file_removed"
ROW_BEYOND_FILE_END = "row_beyond_file_end"
ROW_NOT_IN_FILE = "row_not_in_file"


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=DELETION_SCHEMA)


def _load_number(expr: pl.Expr) -> pl.Expr:
    """dlt load ids are Unix timestamps written as text: compare them as numbers."""
    return expr.cast(pl.Utf8).cast(pl.Float64, strict=False)


def key_scan_deletions(
    raw: pl.DataFrame, keys: pl.DataFrame | None, *, key: str, source: str, table: str
) -> pl.DataFrame:
    """Keys of ``raw`` rows missing from the latest key scan ``keys``.

    Only rows loaded before the scan's load are judged (``_dlt_load_id`` < ``scan_load_id``): a
    row read in the scanning load itself was in the source moments ago. Rows without a key are
    left to staging's no-key rule. No scan, or an empty one, is no evidence: nothing is deleted
    (a source answering with no keys at all is more likely misconfigured than emptied).
    """
    if keys is None or keys.height == 0 or key not in keys.columns or raw.height == 0:
        return _empty()
    scan = keys.select(_load_number(pl.col(SCAN_LOAD_ID)).max()).item() if SCAN_LOAD_ID in keys.columns else None
    current = keys.select(text(keys, key).str.strip_chars().alias("source_record_id")).drop_nulls().unique()
    rows = raw.select(
        text(raw, key).str.strip_chars().alias("source_record_id"),
        (_load_number(pl.col(LOAD_ID)) if LOAD_ID in raw.columns and scan is not None
         else pl.lit(None, pl.Float64)).alias("__loaded"),
    ).filter(pl.col("source_record_id").is_not_null() & (pl.col("source_record_id") != ""))
    if scan is not None:
        rows = rows.filter(pl.col("__loaded").is_null() | (pl.col("__loaded") < scan))
    gone = rows.select("source_record_id").unique().join(current, on="source_record_id", how="anti")
    return gone.sort("source_record_id").select(
        pl.lit(source).alias("source_system"), pl.lit(source).alias("source"), pl.lit(table).alias("table_name"),
        "source_record_id", pl.lit(KEY_NOT_IN_SOURCE).alias("reason"),
    ).cast(DELETION_SCHEMA)


def sheet_deletions(contacts: pl.DataFrame, inventory: pl.DataFrame | None, *,
                    table: str = "raw_sheets.contacts") -> pl.DataFrame:
    """``(source, row_number)`` keys of sheet rows no longer in their file.

    ``inventory`` is the connector's per-file inventory (``file_name``, ``present``,
    ``last_row_number``, ``read_load_id``). A row is deleted when its file is not present (gone
    from the folder, or never listed since the inventory exists), when its ``row_number`` is
    beyond the file's last row (the file shrank), or when it was not read in the file's last read
    (its ``read_load_id`` is older than the file's: the row was emptied; rows appended to a file
    are read after it, see ``connectors.sheets``). Without an inventory nothing is judged.
    """
    if inventory is None or contacts.height == 0:
        return _empty()
    inv = inventory.select(
        pl.col("file_name").cast(pl.Utf8),
        pl.col("present").cast(pl.Boolean).alias("__present"),
        pl.col("last_row_number").cast(pl.Int64).alias("__last"),
        pl.col(READ_LOAD_ID).cast(pl.Utf8).alias("__file_read"),
    )
    rows = contacts.select(
        text(contacts, "source").alias("source"),
        pl.col("row_number").cast(pl.Int64).alias("__row"),
        text(contacts, "file_name").alias("file_name"),
        text(contacts, READ_LOAD_ID).alias("__row_read"),
    ).join(inv, on="file_name", how="left")
    reason = (
        pl.when(~pl.col("__present").fill_null(False)).then(pl.lit(FILE_REMOVED))
        .when(pl.col("__row") > pl.col("__last")).then(pl.lit(ROW_BEYOND_FILE_END))
        .when(_read_before(pl.col("__row_read"), pl.col("__file_read"))).then(pl.lit(ROW_NOT_IN_FILE))
    )
    return rows.with_columns(reason=reason).filter(pl.col("reason").is_not_null()).sort("source", "__row").select(
        pl.lit("sheets").alias("source_system"), "source", pl.lit(table).alias("table_name"),
        pl.col("__row").cast(pl.Utf8).alias("source_record_id"), "reason",
    ).unique(["source", "source_record_id"], keep="first", maintain_order=True).cast(DELETION_SCHEMA)


def _read_before(row_read: pl.Expr, file_read: pl.Expr) -> pl.Expr:
    """The row was last read before the file's last whole read (dlt load ids are POSIX times); a
    missing id on either side counts as a different read."""
    row_t, file_t = row_read.cast(pl.Float64, strict=False), file_read.cast(pl.Float64, strict=False)
    return pl.when(row_t.is_null() | file_t.is_null()).then(row_read.ne_missing(file_read)).otherwise(row_t < file_t)


def without_deleted(frames: dict[str, pl.DataFrame], deleted: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The raw frames (as ``stage_all`` takes them) without the rows of deleted keys.

    Keys are matched as staging keys them: ERP ``customer_no`` and shop ``id`` stripped, sheets
    (file stem, ``row_number``). Every raw row of a deleted key goes, the ERP's stale copies too.
    """
    if deleted.height == 0:
        return dict(frames)
    out = {}
    for name, df in frames.items():
        gone = deleted.filter(pl.col("source_system") == name)
        if gone.height == 0 or df.height == 0:
            out[name] = df
            continue
        if name == "sheets":
            key = pl.concat_str([text(df, "source"), pl.lit("\x1f"), text(df, "row_number").str.strip_chars()])
            drop = gone.select(pl.concat_str(["source", pl.lit("\x1f"), "source_record_id"])).to_series()
        else:
            key = text(df, "customer_no" if name == "erp" else "id").str.strip_chars()
            drop = gone["source_record_id"]
        out[name] = df.filter(~key.is_in(drop.implode()).fill_null(False))
    return out
