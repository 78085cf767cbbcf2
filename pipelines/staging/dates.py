"""Timestamps and dates from the shapes sources deliver them in, as UTC datetimes.

Naive timestamps (the ERP's ``2015-01-07 01:07:37``) are read as UTC: the ERP does not say which
time zone it means and customers span several, so no local zone would be right for all of them.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

#: Earliest plausible date in customer data; earlier values are treated as errors.
MIN_DATE = datetime(1900, 1, 1)

_UTC = pl.Datetime("us", "UTC")
_DATE_LIKE = r"^\d{1,4}[-./]\d{1,2}[-./]\d{1,4}(?:[ T].*)?$|^\d{8}$"


def _text_timestamp(s: pl.Expr) -> pl.Expr:
    s = s.str.strip_chars().str.replace(r"Z$", "+00:00")
    with_offset = s.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_zone="UTC", time_unit="us")
    with_offset_sp = s.str.to_datetime("%Y-%m-%d %H:%M:%S%.f%z", strict=False, time_zone="UTC", time_unit="us")
    naive = pl.coalesce(
        s.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="us"),
        s.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us"),
        s.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")),
    ).dt.replace_time_zone("UTC")
    return pl.coalesce(with_offset, with_offset_sp, naive)


def timestamp_utc(df: pl.DataFrame, name: str) -> pl.Expr:
    """Column ``name`` of ``df`` as a UTC datetime, whatever its dtype (text, naive or zoned datetime, date).

    dlt puts values it could not coerce into ``<name>__v_text``: those are parsed too.
    """
    if name not in df.columns:
        return pl.lit(None, dtype=_UTC)
    dtype = df.schema[name]
    col = pl.col(name)
    if isinstance(dtype, pl.Datetime):
        out = (col.dt.convert_time_zone("UTC") if dtype.time_zone else col.dt.replace_time_zone("UTC"))
        out = out.cast(_UTC)
    elif dtype == pl.Date:
        out = col.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    else:
        out = _text_timestamp(col.cast(pl.Utf8))
    variant = f"{name}__v_text"
    if variant in df.columns:
        out = pl.coalesce(out, _text_timestamp(pl.col(variant).cast(pl.Utf8)))
    return out


def raw_text(df: pl.DataFrame, name: str) -> pl.Expr:
    """Column ``name`` as text (datetimes in ISO form), with a dlt ``__v_text`` variant folded in."""
    if name not in df.columns:
        return pl.lit(None, dtype=pl.Utf8)
    dtype = df.schema[name]
    if isinstance(dtype, pl.Datetime):
        out = pl.col(name).dt.to_string("%Y-%m-%dT%H:%M:%S%z" if dtype.time_zone else "%Y-%m-%d %H:%M:%S")
    elif dtype == pl.Date:
        out = pl.col(name).dt.to_string("%Y-%m-%d")
    else:
        out = pl.col(name).cast(pl.Utf8)
    variant = f"{name}__v_text"
    if variant in df.columns:
        out = pl.coalesce(out, pl.col(variant).cast(pl.Utf8))
    return out


def text_date(s: pl.Expr, *, slash_format: pl.Expr | str = "%d/%m/%Y") -> pl.Expr:
    """A date written as text: ISO (with or without time), ``dd.mm.yyyy``, ``YYYYMMDD``, or slashed.

    ``slash_format`` (``"%d/%m/%Y"`` or ``"%m/%d/%Y"``, may be a per-row expression) resolves
    ``06/04/2015``. Returns a UTC datetime at midnight, null when the text is no valid date.
    """
    s = s.str.strip_chars()
    fmt = pl.lit(slash_format) if isinstance(slash_format, str) else slash_format
    slashed = pl.when(fmt == "%m/%d/%Y").then(s.str.to_date("%m/%d/%Y", strict=False)).otherwise(
        s.str.to_date("%d/%m/%Y", strict=False))
    date = (
        pl.when(s.str.contains(r"^\d{4}-\d{1,2}-\d{1,2}(?:[ T]|$)"))
        .then(s.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False))
        .when(s.str.contains(r"^\d{8}$")).then(s.str.to_date("%Y%m%d", strict=False))
        .when(s.str.contains(r"^\d{1,2}\.\d{1,2}\.\d{4}$")).then(s.str.to_date("%d.%m.%Y", strict=False))
        .when(s.str.contains(r"^\d{1,2}/\d{1,2}/\d{4}$")).then(slashed)
        .when(s.str.contains(r"^\d{4}/\d{1,2}/\d{1,2}$")).then(s.str.to_date("%Y/%m/%d", strict=False))
        .when(s.str.contains(r"^\d{5}(?:\.0+)?$")).then(  # Excel serial day number
            pl.lit(datetime(1899, 12, 30)).cast(pl.Date)
            + pl.duration(days=s.str.replace(r"\.0+$", "").cast(pl.Int64, strict=False)))
    )
    return date.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def looks_like_date(s: pl.Expr) -> pl.Expr:
    """True where the text has the shape of a date (so a failed parse means an impossible date)."""
    return s.str.strip_chars().str.contains(_DATE_LIKE)


def slash_evidence(s: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(day-first evidence, month-first evidence) for one ``a/b/yyyy`` value: a part above 12."""
    parts = s.str.extract_groups(r"^(\d{1,2})/(\d{1,2})/\d{4}$")
    a = parts.struct.field("1").cast(pl.Int32, strict=False)
    b = parts.struct.field("2").cast(pl.Int32, strict=False)
    return ((a > 12) & (b <= 12)).fill_null(False), ((b > 12) & (a <= 12)).fill_null(False)


def in_range(ts: pl.Expr, *, now: datetime) -> pl.Expr:
    """True for timestamps from 1900 up to ``now`` (a UTC-aware datetime)."""
    return ts.is_between(pl.lit(MIN_DATE).dt.replace_time_zone("UTC"), pl.lit(now).dt.convert_time_zone("UTC"))
