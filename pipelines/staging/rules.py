"""Row and field rules shared by every source: what gets nulled, flagged or quarantined.

Field rules null a bad value and record a field issue (the row stays): ``malformed_email``,
``invalid_phone`` (``unresolved_phone`` when a national number has no country to read it
with), ``excel_error``, ``impossible_date`` / ``invalid_date``, ``formula_like`` (``=HYPERLINK(…)``,
``+cmd|…``, ``@SUM(…)``: a spreadsheet would run it); ``missing_name`` and ``encoding_damage``
(``ANDR?E``: characters lost to a wrong encoding upstream) only flag. Control and bidi
characters are removed from every normalised text field (the ``raw_*`` columns keep them).
Row rules move the row to quarantine (first matching rule wins):
``missing_primary_key``, ``duplicate_primary_key`` (within a source the most recent
``updated_at`` is kept), ``field_too_long`` (a value over :data:`FIELD_LIMITS`), ``no_identity``
(no name, no e-mail and no phone).
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from dedupe.canonical import RAW_SCHEMA, conform
from dedupe.normalize import clean_text, is_excel_error, is_valid_email
from dedupe.normalize.text import INVISIBLE, is_formula
from pipelines.staging.dates import in_range, looks_like_date
from pipelines.staging.result import FIELD_ISSUES_SCHEMA, QUARANTINE_SCHEMA, StageResult

_ROW = "__row"
#: Raw text of the two timestamps, carried by the source mappers for the date rules.
RAW_DATES = {"created_at": "__raw_created_at", "updated_at": "__raw_updated_at"}
#: Longest value a field may hold (characters); a longer one quarantines its row.
FIELD_LIMITS: dict[str, int] = {
    "given_name": 200, "surname": 200, "full_name": 400, "name_title": 100, "name_suffix": 100,
    "company_name": 400, "email": 254, "phone": 40, "street": 400, "postal_code": 20, "city": 200,
    "country": 60, "vat_id": 40,
}
#: Longest raw value kept in staging beside the normalised one.
RAW_LIMIT = 2000
#: Which normalised fields each raw column feeds.
RAW_FIELDS: dict[str, tuple[str, ...]] = {
    "raw_name": ("given_name", "surname", "full_name", "name_title", "name_suffix"),
    "raw_company_name": ("company_name",), "raw_email": ("email",), "raw_street": ("street",),
    "raw_postal_code": ("postal_code",), "raw_city": ("city",), "raw_vat_id": ("vat_id",),
}


def _issues(df: pl.DataFrame, mask: pl.Expr, *, field: str, rule: str, raw: str, action: str) -> pl.DataFrame:
    return df.filter(mask).select(
        _ROW, "source", "source_record_id", pl.lit(field).alias("field"), pl.lit(rule).alias("rule"),
        pl.col(raw).cast(pl.Utf8).alias("raw_value"), pl.lit(action).alias("action"),
    )


def _has_name() -> pl.Expr:
    return pl.any_horizontal(pl.col("given_name", "surname", "full_name").is_not_null())


def apply_rules(df: pl.DataFrame, *, now: datetime) -> StageResult:
    """Null/flag bad fields, quarantine bad rows, and conform the rest to the staged schema.

    ``df`` holds the canonical columns (e-mail normalised but not yet validated, timestamps as
    UTC datetimes not yet range-checked), the ``raw_*`` columns and ``__raw_created_at`` /
    ``__raw_updated_at``.
    """
    df = df.with_row_index(_ROW)
    issues: list[pl.DataFrame] = []

    text_fields = [f for f in FIELD_LIMITS if f in df.columns]
    df = df.with_columns(*[pl.col(f).cast(pl.Utf8).str.replace_all(INVISIBLE, "") for f in text_fields])
    df = df.with_columns(*[pl.when(pl.col(f) != "").then(pl.col(f)).alias(f) for f in text_fields])
    formula_fixes = {}
    for raw, fields in RAW_FIELDS.items():
        fields = tuple(f for f in fields if f in df.columns)
        if raw not in df.columns or not fields:
            continue
        formula = pl.any_horizontal(is_formula(pl.col(raw)), *[is_formula(pl.col(f)) for f in fields])
        issues.append(_issues(df, formula, field=raw.removeprefix("raw_"), rule="formula_like", raw=raw,
                              action="nulled"))
        for f in fields:
            formula_fixes[f] = pl.when(~formula).then(pl.col(f))
    df = df.with_columns(**formula_fixes)

    for raw in [*RAW_SCHEMA, *RAW_DATES.values()]:
        if raw in df.columns:
            field = raw.removeprefix("raw_").removeprefix("__raw_")
            issues.append(_issues(df, is_excel_error(pl.col(raw)), field=field, rule="excel_error",
                                  raw=raw, action="nulled"))

    # "ANDR?E", "H\ufffdfig": characters lost to a wrong text encoding upstream
    for raw in ("raw_name", "raw_company_name", "raw_street", "raw_city"):
        damaged = pl.col(raw).str.contains(r"\p{L}\?\p{L}|\p{L}\?$|\ufffd").fill_null(False)
        issues.append(_issues(df, damaged, field=raw.removeprefix("raw_"), rule="encoding_damage", raw=raw,
                              action="flagged"))

    bad_email = pl.col("email").is_not_null() & ~is_valid_email(pl.col("email")).fill_null(False)
    issues.append(_issues(df, bad_email, field="email", rule="malformed_email", raw="raw_email", action="nulled"))
    bad_phone = clean_text(pl.col("raw_phone")).is_not_null() & pl.col("phone").is_null()
    no_country = pl.col("country").is_null()
    issues.append(_issues(df, bad_phone & ~no_country, field="phone", rule="invalid_phone", raw="raw_phone",
                          action="nulled"))
    issues.append(_issues(df, bad_phone & no_country, field="phone", rule="unresolved_phone", raw="raw_phone",
                          action="nulled"))

    fixes = {"email": pl.when(~bad_email).then(pl.col("email"))}
    for col, raw in RAW_DATES.items():
        text = clean_text(pl.col(raw))
        present = text.is_not_null()
        impossible = present & looks_like_date(text) & (pl.col(col).is_null() | ~in_range(pl.col(col), now=now))
        unreadable = present & ~looks_like_date(text) & pl.col(col).is_null()
        issues.append(_issues(df, impossible, field=col, rule="impossible_date", raw=raw, action="nulled"))
        issues.append(_issues(df, unreadable, field=col, rule="invalid_date", raw=raw, action="nulled"))
        fixes[col] = pl.when(~impossible.fill_null(False)).then(pl.col(col))
    df = df.with_columns(**fixes)

    # Row rules, first match wins.
    no_key = pl.col("source_record_id").is_null() | (pl.col("source_record_id").str.strip_chars() == "")
    rank = (
        pl.struct(pl.col("updated_at").dt.epoch("us").fill_null(-(2**62)).neg(), pl.col(_ROW))
        .rank("ordinal").over("source", "source_record_id")
    )
    no_identity = ~_has_name() & pl.col("email").is_null() & pl.col("phone").is_null()
    too_long, long_field, long_value = _too_long(df)
    df = df.with_columns(
        __rule=pl.when(no_key).then(pl.lit("missing_primary_key"))
        .when(rank > 1).then(pl.lit("duplicate_primary_key"))
        .when(too_long).then(pl.lit("field_too_long"))
        .when(no_identity).then(pl.lit("no_identity")),
        __long_field=long_field, __long_value=long_value,
    )
    rule = pl.col("__rule")
    quarantine = df.filter(rule.is_not_null()).select(
        "source", "source_record_id", rule.alias("rule"),
        pl.when(rule == "no_identity").then(pl.lit("name"))
        .when(rule == "field_too_long").then(pl.col("__long_field"))
        .otherwise(pl.lit("source_record_id")).alias("field"),
        pl.when(rule == "no_identity").then(pl.col("raw_name"))
        .when(rule == "field_too_long").then(pl.col("__long_value"))
        .otherwise(pl.col("source_record_id")).alias("raw_value"),
    ).select(list(QUARANTINE_SCHEMA)).cast(QUARANTINE_SCHEMA)
    kept = df.filter(pl.col("__rule").is_null()).drop("__long_field", "__long_value")
    issues.append(_issues(kept, ~_has_name(), field="name", rule="missing_name", raw="raw_name", action="flagged"))

    kept_rows = kept.select(_ROW)
    field_issues = (
        pl.concat(issues).join(kept_rows, on=_ROW, how="semi").sort(_ROW, maintain_order=True)
        .select(list(FIELD_ISSUES_SCHEMA)).cast(FIELD_ISSUES_SCHEMA)
    )
    customers = conform(kept.with_columns(record_id=pl.col("source") + ":" + pl.col("source_record_id")))
    return StageResult(customers=customers, quarantine=quarantine, field_issues=field_issues)


def _too_long(df: pl.DataFrame) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(any field over its limit, the first such field, its length and first characters): a
    megabyte name must not reach the golden table, nor be copied whole into the quarantine."""
    limits = {r: RAW_LIMIT for r in RAW_SCHEMA if r in df.columns}   # name what the source wrote first
    limits |= {f: n for f, n in FIELD_LIMITS.items() if f in df.columns}
    over = {f: (pl.col(f).cast(pl.Utf8).str.len_chars() > n).fill_null(False) for f, n in limits.items()}
    if not over:
        return pl.lit(False), pl.lit(None, pl.Utf8), pl.lit(None, pl.Utf8)
    field, value = pl.lit(None, pl.Utf8), pl.lit(None, pl.Utf8)
    for f in reversed(list(over)):   # the first field over its limit names the reason
        text = pl.col(f).cast(pl.Utf8)
        sample = pl.format("{}… ({} characters)", text.str.slice(0, 80), text.str.len_chars())
        field = pl.when(over[f]).then(pl.lit(f.removeprefix("raw_"))).otherwise(field)
        value = pl.when(over[f]).then(sample).otherwise(value)
    return pl.any_horizontal(list(over.values())), field, value
