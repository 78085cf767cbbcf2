"""Company names (legal-suffix canonicalisation, a matching core) and VAT / tax ids."""

from __future__ import annotations

import polars as pl

from dedupe.normalize._columnwise import columnwise, keep_name
from dedupe.normalize.text import PLACEHOLDERS, clean_text

#: Values typed into a company field to mean "private person".
NO_COMPANY: tuple[str, ...] = (
    *PLACEHOLDERS,
    "private",
    "privat",
    "privatperson",
    "particulier",
    "個人",
    "个人",
    "none",
    "self",
    "self-employed",
    "individual",
)

_D = r"\.?\s?"  # optional dot and blank between the letters of an abbreviation
#: (pattern for the suffix at the end of the name, canonical form), most specific first.
LEGAL_SUFFIXES: tuple[tuple[str, str], ...] = (
    (r"g\.?m\.?b\.?h\.?\s*(?:&|und|u\.?)\s*co\.?\s*kg", "GmbH & Co. KG"),
    (r"co(?:\.|mpany)?\s*,?\s*(?:ltd\.?|limited)", "Co., Ltd."),
    (rf"g{_D}m{_D}b{_D}h\.?", "GmbH"),
    (r"incorporated|inc\.?", "Inc."),
    (r"corporation|corp\.?", "Corp."),
    (r"limited|ltd\.?", "Ltd"),
    (rf"l{_D}l{_D}c\.?", "LLC"),
    (r"s\.?\s?à\s?r\.?\s?l\.?|s\.?a\.?r\.?l\.?", "SARL"),
    (rf"s{_D}a{_D}s\.?", "SAS"),
    (r"s\.a\.|sa", "SA"),
    (r"aktiengesellschaft|a\.g\.|ag", "AG"),
    (r"p\.?l\.?c\.?", "PLC"),
    (r"kgaa", "KGaA"),
    (r"kg", "KG"),
    (r"ug\s*\(haftungsbeschränkt\)", "UG (haftungsbeschränkt)"),
    (r"b\.?v\.?", "BV"),
    (r"n\.?v\.?", "NV"),
    (r"s\.?p\.?a\.?", "S.p.A."),
    (r"s\.?r\.?l\.?", "S.r.l."),
    (r"pty\.?\s*ltd\.?", "Pty Ltd"),
)
#: Chinese legal forms (simplified and traditional) -> canonical.
ZH_LEGAL_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("有限责任公司", "有限公司"),
    ("有限責任公司", "有限公司"),
    ("股份有限公司", "股份有限公司"),
    ("有限公司", "有限公司"),
)

_SUFFIX_ALT = "|".join(f"(?:{p})" for p, _ in LEGAL_SUFFIXES)
_ANY_SUFFIX_RE = rf"(?i)[\s,]+(?:{_SUFFIX_ALT})$"


def _expr(expr: pl.Expr | str) -> pl.Expr:
    return pl.col(expr) if isinstance(expr, str) else expr


def normalize_company(expr: pl.Expr | str) -> pl.Expr:
    """Company name with its legal suffix in canonical form (``Gmbh``/``G.m.b.H.`` -> ``GmbH``).

    ``Acme, Inc`` -> ``Acme Inc.``; ``Limited`` -> ``Ltd``; ``有限责任公司`` -> ``有限公司``;
    placeholders and "private" markers (``-``, ``particulier``, ``个人``) -> null.
    """
    return keep_name(_canonical_suffix(clean_text(_expr(expr), placeholders=NO_COMPANY)), expr)


@columnwise(pl.Utf8())
def _canonical_suffix(s: pl.Expr) -> pl.Expr:
    tail = s.str.extract(rf"(?i)([\s,]+(?:{_SUFFIX_ALT}))$", 1)
    written = tail.str.strip_chars(" ,")
    canonical = pl.when(False).then(pl.lit(None, dtype=pl.Utf8))
    for pattern, form in LEGAL_SUFFIXES:
        canonical = canonical.when(written.str.contains(rf"(?i)^(?:{pattern})$")).then(pl.lit(form))
    stem = s.str.slice(0, s.str.len_chars() - tail.str.len_chars())
    s = pl.when(tail.is_not_null() & (stem.str.len_chars() > 0)).then(stem + " " + canonical).otherwise(s)
    for zh_written, zh_form in ZH_LEGAL_SUFFIXES:
        s = s.str.replace(f"{zh_written}$", zh_form)
    return s.str.strip_chars()


def company_core(expr: pl.Expr | str) -> pl.Expr:
    """Matching key: legal suffix stripped, case-folded, punctuation dropped (``Müller GmbH`` -> ``müller``)."""
    s = normalize_company(expr)
    s = s.str.replace(_ANY_SUFFIX_RE, "")
    for written, _ in ZH_LEGAL_SUFFIXES:
        s = s.str.replace(f"{written}$", "")
    s = s.str.to_lowercase().str.replace_all("&", " and ").str.replace_all(r"[^\p{L}\p{N}]+", " ")
    return s.str.strip_chars().replace("", None)


#: Countries whose VAT ids carry a two-letter prefix (EU members use their ISO code, Greece EL).
_VAT_COUNTRIES = (
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GB", "HR", "HU", "IE",
    "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "CH", "NO", "XI",
)
VAT_PREFIX: dict[str, str] = {**{c: c for c in _VAT_COUNTRIES}, "GR": "EL"}


def normalize_vat(expr: pl.Expr | str, country: pl.Expr | str | None = None) -> pl.Expr:
    """VAT / tax id upper-cased, blanks and dots removed, country prefix added when missing.

    ``de 919 293 380`` -> ``DE919293380``; ``919293380`` with ``DE`` -> ``DE919293380``; US EINs
    (``02-4326080``) and Chinese credit codes are kept as they are apart from case and blanks.
    """
    s = clean_text(_expr(expr)).str.to_uppercase().str.replace_all(r"[\s.]", "")
    return keep_name(_vat_prefixed(s, country), expr)


@columnwise(pl.Utf8())
def _vat_prefixed(s: pl.Expr, country: pl.Expr | None = None) -> pl.Expr:
    cc = (pl.lit(None, dtype=pl.Utf8) if country is None else country).cast(pl.Utf8).str.to_uppercase()
    prefix = cc.replace_strict(VAT_PREFIX, default=None, return_dtype=pl.Utf8)
    needs = prefix.is_not_null() & s.str.contains(r"^\d")
    return pl.when(needs).then(prefix + s).otherwise(s)
