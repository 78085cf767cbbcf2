"""Reading source columns that may be missing or typed unexpectedly, and the shared field mapping."""

from __future__ import annotations

import polars as pl

from dedupe.normalize import (
    normalize_city,
    normalize_company,
    normalize_email,
    normalize_phone,
    normalize_postcode,
    normalize_street,
    normalize_vat,
)
from pipelines.staging.result import StagingError


def text(df: pl.DataFrame, name: str) -> pl.Expr:
    """Column ``name`` as text, or null when the source has no such column.

    Integers and integral floats (a phone Excel stored as a number) become digit strings.
    """
    if name not in df.columns:
        return pl.lit(None, dtype=pl.Utf8)
    dtype = df.schema[name]
    col = pl.col(name)
    if dtype.is_float():
        return pl.when(col == col.round(0)).then(col.cast(pl.Int64, strict=False).cast(pl.Utf8)).otherwise(
            col.cast(pl.Utf8))
    return col.cast(pl.Utf8)


def require(df: pl.DataFrame, columns: list[str], *, table: str) -> None:
    """Raise :class:`StagingError` naming the table and the missing key columns."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise StagingError(f"{table}: required column(s) {missing} missing (has {df.columns})")


def contact_fields(country: pl.Expr, phone_country: pl.Expr | None = None) -> dict[str, pl.Expr]:
    """Canonical contact/address columns from the ``raw_*`` columns (``country`` is an ISO-2 expression)."""
    region = country if phone_country is None else phone_country
    return {
        "company_name": normalize_company(pl.col("raw_company_name")),
        "email": normalize_email(pl.col("raw_email")),
        "phone": normalize_phone(pl.col("raw_phone"), region),
        "street": normalize_street(pl.col("raw_street")),
        "postal_code": normalize_postcode(pl.col("raw_postal_code"), country),
        "city": normalize_city(pl.col("raw_city")),
        "country": country,
        "vat_id": normalize_vat(pl.col("raw_vat_id"), country),
    }

