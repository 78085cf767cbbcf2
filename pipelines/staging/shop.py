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
from dedupe.normalize.cjk import CJK_CLASS
from dedupe.normalize.names import hanzi_surname_first, pinyin_surname_first
from pipelines.staging.columns import contact_fields, require, text
from pipelines.staging.dates import raw_text, timestamp_utc
from pipelines.staging.loads import recovered_record_issues
from pipelines.staging.result import StageResult
from pipelines.staging.rules import apply_rules

SOURCE = "shop"
_ADDR = "default_address__"


def _with_names(df: pl.DataFrame) -> pl.DataFrame:
    """Given/surname from first_name/last_name; a lone full name in one field is split.

    A Chinese surname typed into the first-name field (``李`` / ``鸿春``, ``Gu`` / ``Ziwei``) is
    moved back; Western swaps cannot be told from the names alone and stay as typed. Built in
    steps so each intermediate column is computed once.
    """
    df = df.with_columns(
        __f=clean_text(pl.col("__first")),
        __l=strip_name_suffix(pl.col("__last")),
        name_suffix=name_suffix_of(pl.col("__last")),
    )
    f, la = pl.col("__f"), pl.col("__l")
    df = df.with_columns(
        __lone=pl.when(f.is_null() ^ la.is_null()).then(pl.coalesce(f, la)),
        __swap=hanzi_surname_first(to_simplified(f), to_simplified(la))
        | (~f.str.contains(" ") & ~la.str.contains(" ") & pinyin_surname_first(f, la, strict=True)),
    )
    lone = pl.col("__lone")
    df = df.with_columns(__split=split_name(pl.when(has_cjk(lone) | lone.str.contains(" ")).then(lone)))
    split = pl.col("__split").struct
    swap = pl.col("__swap").fill_null(False)
    df = df.with_columns(
        __given=clean_name_part(pl.when(swap).then(la).otherwise(f)),
        __surname=clean_name_part(pl.when(swap).then(f).otherwise(la)),
    )
    split_lone = split.field("surname").is_not_null() | split.field("given_name").is_not_null()
    return df.with_columns(
        given_name=pl.when(split_lone).then(split.field("given_name")).otherwise(pl.col("__given")),
        surname=pl.when(split_lone).then(split.field("surname")).otherwise(pl.col("__surname")),
        name_title=split.field("name_title"),
        name_suffix=pl.when(split_lone).then(split.field("name_suffix")).otherwise(pl.col("name_suffix")),
    ).drop("__f", "__l", "__lone", "__swap", "__split", "__given", "__surname")


def stage_shop(customers: pl.DataFrame, *, source: str = SOURCE, now: datetime | None = None) -> StageResult:
    """Stage shop customers; columns dlt left out (all null in the load) are treated as null.

    Rows the connector kept from a page cut mid-body (``_recovered_from_page``) are staged like any
    other and get a ``recovered_from_truncated_page`` field issue naming the page.
    """
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
    df = _with_names(df)
    is_cjk = pl.concat_str("surname", "given_name", ignore_nulls=True).str.contains(CJK_CLASS)
    df = df.with_columns(
        full_name=pl.when(is_cjk).then(pl.concat_str("surname", "given_name", ignore_nulls=True))
        .otherwise(pl.concat_str("given_name", "surname", separator=" ", ignore_nulls=True)).replace("", None),
        __country=country_code(pl.col("raw_country")),
    )
    df = df.with_columns(**contact_fields(pl.col("__country"))).drop("__country")
    result = apply_rules(df.drop("__first", "__last"), now=now or datetime.now(UTC))
    recovered = recovered_record_issues(customers, source=source).join(
        result.customers.select("source_record_id"), on="source_record_id", how="semi")
    if recovered.height == 0:
        return result
    return StageResult(customers=result.customers, quarantine=result.quarantine,
                       field_issues=pl.concat([result.field_issues, recovered]))
