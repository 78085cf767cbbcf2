"""Spreadsheet/CSV contacts (columns already renamed to canonical names) -> staged customers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import polars as pl

from dedupe.normalize import (
    city_country,
    clean_name_part,
    clean_text,
    country_code,
    email_country,
    phone_country,
    phone_layout_country,
    split_name,
)
from pipelines.staging.columns import contact_fields, require, text
from pipelines.staging.dates import raw_text, slash_evidence, text_date, timestamp_utc
from pipelines.staging.loads import file_encoding_issues
from pipelines.staging.result import StageResult
from pipelines.staging.rules import apply_rules

DAY_FIRST, MONTH_FIRST = "%d/%m/%Y", "%m/%d/%Y"


def _slash_format(date_text: pl.Expr, formats: Mapping[str, str]) -> pl.Expr:
    """Per source: the configured ``a/b/yyyy`` order, else the order its unambiguous values show.

    Day-first wins ties (and sources without evidence).
    """
    day_first, month_first = slash_evidence(date_text)
    detected = (
        pl.when(month_first.sum().over("source") > day_first.sum().over("source"))
        .then(pl.lit(MONTH_FIRST)).otherwise(pl.lit(DAY_FIRST))
    )
    configured = pl.col("source").replace_strict(dict(formats), default=None, return_dtype=pl.Utf8)
    return pl.coalesce(configured, detected)


def _last_activity(c: pl.DataFrame, formats: Mapping[str, str]) -> pl.Expr:
    if "last_activity" not in c.columns:
        return pl.lit(None, dtype=pl.Datetime("us", "UTC"))
    dtype = c.schema["last_activity"]
    if isinstance(dtype, pl.Datetime) or dtype == pl.Date:
        return timestamp_utc(c, "last_activity")
    s = pl.col("last_activity").cast(pl.Utf8).str.strip_chars()
    return text_date(s, slash_format=_slash_format(s, formats))


def stage_sheets(
    contacts: pl.DataFrame, *, date_formats: Mapping[str, str] | None = None, now: datetime | None = None
) -> StageResult:
    """Stage contacts from spreadsheets and CSV files.

    ``contacts`` has ``source`` (file stem), ``row_number`` and canonical-named fields when
    present (``full_name``, ``given_name``, ``surname``, ``company_name``, ``email``, ``phone``,
    ``street``, ``postal_code``, ``city``, ``country``, ``last_activity``); other columns are
    ignored. ``date_formats`` maps a source to the order of its slashed dates (``"%d/%m/%Y"``
    or ``"%m/%d/%Y"``); without it the order is detected per source. ``last_activity`` gives
    both ``created_at`` and ``updated_at``. Without a country column the country comes from a
    well-known city name (typos tolerated), else from the phone's ``+CC``; a phone in a national layout
    without any country uses the e-mail domain's country or the North American layout as hint.
    A file the connector read in a legacy encoding (``file_encoding`` not UTF-8) gets one
    ``non_utf8_encoding`` issue (``source_record_id`` ``file``); its rows are staged as usual.
    """
    require(contacts, ["source", "row_number"], table="sheets.contacts")
    c = contacts
    df = c.select(
        text(c, "source").alias("source"),
        text(c, "row_number").str.strip_chars().alias("source_record_id"),
        pl.coalesce(
            text(c, "full_name"),
            pl.concat_str(text(c, "given_name"), text(c, "surname"), separator=" ", ignore_nulls=True)
            .replace("", None),
        ).alias("raw_name"),
        text(c, "given_name").alias("__given"),
        text(c, "surname").alias("__surname"),
        text(c, "company_name").alias("raw_company_name"),
        text(c, "email").alias("raw_email"),
        text(c, "phone").alias("raw_phone"),
        text(c, "street").alias("raw_street"),
        text(c, "postal_code").alias("raw_postal_code"),
        text(c, "city").alias("raw_city"),
        text(c, "country").alias("raw_country"),
        text(c, "vat_id").alias("raw_vat_id"),
        raw_text(c, "last_activity").alias("__raw_created_at"),
        raw_text(c, "last_activity").alias("__raw_updated_at"),
        _last_activity(c, date_formats or {}).alias("created_at"),
    ).with_columns(updated_at=pl.col("created_at"))

    parsed = split_name(pl.col("raw_name"))
    given, surname = clean_name_part(pl.col("__given")), clean_name_part(pl.col("__surname"))
    separate = clean_text(pl.col("__given")).is_not_null() | clean_text(pl.col("__surname")).is_not_null()
    df = df.with_columns(parsed.alias("__name")).unnest("__name").with_columns(
        given_name=pl.when(separate).then(given).otherwise(pl.col("given_name")),
        surname=pl.when(separate).then(surname).otherwise(pl.col("surname")),
    )
    stated = country_code(pl.col("raw_country"))
    located = pl.coalesce(stated, city_country(pl.col("raw_city"), fuzzy=True))
    hinted = pl.coalesce(
        pl.col("__located"), email_country(pl.col("raw_email")), phone_layout_country(pl.col("raw_phone"))
    )
    df = (
        df.with_columns(__located=located)
        .with_columns(__hinted=hinted)
        .with_columns(**contact_fields(pl.col("__located"), phone_country=pl.col("__hinted")))
        .with_columns(country=pl.coalesce(pl.col("__located"), phone_country(pl.col("phone"))))
    )
    result = apply_rules(df.drop("__given", "__surname", "__located", "__hinted"), now=now or datetime.now(UTC))
    files = file_encoding_issues(contacts)
    if files.height == 0:
        return result
    return StageResult(customers=result.customers, quarantine=result.quarantine,
                       field_issues=pl.concat([result.field_issues, files]))
