"""One source's mapped customers (``mapping.map_customers``) -> staged customers: the one staging path.

Every configured source goes through the same steps, whatever its system:

* names: separate given name / surname fields are cleaned, a Chinese surname typed into the
  given-name field is moved back, a lone full name in either is split; otherwise the one-field
  ``full_name`` (``Surname, Given``, ``SMITH John``, ``张伟``, titles and Jr./Sr.) is split;
* country: the stated one (any spelling or ISO code), else a well-known city (typos tolerated),
  else the phone's ``+CC``; a phone in a national layout without a country is read with the
  e-mail domain's country or the North American layout as hint;
* dates: ISO with or without offset (naive means UTC), typed timestamps, ``dd.mm.yyyy``,
  ``YYYYMMDD``, Excel serials and slashed dates, whose day/month order is the source's
  ``date_format`` or what its unambiguous values show;
* then the shared field and row rules (``rules.apply_rules``), plus findings from the connectors'
  markers: rows kept from a cut page, files read in a legacy encoding.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from dedupe.normalize import (
    city_country,
    clean_name_part,
    clean_text,
    country_code,
    email_country,
    has_cjk,
    name_suffix_of,
    phone_country,
    phone_layout_country,
    split_name,
    strip_name_suffix,
    to_simplified,
)
from dedupe.normalize.cjk import CJK_CLASS
from dedupe.normalize.names import hanzi_surname_first, pinyin_surname_first
from pipelines.staging.columns import contact_fields
from pipelines.staging.dates import _text_timestamp, raw_text, slash_evidence, text_date, timestamp_utc
from pipelines.staging.loads import file_encoding_issues, recovered_record_issues
from pipelines.staging.result import QUARANTINE_SCHEMA, StageResult
from pipelines.staging.rules import apply_rules

DAY_FIRST, MONTH_FIRST = "%d/%m/%Y", "%m/%d/%Y"
_UTC = pl.Datetime("us", "UTC")


def _slash_format(date_text: pl.Expr, configured: str | None) -> pl.Expr:
    """The configured ``a/b/yyyy`` order, else the order the source's unambiguous values show
    (day-first wins ties and sources without evidence)."""
    if configured in (DAY_FIRST, MONTH_FIRST):
        return pl.lit(configured)
    day_first, month_first = slash_evidence(date_text)
    return (pl.when(month_first.sum().over("source") > day_first.sum().over("source"))
            .then(pl.lit(MONTH_FIRST)).otherwise(pl.lit(DAY_FIRST)))


def _order_column(name: str) -> str:
    return f"__slash_order_{name}"


def date_orders(mapped: pl.DataFrame, *, date_format: str | None = None) -> pl.DataFrame:
    """Per ``source``: the ``a/b/yyyy`` order each text date column is read with, decided over all
    of the source's rows, so a part of them can be staged (``stage_source(orders=...)``) exactly as
    the whole source would be."""
    m, _ = _split_malformed(mapped)
    texts = [name for name in ("created_at", "updated_at")
             if name in m.columns and not (isinstance(m.schema[name], pl.Datetime) or m.schema[name] == pl.Date)]
    source = pl.col("source").cast(pl.Utf8)
    if not texts:
        return m.select(source).unique("source", maintain_order=True).sort("source")
    # only values with a slash are evidence: the other rows are left out of the (costly) pattern match
    slashed = m.filter(pl.any_horizontal(pl.col(n).cast(pl.Utf8).str.contains("/", literal=True) for n in texts))
    orders = {_order_column(n): _slash_format(pl.col(n).cast(pl.Utf8).str.strip_chars(), date_format) for n in texts}
    found = slashed.select(source, **orders).unique("source", maintain_order=True)
    default = date_format if date_format in (DAY_FIRST, MONTH_FIRST) else DAY_FIRST
    return (m.select(source).unique("source", maintain_order=True)
            .join(found, on="source", how="left", nulls_equal=True)
            .with_columns(pl.col(list(orders)).fill_null(default)).sort("source"))


def _timestamp(df: pl.DataFrame, name: str, date_format: str | None) -> pl.Expr:
    """A mapped date/time column as UTC: typed values as they are; text as an ISO timestamp, else as a
    date in any of the shapes ``text_date`` reads; a custom ``date_format`` first where given.
    A ``date_orders`` column beside it gives the slashed dates' order."""
    dtype = df.schema[name]
    if isinstance(dtype, pl.Datetime) or dtype == pl.Date:
        return timestamp_utc(df, name)
    s = pl.col(name).cast(pl.Utf8).str.strip_chars()
    given = _order_column(name) in df.columns and date_format not in (DAY_FIRST, MONTH_FIRST)
    order = pl.col(_order_column(name)) if given else _slash_format(s, date_format)
    parsed = [_text_timestamp(s), text_date(s, slash_format=order)]
    if date_format and date_format not in (DAY_FIRST, MONTH_FIRST):
        parsed.insert(0, s.str.to_datetime(date_format, strict=False, time_unit="us").dt.replace_time_zone("UTC"))
    out = pl.coalesce(parsed)
    variant = f"{name}__v_text"
    if variant in df.columns:
        out = pl.coalesce(out, _text_timestamp(pl.col(variant).cast(pl.Utf8)))
    return out.cast(_UTC)


def _names(df: pl.DataFrame) -> pl.DataFrame:
    """given_name, surname, name_title, name_suffix and full_name from the mapped name fields."""
    df = df.with_columns(
        __f=clean_text(pl.col("__given")),
        __l=strip_name_suffix(pl.col("__surname")),
        __lsuffix=name_suffix_of(pl.col("__surname")),
    )
    f, la = pl.col("__f"), pl.col("__l")
    parts = f.is_not_null() | la.is_not_null()
    df = df.with_columns(
        __lone=pl.when(f.is_null() ^ la.is_null()).then(pl.coalesce(f, la)),
        __swap=hanzi_surname_first(to_simplified(f), to_simplified(la))
        | (~f.str.contains(" ") & ~la.str.contains(" ") & pinyin_surname_first(f, la, strict=True)),
    )
    lone = pl.col("__lone")
    one_field = pl.when(parts).then(pl.when(has_cjk(lone) | lone.str.contains(" ")).then(lone)) \
        .otherwise(pl.col("raw_name"))
    df = df.with_columns(__split=split_name(one_field))
    split = pl.col("__split").struct
    swap = pl.col("__swap").fill_null(False)
    split_lone = split.field("surname").is_not_null() | split.field("given_name").is_not_null()
    from_split = ~parts | split_lone
    df = df.with_columns(
        given_name=pl.when(from_split).then(split.field("given_name"))
        .otherwise(clean_name_part(pl.when(swap).then(la).otherwise(f))),
        surname=pl.when(from_split).then(split.field("surname"))
        .otherwise(clean_name_part(pl.when(swap).then(f).otherwise(la))),
        name_title=split.field("name_title"),
        name_suffix=pl.when(from_split).then(split.field("name_suffix")).otherwise(pl.col("__lsuffix")),
        __split_full=split.field("full_name"),
        __from_split=from_split,
    )
    is_cjk = pl.concat_str("surname", "given_name", ignore_nulls=True).str.contains(CJK_CLASS)
    composed = (pl.when(is_cjk).then(pl.concat_str("surname", "given_name", ignore_nulls=True))
                .otherwise(pl.concat_str("given_name", "surname", separator=" ", ignore_nulls=True))
                .replace("", None))
    return df.with_columns(
        full_name=pl.when(pl.col("__from_split") & ~parts).then(pl.col("__split_full")).otherwise(composed),
    ).drop("__f", "__l", "__lsuffix", "__lone", "__swap", "__split", "__split_full", "__from_split")


def stage_source(mapped: pl.DataFrame, *, date_format: str | None = None, now: datetime | None = None,
                 orders: pl.DataFrame | None = None) -> StageResult:
    """Stage one source's mapped customers (see the module docstring); ``mapped`` is what
    ``mapping.map_customers`` returns (``source``, ``source_record_id`` and the canonical fields).
    ``orders`` (``date_orders`` of all the source's rows) when ``mapped`` is only some of them."""
    m, malformed = _split_malformed(mapped)
    if orders is not None:
        m = m.with_columns(pl.col("source").cast(pl.Utf8)).join(orders, on="source", how="left",
                                                                  maintain_order="left")
    df = m.select(
        pl.col("source").cast(pl.Utf8),
        pl.col("source_record_id").cast(pl.Utf8).str.strip_chars(),
        pl.coalesce(
            pl.col("full_name"),
            pl.concat_str("given_name", "surname", separator=" ", ignore_nulls=True).replace("", None),
        ).alias("raw_name"),
        pl.col("given_name").alias("__given"),
        pl.col("surname").alias("__surname"),
        pl.col("company_name").alias("raw_company_name"),
        pl.col("email").alias("raw_email"),
        pl.col("phone").alias("raw_phone"),
        pl.col("street").alias("raw_street"),
        pl.col("postal_code").alias("raw_postal_code"),
        pl.col("city").alias("raw_city"),
        pl.col("country").alias("raw_country"),
        pl.col("vat_id").alias("raw_vat_id"),
        raw_text(m, "created_at").alias("__raw_created_at"),
        raw_text(m, "updated_at").alias("__raw_updated_at"),
        _timestamp(m, "created_at", date_format).alias("created_at"),
        _timestamp(m, "updated_at", date_format).alias("updated_at"),
    )
    df = _names(df)
    stated = country_code(pl.col("raw_country"))
    located = pl.coalesce(stated, city_country(pl.col("raw_city"), fuzzy=True))
    hinted = pl.coalesce(pl.col("__located"), email_country(pl.col("raw_email")),
                         phone_layout_country(pl.col("raw_phone")))
    df = (
        df.with_columns(__located=located)
        .with_columns(__hinted=hinted)
        .with_columns(**contact_fields(pl.col("__located"), phone_country=pl.col("__hinted")))
        .with_columns(country=pl.coalesce(pl.col("__located"), phone_country(pl.col("phone"))))
    )
    result = apply_rules(df.drop("__given", "__surname", "__located", "__hinted"), now=now or datetime.now(UTC))
    extra = []
    if "_recovered_from_page" in m.columns:
        source = m["source"][0] if m.height else ""
        recovered = recovered_record_issues(m, source=source, id_column="source_record_id")
        extra.append(recovered.join(result.customers.select("source_record_id"), on="source_record_id",
                                    how="semi"))
    if "file_encoding" in m.columns:
        extra.append(file_encoding_issues(m))
    extra = [e for e in extra if e.height]
    if not extra and malformed.height == 0:
        return result
    return StageResult(customers=result.customers, quarantine=pl.concat([result.quarantine, malformed]),
                       field_issues=pl.concat([result.field_issues, *extra]))


def _split_malformed(mapped: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows the connector marked as not fitting their header (``_row_error``: extra fields, no header
    row) go to quarantine whole, rule ``malformed_row``: their values may sit in the wrong fields."""
    if "_row_error" not in mapped.columns:
        return mapped, pl.DataFrame(schema=QUARANTINE_SCHEMA)
    bad = pl.col("_row_error").is_not_null()
    quarantine = mapped.filter(bad).select(
        pl.col("source").cast(pl.Utf8), pl.col("source_record_id").cast(pl.Utf8).str.strip_chars(),
        pl.lit("malformed_row").alias("rule"), pl.lit("row").alias("field"),
        pl.col("_row_error").cast(pl.Utf8).alias("raw_value"),
    ).cast(QUARANTINE_SCHEMA)
    return mapped.filter(~bad).drop("_row_error"), quarantine
