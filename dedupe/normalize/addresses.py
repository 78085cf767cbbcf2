"""Street, house number, postcode, city and country: canonical forms for golden records."""

from __future__ import annotations

import polars as pl
from rapidfuzz import fuzz, process

from dedupe.normalize._columnwise import columnwise, keep_name
from dedupe.normalize.places import CITY_COUNTRY, COUNTRY_ALIASES
from dedupe.normalize.text import clean_text, proper_case

#: English street types abbreviated as the last word (or before a comma) -> full form.
EN_STREET_TYPES: dict[str, str] = {
    "st": "Street", "str": "Street", "ave": "Avenue", "av": "Avenue", "rd": "Road", "blvd": "Boulevard",
    "bd": "Boulevard", "dr": "Drive", "ln": "Lane", "ct": "Court", "pl": "Place", "cl": "Close",
    "gdns": "Gardens", "cres": "Crescent", "terr": "Terrace", "ter": "Terrace", "sq": "Square",
    "pkwy": "Parkway", "hwy": "Highway", "dist": "District", "cir": "Circle", "mt": "Mount",
}
#: French street types abbreviated right after the house number -> full form.
FR_STREET_TYPES: dict[str, str] = {
    "r": "Rue", "bd": "Boulevard", "bld": "Boulevard", "boul": "Boulevard", "av": "Avenue", "ave": "Avenue",
    "pl": "Place", "ch": "Chemin", "all": "Allée", "imp": "Impasse", "q": "Quai", "rte": "Route",
    "fg": "Faubourg", "sq": "Square", "crs": "Cours",
}
_FR_NEEDS_DOT = {"r", "pl", "ch", "all", "imp", "q"}  # too short to expand without the dot


def _expr(expr: pl.Expr | str) -> pl.Expr:
    return pl.col(expr) if isinstance(expr, str) else expr


_HOUSE = r"\d+[A-Za-z]?(?:\s+(?:bis|ter))?"
_FR_TYPE_RE = "|".join(rf"{a}\." if a in _FR_NEEDS_DOT else rf"{a}\.?" for a in FR_STREET_TYPES)
_EN_TYPE_RE = "|".join(EN_STREET_TYPES)


def normalize_street(expr: pl.Expr | str) -> pl.Expr:
    """Street line with abbreviations expanded to the canonical full form.

    ``8829 AGUIRRE AVE`` -> ``8829 Aguirre Avenue``, ``Hauptstr. 5`` -> ``Hauptstraße 5``,
    ``178, Bd de la Gare`` -> ``178 Boulevard de la Gare``, ``Berliner Str. 12`` -> ``Berliner Straße 12``.
    Only all-caps / all-lower lines are re-cased.
    """
    s = _french_types(proper_case(clean_text(_expr(expr))))
    return keep_name(_english_types(_english_types(_german_types(s))), expr)


def _type_name(token: pl.Expr, table: dict[str, str]) -> pl.Expr:
    return token.str.to_lowercase().str.strip_suffix(".").replace_strict(table, default=None, return_dtype=pl.Utf8)


# One regex pass per convention, not one per abbreviation (the hot path for millions of rows);
# each stage is columnwise so its input is computed once.
@columnwise(pl.Utf8())
def _french_types(s: pl.Expr) -> pl.Expr:
    """``178, Bd de la Gare`` / ``182 bis r. des Écoles``: the type right after the number."""
    fr = s.str.replace(rf"^({_HOUSE})\s*,\s*", "$1 ").str.extract_groups(
        rf"(?i)^({_HOUSE})\s+({_FR_TYPE_RE})\s+(.+)$")
    fr_type = _type_name(fr.struct.field("2"), FR_STREET_TYPES)
    return pl.when(fr_type.is_not_null()).then(
        pl.concat_str(fr.struct.field("1"), fr_type, fr.struct.field("3"), separator=" ")
    ).otherwise(s.str.replace(rf"^({_HOUSE})\s*,\s*", "$1 "))


@columnwise(pl.Utf8())
def _german_types(s: pl.Expr) -> pl.Expr:
    """``Hauptstr. 5``, ``Berliner Strasse 12``, ``Marktpl. 3``."""
    return (
        s.str.replace(r"(?i)(\p{L})(?:str\.|strasse)(\s|$)", "${1}straße$2")
        .str.replace(r"(?i)(^|[\s-])(?:str\.|strasse)(\s|$)", "${1}Straße$2")
        .str.replace(r"(\p{Ll})pl\.(\s|$)", "${1}platz$2")
    )


@columnwise(pl.Utf8())
def _english_types(s: pl.Expr) -> pl.Expr:
    """The last type abbreviation that ends the line or precedes a comma (``Keji Rd, Nanshan Dist.``)."""
    en = s.str.extract_groups(rf"(?i)^(.*\s)({_EN_TYPE_RE})\.?(\s*,.*)?$")
    en_type = _type_name(en.struct.field("2"), EN_STREET_TYPES)
    out = pl.when(en_type.is_not_null()).then(
        pl.concat_str(en.struct.field("1"), en_type, en.struct.field("3").fill_null(""))).otherwise(s)
    return out.str.replace_all(r"\s+", " ").str.strip_chars()


def house_number(expr: pl.Expr | str) -> pl.Expr:
    """House number as written (``"12a"``, ``"182bis"``, ``"88"`` from ``88号``/``No. 88``), else null."""
    return keep_name(_house_number_of(clean_text(_expr(expr))), expr)


@columnwise(pl.Utf8())
def _house_number_of(s: pl.Expr) -> pl.Expr:
    return pl.coalesce(
        s.str.extract(r"(\d+\s*[A-Za-z]?)号", 1),
        s.str.extract(r"(?i)^No\.?\s*(\d+[A-Za-z]?)\b", 1),
        s.str.extract(r"^(\d+[A-Za-z]?(?:\s+(?:bis|ter))?)\b", 1),
        s.str.extract(r"\s(\d+\s?[A-Za-z]?(?:-\d+[A-Za-z]?)?)$", 1),
    ).str.replace_all(" ", "")


def normalize_postcode(expr: pl.Expr | str, country: pl.Expr | str | None = None) -> pl.Expr:
    """Upper-cased postcode with the country's canonical layout.

    GB ``ls156jz`` -> ``LS15 6JZ``; US 5 digits with leading zeros restored (``4157`` -> ``04157``),
    ZIP+4 as ``12345-6789``; DE/FR 5 digits (``D-10115`` -> ``10115``); CN 6 digits.
    """
    s = clean_text(_expr(expr)).str.to_uppercase().str.replace(r"^(\d+)\.0+$", "$1")
    return keep_name(_postcode_layout(s, country), expr)


@columnwise(pl.Utf8())
def _postcode_layout(s: pl.Expr, country: pl.Expr | None = None) -> pl.Expr:
    cc = (pl.lit(None, dtype=pl.Utf8) if country is None else country).cast(pl.Utf8).str.to_uppercase()
    compact = s.str.replace_all(r"[\s.]", "")
    gb = compact.str.replace(r"^([A-Z]{1,2}\d[A-Z\d]?)(\d[A-Z]{2})$", "$1 $2")
    us = (
        pl.when(compact.str.contains(r"^\d{3,5}$")).then(compact.str.zfill(5))
        .when(compact.str.contains(r"^\d{5}-?\d{4}$")).then(compact.str.replace(r"^(\d{5})-?(\d{4})$", "$1-$2"))
        .otherwise(s)
    )
    de_fr = compact.str.replace(r"^(?:D|F|DE|FR)-", "")
    de_fr = pl.when(de_fr.str.contains(r"^\d{4}$")).then(de_fr.str.zfill(5)).otherwise(de_fr)
    guess_gb = cc.is_null() & compact.str.contains(r"^[A-Z]{1,2}\d[A-Z\d]?\d[A-Z]{2}$")
    return (
        pl.when((cc == "GB") | guess_gb).then(gb)
        .when(cc == "US").then(us)
        .when(cc.is_in(["DE", "FR"])).then(de_fr)
        .when(cc == "CN").then(compact)
        .otherwise(s)
    )


def normalize_city(expr: pl.Expr | str) -> pl.Expr:
    """City as written, trimmed and proper-cased; ``Portland, OR`` -> ``Portland``. Chinese kept as written."""
    s = clean_text(_expr(expr))
    s = s.str.replace(r"^(.+?)\s*,\s*[A-Za-z]{2}\.?$", "$1")
    return proper_case(s)


def _country_key(expr: pl.Expr) -> pl.Expr:
    return (
        clean_text(expr).str.to_lowercase().str.replace_all(r"[.\u3002]", "")
        .str.replace_all(r"\s+", " ").str.strip_chars()
    )


def country_code(expr: pl.Expr | str) -> pl.Expr:
    """ISO-2 country from a code or a name in several languages (``Deutschland``, ``中国``, ``UK``), else null."""
    return _country_key(_expr(expr)).replace_strict(COUNTRY_ALIASES, default=None, return_dtype=pl.Utf8)


def city_country(expr: pl.Expr | str, *, fuzzy: bool = False) -> pl.Expr:
    """ISO-2 country of a well-known, unambiguous city name (``München``, ``深圳市``, ``Leeds``), else null.

    With ``fuzzy``, a name one typo away from a known city (``Seattl``) also counts
    (rapidfuzz ratio >= 85 over the distinct unmatched names).
    """
    key = _country_key(normalize_city(_expr(expr))).str.replace(r"市$", "")
    return keep_name(_country_of_city_key(key, fuzzy=fuzzy), expr)


@columnwise(pl.Utf8())
def _country_of_city_key(key: pl.Expr, *, fuzzy: bool) -> pl.Expr:
    exact = key.replace_strict(CITY_COUNTRY, default=None, return_dtype=pl.Utf8)
    if not fuzzy:
        return exact
    near = pl.when(exact.is_null()).then(key).map_batches(_fuzzy_city, return_dtype=pl.Utf8, is_elementwise=True)
    return pl.coalesce(exact, near)


def _fuzzy_city(s: pl.Series) -> pl.Series:
    uniq = s.drop_nulls().unique()
    uniq = uniq.filter(uniq.str.len_chars() >= 4)
    if uniq.is_empty():
        return pl.Series(s.name, [None] * len(s), dtype=pl.Utf8)
    names = list(CITY_COUNTRY)
    scores = process.cdist(uniq.to_list(), names, scorer=fuzz.ratio, score_cutoff=85, workers=1)
    best = scores.argmax(axis=1)
    found = scores.max(axis=1) > 0
    countries = pl.Series([CITY_COUNTRY[names[b]] if ok else None for b, ok in zip(best, found, strict=True)],
                          dtype=pl.Utf8)
    return s.replace_strict(uniq, countries, default=None, return_dtype=pl.Utf8)
