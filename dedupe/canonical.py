"""The canonical customer schema every source is staged into, and matching reads from."""

from __future__ import annotations

import polars as pl

#: Unique id of a staged record: ``"{source}:{source_record_id}"``.
RECORD_ID = "record_id"

#: Normalised fields, in the order they appear in ``staging.customers``.
CANONICAL_SCHEMA: dict[str, pl.DataType] = {
    "record_id": pl.Utf8(),
    "source": pl.Utf8(),
    "source_record_id": pl.Utf8(),
    "given_name": pl.Utf8(),
    "surname": pl.Utf8(),
    "full_name": pl.Utf8(),
    "name_title": pl.Utf8(),
    "name_suffix": pl.Utf8(),
    "company_name": pl.Utf8(),
    "email": pl.Utf8(),
    "phone": pl.Utf8(),
    "street": pl.Utf8(),
    "postal_code": pl.Utf8(),
    "city": pl.Utf8(),
    "country": pl.Utf8(),
    "vat_id": pl.Utf8(),
    "created_at": pl.Datetime("us", "UTC"),
    "updated_at": pl.Datetime("us", "UTC"),
}

#: The values as the source wrote them, kept beside the normalised ones.
RAW_SCHEMA: dict[str, pl.DataType] = {
    "raw_name": pl.Utf8(),
    "raw_company_name": pl.Utf8(),
    "raw_email": pl.Utf8(),
    "raw_phone": pl.Utf8(),
    "raw_street": pl.Utf8(),
    "raw_postal_code": pl.Utf8(),
    "raw_city": pl.Utf8(),
    "raw_country": pl.Utf8(),
    "raw_vat_id": pl.Utf8(),
}

STAGED_SCHEMA: dict[str, pl.DataType] = {**CANONICAL_SCHEMA, **RAW_SCHEMA}

#: Fields a golden customer carries (issue: golden records).
GOLDEN_FIELDS = [
    "given_name", "surname", "full_name", "email", "phone", "street", "postal_code",
    "city", "country", "company_name", "vat_id",
]


def empty_staged() -> pl.DataFrame:
    """An empty frame with the staged schema."""
    return pl.DataFrame(schema=STAGED_SCHEMA)


def conform(df: pl.DataFrame) -> pl.DataFrame:
    """Select and cast ``df`` to the staged schema (missing columns become null)."""
    cols = [
        (pl.col(c) if c in df.columns else pl.lit(None)).cast(t).alias(c)
        for c, t in STAGED_SCHEMA.items()
    ]
    return df.select(cols)
