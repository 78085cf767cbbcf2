"""Findings about how rows arrived, not about one customer's fields: salvaged API pages and files
read in a legacy encoding."""

from __future__ import annotations

import polars as pl

from pipelines.staging.columns import text
from pipelines.staging.result import FIELD_ISSUES_SCHEMA, QUARANTINE_SCHEMA

#: Column the shop connector sets on objects it kept from a page cut mid-body.
RECOVERED_COLUMN = "_recovered_from_page"
#: Column the sheets connector sets to the encoding a CSV file was read with.
ENCODING_COLUMN = "file_encoding"

UNICODE_ENCODINGS = ("utf-8", "utf-8-sig", "utf8")
#: Quarantine rules that describe a page or file, not one source record (left out of reconciliation).
NON_RECORD_RULES = ("truncated_json_page",)


def recovered_record_issues(customers: pl.DataFrame, *, source: str, id_column: str = "id") -> pl.DataFrame:
    """One ``recovered_from_truncated_page`` field issue per raw row kept from a cut page."""
    if RECOVERED_COLUMN not in customers.columns:
        return pl.DataFrame(schema=FIELD_ISSUES_SCHEMA)
    return customers.filter(pl.col(RECOVERED_COLUMN).is_not_null()).select(
        pl.lit(source).alias("source"),
        text(customers, id_column).str.strip_chars().alias("source_record_id"),
        pl.lit("record").alias("field"),
        pl.lit("recovered_from_truncated_page").alias("rule"),
        pl.col(RECOVERED_COLUMN).cast(pl.Utf8).alias("raw_value"),
        pl.lit("kept").alias("action"),
    ).cast(FIELD_ISSUES_SCHEMA)


def truncated_pages(logged: pl.DataFrame | None, *, source: str = "shop", resource: str = "customers") -> pl.DataFrame:
    """One ``truncated_json_page`` quarantine row per page of ``resource`` cut in this run.

    ``logged`` holds the run's ``quality.invalid_pages`` rows (``resource``, ``page``, ``bytes``,
    ``objects_recovered``). The page is named as the client asked for it (``page:<page_info>``);
    ``raw_value`` says how much was recovered and how many were not read (a full page holds ``limit``
    objects); those are asked for again next run, since the cursor does not move past the page.
    The rows kept from the page carry their own ``recovered_from_truncated_page`` issues.
    """
    if logged is None or logged.height == 0:
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    pages = (logged.filter(pl.col("resource") == resource)
             .group_by("page").agg(pl.col("objects_recovered").max().alias("kept"), pl.col("bytes").max(),
                                   (pl.col("objects_lost").max() if "objects_lost" in logged.columns
                                    else pl.lit(None, pl.Int64)).alias("lost"))
             .sort("page"))
    return pages.select(
        pl.lit(source).alias("source"),
        pl.col("page").alias("source_record_id"),
        pl.lit("truncated_json_page").alias("rule"),
        pl.lit("page").alias("field"),
        pl.format("{} page cut mid-body ({} bytes received): {} complete objects recovered, {} "
                  "(the cursor stays: they are asked for again next run)",
                  pl.lit(resource), "bytes", "kept",
                  pl.when(pl.col("lost").is_not_null()).then(pl.format("{} not read", "lost"))
                  .otherwise(pl.lit("an unknown number after them not read (last page)"))).alias("raw_value"),
    ).cast(QUARANTINE_SCHEMA)


def file_encoding_issues(contacts: pl.DataFrame) -> pl.DataFrame:
    """One ``non_utf8_encoding`` issue per sheet file read in another encoding (``source_record_id``
    ``file``, ``raw_value`` the encoding), and its rows are kept."""
    if ENCODING_COLUMN not in contacts.columns:
        return pl.DataFrame(schema=FIELD_ISSUES_SCHEMA)
    enc = pl.col(ENCODING_COLUMN).cast(pl.Utf8).str.to_lowercase()
    return (
        contacts.filter(enc.is_not_null() & ~enc.is_in(UNICODE_ENCODINGS))
        .group_by(text(contacts, "source").alias("source"))
        .agg(enc.first().alias("raw_value"))
        .sort("source")
        .select(
            "source",
            pl.lit("file").alias("source_record_id"),
            pl.lit("file").alias("field"),
            pl.lit("non_utf8_encoding").alias("rule"),
            "raw_value",
            pl.lit("decoded").alias("action"),
        ).cast(FIELD_ISSUES_SCHEMA)
    )
