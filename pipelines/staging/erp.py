"""ERP ``customers`` (all text columns, one-field ``contact_name``) -> staged customers."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from dedupe.normalize import country_code, split_name
from pipelines.staging.columns import contact_fields, require, text
from pipelines.staging.dates import timestamp_utc
from pipelines.staging.result import StageResult
from pipelines.staging.rules import apply_rules

SOURCE = "erp"


def stage_erp(customers: pl.DataFrame, *, source: str = SOURCE, now: datetime | None = None) -> StageResult:
    """Stage the ERP customer table (duplicate ``customer_no`` rows allowed: the newest is kept).

    ``created_at``/``updated_at`` are naive local timestamps of unknown zone: read as UTC.
    """
    require(customers, ["customer_no"], table=f"{source}.customers")
    df = customers.select(
        pl.lit(source).alias("source"),
        text(customers, "customer_no").str.strip_chars().alias("source_record_id"),
        text(customers, "contact_name").alias("raw_name"),
        text(customers, "company_name").alias("raw_company_name"),
        text(customers, "email").alias("raw_email"),
        text(customers, "phone").alias("raw_phone"),
        text(customers, "street").alias("raw_street"),
        text(customers, "postal_code").alias("raw_postal_code"),
        text(customers, "city").alias("raw_city"),
        text(customers, "country").alias("raw_country"),
        text(customers, "vat_id").alias("raw_vat_id"),
        text(customers, "created_at").alias("__raw_created_at"),
        text(customers, "updated_at").alias("__raw_updated_at"),
        timestamp_utc(customers, "created_at").alias("created_at"),
        timestamp_utc(customers, "updated_at").alias("updated_at"),
    )
    df = df.with_columns(split_name(pl.col("raw_name")).alias("__name")).unnest("__name")
    df = df.with_columns(__country=country_code(pl.col("raw_country")))
    df = df.with_columns(**contact_fields(pl.col("__country"))).drop("__country")
    return apply_rules(df, now=now or datetime.now(UTC))
