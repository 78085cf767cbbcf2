"""Phone numbers to E.164 with a per-record default country.

The common layouts (national with trunk ``0``, ``+CC``, ``00CC``, ``+49 (0)``, numbers that lost
their leading ``0``/``+`` in Excel, extensions) are resolved with polars string expressions and
checked against each country's number pattern from the ``phonenumbers`` metadata. Only the
values this fast path cannot place go through ``phonenumbers.parse``, once per distinct
(value, country) pair. Validity means "matches the country's general number pattern" (what
``phonenumbers`` calls a possible number with plausible leading digits), not that the range is
allocated: new ranges and test data stay usable. Numbers shorter than 8 digits in all are refused.
"""

from __future__ import annotations

import functools

import phonenumbers
import polars as pl
from phonenumbers import PhoneMetadata

from dedupe.normalize._columnwise import columnwise, keep_name
from dedupe.normalize.text import squish

# Extension markers: "ext. 12", "ext 12", "x12", "Durchwahl 12", "#12" at the end of the value.
_EXT_RE = r"(?i)\s*(?:ext\.?|extn\.?|extension|x|durchwahl|dw\.?|poste|#)\s*\d{1,6}\s*$"
# A short dashed tail ("-12") may be an extension or the last group of the number.
_DASH_TAIL_RE = r"\s*[-\u2010-\u2015]\s*\d{1,3}\s*$"


@functools.cache
def _tables() -> tuple[dict[str, str], dict[str, str], dict[str, str], dict[str, str]]:
    """(region -> calling code, region -> trunk prefix, code -> number pattern, code -> main region)."""
    region_code: dict[str, str] = {}
    region_prefix: dict[str, str] = {}
    code_patterns: dict[str, list[str]] = {}
    code_region: dict[str, str] = {}
    for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items():
        key = str(code)
        code_region[key] = regions[0]
        for region in regions:
            meta = (PhoneMetadata.metadata_for_nongeo_region(code) if region == "001"
                    else PhoneMetadata.metadata_for_region(region))
            if meta is None:
                continue
            pattern = meta.general_desc.national_number_pattern
            if pattern and pattern not in code_patterns.setdefault(key, []):
                code_patterns[key].append(pattern)
            if region != "001":
                region_code[region] = key
                region_prefix[region] = meta.national_prefix or ""
    patterns = {c: "^(?:" + "|".join(f"(?:{p})" for p in ps) + ")$" for c, ps in code_patterns.items()}
    return region_code, region_prefix, patterns, code_region


def _calling_code(s: pl.Expr) -> pl.Expr:
    codes = list(_tables()[2])
    body = s.str.strip_prefix("+")
    return (
        pl.when(body.str.slice(0, 1).is_in(codes)).then(body.str.slice(0, 1))
        .when(body.str.slice(0, 2).is_in(codes)).then(body.str.slice(0, 2))
        .when(body.str.slice(0, 3).is_in(codes)).then(body.str.slice(0, 3))
    )


@columnwise(pl.Utf8())
def calling_code(expr: pl.Expr | str) -> pl.Expr:
    """Country calling code (``"49"``) of an E.164 value; calling codes are prefix-free."""
    return _calling_code(expr)


@columnwise(pl.Utf8())
def phone_national_number(expr: pl.Expr | str) -> pl.Expr:
    """National significant number of an E.164 value (``+4915712071861`` -> ``15712071861``).

    For matching: the same line written with and without country code compares equal.
    """
    return expr.str.strip_prefix("+").str.slice(_calling_code(expr).str.len_chars())


@columnwise(pl.Utf8())
def phone_country(expr: pl.Expr | str) -> pl.Expr:
    """ISO-2 region that owns the E.164 value's calling code (``+1`` -> ``US``, ``+44`` -> ``GB``)."""
    return _calling_code(expr).replace_strict(_tables()[3], default=None, return_dtype=pl.Utf8)


def _plausible(e164: pl.Expr) -> pl.Expr:
    """E.164 candidate whose national number matches its calling code's pattern."""
    code = _calling_code(e164)
    pattern = code.replace_strict(_tables()[2], default=None, return_dtype=pl.Utf8)
    nsn = e164.str.slice(code.str.len_chars() + 1)
    return nsn.str.contains(pattern).fill_null(False) & e164.str.len_chars().is_between(9, 16)


#: Chinese mobile numbers: 11 digits, 13x-19x.
_CN_MOBILE_RE = r"^1[3-9]\d{9}$"


def _readings(digits: pl.Expr) -> list[pl.Expr]:
    """E.164 readings of a digit string, most likely first (needs columns intl, code, prefix)."""
    intl, code, prefix = pl.col("intl"), pl.col("code"), pl.col("prefix")
    # unknown or Chinese region, and not written in the North American layout (1-800-981-0427)
    china = ((pl.col("region").is_null() | (pl.col("region") == "CN"))
             & ~pl.col("text").str.contains(_NANP_LAYOUT_RE))
    return [
        pl.when(intl).then("+" + digits),
        # a Chinese mobile (1[3-9]x, 11 digits) written without +86: not a North American 1-800 number
        pl.when(~intl & china & digits.str.contains(_CN_MOBILE_RE)).then("+86" + digits),
        pl.when(~intl & (prefix != "") & digits.str.starts_with(prefix)).then(
            "+" + code + digits.str.slice(prefix.str.len_chars())),
        # Excel dropped the "+" of the region's own calling code: 4917712612823 in DE
        pl.when(~intl & digits.str.starts_with(code)).then("+" + digits),
        pl.when(~intl).then("+" + code + digits),
        # lost its "+", region unknown or foreign: only long digit strings
        pl.when(~intl & ~digits.str.starts_with("0") & (digits.str.len_chars() >= 11)).then("+" + digits),
    ]


#: ``(212) 555-0100``, ``212-555-0100``, ``212.555.0100``, ``1-212-555-0100``: the North American layout.
_NANP_LAYOUT_RE = r"^(?:\+?1[-. ]?)?(?:\([2-9]\d{2}\)\s?|[2-9]\d{2}[-. ])[2-9]\d{2}[-. ]\d{4}$"


@columnwise(pl.Utf8())
def phone_layout_country(expr: pl.Expr | str) -> pl.Expr:
    """Country a phone's layout betrays: ``"US"`` for the North American layout, else null.

    A hint for records without any country: no other national layout is this distinctive.
    Full-width digits (``１３８…``, typed with a Chinese input method) hint ``"CN"``.
    """
    raw = expr.cast(pl.Utf8)
    s = squish(raw).str.replace(_EXT_RE, "")
    return (
        pl.when(s.str.contains(_NANP_LAYOUT_RE)).then(pl.lit("US"))
        .when(raw.str.contains(r"[\uff10-\uff19]")).then(pl.lit("CN"))  # full-width digits: a CJK input method
    )


@functools.lru_cache(maxsize=1 << 16)
def _parse_one(raw: str, region: str | None) -> str | None:
    """``phonenumbers`` for the layouts the fast path does not place."""
    try:
        number = phonenumbers.parse(raw, region or None)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_possible_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def _digits(text: pl.Expr) -> pl.Expr:
    d = text.str.replace_all(r"\D", "")
    return pl.when(text.str.starts_with("00")).then(d.str.slice(2)).otherwise(d)


def _resolve(pairs: pl.Series) -> pl.Series:
    """E.164 for a struct series of (text, region), computed once per distinct pair."""
    region_code, region_prefix, _, _ = _tables()
    df = pairs.struct.unnest()
    todo = (
        df.filter(pl.col("text").is_not_null()).unique()
        .with_columns(
            intl=pl.col("text").str.contains(r"^(?:\+|00[1-9])"),
            code=pl.col("region").replace_strict(region_code, default=None, return_dtype=pl.Utf8),
            prefix=pl.col("region").replace_strict(region_prefix, default=None, return_dtype=pl.Utf8),
            full=_digits(pl.col("text")),
            short=pl.when(pl.col("text").str.contains(_DASH_TAIL_RE))
            .then(_digits(pl.col("text").str.replace(_DASH_TAIL_RE, ""))),
        )
    )
    done: list[pl.DataFrame] = []
    for digits in ("short", "full"):
        for reading in _readings(pl.col(digits)):
            tried = todo.filter(pl.col(digits).is_not_null()).with_columns(__e164=reading)
            tried = tried.filter(pl.col("__e164").is_not_null())
            if tried.is_empty():
                continue
            ok = tried.filter(_plausible(pl.col("__e164"))).select("text", "region", "__e164")
            done.append(ok)
            todo = todo.join(ok, on=["text", "region"], how="anti", nulls_equal=True)
    rest = todo.filter(pl.col("full").str.len_chars() >= 6).select("text", "region")
    done.append(rest.with_columns(pl.Series(
        "__e164", [_parse_one(t, r) for t, r in rest.iter_rows()], dtype=pl.Utf8)))
    found = pl.concat(done)
    return df.join(found, on=["text", "region"], how="left", nulls_equal=True, maintain_order="left")["__e164"]


def normalize_phone(
    expr: pl.Expr | str, default_country: pl.Expr | str | None = None
) -> pl.Expr:
    """E.164 string (``+4915712071861``) or null when the value is not a plausible number.

    ``default_country`` is an expression giving the ISO-2 region used for national layouts
    (``"(0157) 1207 1861"`` with ``DE``); values with ``+CC`` or ``00CC`` need none.
    Extensions (``ext. 12``, ``x12``, ``-12``) are dropped; full-width digits are read.
    """
    s = pl.col(expr) if isinstance(expr, str) else expr
    region = (
        pl.lit(None, dtype=pl.Utf8) if default_country is None
        else (pl.col(default_country) if isinstance(default_country, str) else default_country)
    ).cast(pl.Utf8).str.to_uppercase()
    text = (
        squish(s)
        .str.replace(r"^(\d+)\.0+$", "$1")  # an Excel number exported as float
        .str.replace(_EXT_RE, "")
        .str.replace_all(r"\(\s*0\s*\)", "")
    )
    out = pl.struct(text.alias("text"), region.alias("region")).map_batches(
        _resolve, return_dtype=pl.Utf8, is_elementwise=True
    )
    return keep_name(out, expr)
