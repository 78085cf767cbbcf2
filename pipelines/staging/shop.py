"""Web-shop customers as dlt flattens them (``default_address__city`` ...) -> staged customers."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from dedupe.normalize import (
    clean_name_part,
    clean_text,
    country_code,
    has_cjk,
    name_suffix_of,
    split_name,
    strip_name_suffix,
    to_simplified,
)
from dedupe.normalize.names import hanzi_surname_first, pinyin_surname_first
from pipelines.staging.columns import contact_fields, require, text
from pipelines.staging.dates import raw_text, timestamp_utc
from pipelines.staging.result import StageResult
from pipelines.staging.rules import apply_rules

SOURCE = "shop"
_ADDR = "default_address__"


def _names() -> dict[str, pl.Expr]:
    """Given/surname from first_name/last_name; a lone full name in one field is split.

    A Chinese surname typed into the first-name field (``李`` / ``鸿春``, ``Gu`` / ``Ziwei``) is
    moved back; Western swaps cannot be told from the names alone and stay as typed.
    """
    first, last = clean_text(pl.col("__first")), clean_text(pl.col("__last"))
    lone = pl.coalesce(first, last)
    split_lone = (first.is_null() ^ last.is_null()) & (has_cjk(lone) | lone.str.contains(" "))
    parsed = split_name(pl.when(split_lone).then(lone))
    last_core = strip_name_suffix(pl.col("__last"))
    swapped = hanzi_surname_first(to_simplified(first), to_simplified(last_core)) | (
        ~first.str.contains(" ") & ~last_core.str.contains(" ")
        & pinyin_surname_first(first, last_core, strict=True)
    )
    given = clean_name_part(pl.when(swapped).then(last_core).otherwise(first))
    surname = clean_name_part(pl.when(swapped).then(first).otherwise(last_core))
    return {
        "given_name": pl.when(split_lone).then(parsed.struct.field("given_name")).otherwise(given),
        "surname": pl.when(split_lone).then(parsed.struct.field("surname")).otherwise(surname),
        "name_title": pl.when(split_lone).then(parsed.struct.field("name_title")),
        "name_suffix": pl.when(split_lone).then(parsed.struct.field("name_suffix"))
        .otherwise(name_suffix_of(pl.col("__last"))),
    }


def stage_shop(customers: pl.DataFrame, *, source: str = SOURCE, now: datetime | None = None) -> StageResult:
    """Stage shop customers; columns dlt left out (all null in the load) are treated as null."""
    require(customers, ["id"], table=f"{source}.customers")
    c = customers
    df = c.select(
        pl.lit(source).alias("source"),
        text(c, "id").str.strip_chars().alias("source_record_id"),
        text(c, "first_name").alias("__first"),
        text(c, "last_name").alias("__last"),
        pl.concat_str(text(c, "first_name"), text(c, "last_name"), separator=" ", ignore_nulls=True)
        .replace("", None).alias("raw_name"),
        text(c, f"{_ADDR}company").alias("raw_company_name"),
        text(c, "email").alias("raw_email"),
        text(c, "phone").alias("raw_phone"),
        text(c, f"{_ADDR}address1").alias("raw_street"),
        text(c, f"{_ADDR}zip").alias("raw_postal_code"),
        text(c, f"{_ADDR}city").alias("raw_city"),
        text(c, f"{_ADDR}country_code").alias("raw_country"),
        pl.lit(None, dtype=pl.Utf8).alias("raw_vat_id"),
        raw_text(c, "created_at").alias("__raw_created_at"),
        raw_text(c, "updated_at").alias("__raw_updated_at"),
        timestamp_utc(c, "created_at").alias("created_at"),
        timestamp_utc(c, "updated_at").alias("updated_at"),
    )
    df = df.with_columns(**_names())
    is_cjk = pl.concat_str("surname", "given_name", ignore_nulls=True).str.contains(r"[\u3400-\u9fff]")
    df = df.with_columns(
        full_name=pl.when(is_cjk).then(pl.concat_str("surname", "given_name", ignore_nulls=True))
        .otherwise(pl.concat_str("given_name", "surname", separator=" ", ignore_nulls=True)).replace("", None),
        **contact_fields(country_code(pl.col("raw_country"))),
    )
    return apply_rules(df.drop("__first", "__last"), now=now or datetime.now(UTC))
