"""Masking of customer values before they appear in check outcomes, logs or Data Docs.

Samples of failing values are useful for debugging but must not carry personal data out of
the runner: e-mails keep their first character and domain, phones their country code and last
two digits, other personal fields their first character and a length class.

The project's one masking module: the checks, the review app, erasure and the masked BI tables
(``pipelines/privacy/views.py``) mask values with it; load errors (``connectors``) and run
summaries mask free text with :func:`mask_error`; the publishers show URLs with :func:`mask_url`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from functools import cache

import polars as pl

_EMAIL_MARKERS = ("email", "e_mail", "e-mail", "mail")
_PHONE_MARKERS = ("phone", "tel", "mobile", "fax")

#: Personal fields that are neither e-mails nor phones (names, address lines, tax ids, notes).
PERSONAL_COLUMNS: frozenset[str] = frozenset({
    "given_name", "surname", "full_name", "name", "first_name", "last_name", "contact_name",
    "name_title", "name_suffix", "maiden_surname", "street", "street_latin", "address",
    "address1", "address2", "vat_id", "tax_id", "dob", "birth_date", "notes",
    "_name_present", "_contact_present",
})

_LENGTH_CLASSES = ((3, "1-3"), (7, "4-7"), (15, "8-15"), (31, "16-31"))


def mask_value(value: object) -> str:
    """Keep the first character and a length class: ``"Jonathan" -> "J*** (len 8-15)"``."""
    text = str(value).strip()
    if not text:
        return ""
    n = len(text)
    length_class = next((label for limit, label in _LENGTH_CLASSES if n <= limit), "32+")
    return f"{text[0]}*** (len {length_class})"


def mask_email(value: object) -> str:
    """Keep the first character of the local part and the domain: ``"j***@example.com"``."""
    text = str(value).strip()
    local, at, domain = text.rpartition("@")
    if not at:
        return mask_value(text)
    return f"{local[:1]}***@{domain}"


@cache
def _calling_codes() -> frozenset[str]:
    import phonenumbers

    return frozenset(str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def mask_phone(value: object) -> str:
    """Keep the country calling code and the last two digits: ``"+49 *** ** 12"``."""
    text = str(value).strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) < 6:
        return "***"
    tail = digits[-2:]
    if text.startswith("+"):
        codes = _calling_codes()
        cc = next((digits[:k] for k in (1, 2, 3) if digits[:k] in codes), "")
        return f"+{cc} *** ** {tail}" if cc else f"+*** ** {tail}"
    return f"*** ** {tail}"


def mask_phones(values: pl.Series) -> pl.Series:
    """:func:`mask_phone` of every value of a text column, vectorised (nulls stay null).

    Printable-ASCII values (nearly all) are masked with polars expressions; any other value
    (Unicode digits or spaces, control characters) goes through :func:`mask_phone` itself, so
    the result is the same value for value.
    """
    text = values.cast(pl.Utf8)
    frame = pl.DataFrame({"v": text})
    ascii_ok = pl.col("v").str.contains(r"^[\x20-\x7E]*$")
    stripped = pl.col("v").str.strip_chars(" ")
    digits = stripped.str.replace_all(r"[^0-9]", "")
    tail = digits.str.slice(-2)
    codes = sorted(_calling_codes())
    cc = (pl.when(digits.str.slice(0, 1).is_in(codes)).then(digits.str.slice(0, 1))
          .when(digits.str.slice(0, 2).is_in(codes)).then(digits.str.slice(0, 2))
          .when(digits.str.slice(0, 3).is_in(codes)).then(digits.str.slice(0, 3)))
    fast = (pl.when(digits.str.len_chars() < 6).then(pl.lit("***"))
            .when(stripped.str.starts_with("+") & cc.is_not_null()).then(pl.format("+{} *** ** {}", cc, tail))
            .when(stripped.str.starts_with("+")).then(pl.format("+*** ** {}", tail))
            .otherwise(pl.format("*** ** {}", tail)))
    out = frame.select(pl.when(pl.col("v").is_not_null() & ascii_ok).then(fast).alias("m"), ascii_ok.alias("a"))
    other = frame.filter(pl.col("v").is_not_null() & ~ascii_ok.fill_null(True))["v"].unique()
    masked = out["m"]
    if other.len():
        slow = pl.Series([mask_phone(v) for v in other.to_list()], dtype=pl.Utf8)
        masked = masked.fill_null(text.replace_strict(other, slow, default=None, return_dtype=pl.Utf8))
    return masked.alias(values.name)


def column_kind(column: str) -> str:
    """``"email"``, ``"phone"``, ``"personal"`` or ``"plain"`` for a column name."""
    name = column.lower().removeprefix("raw_")
    if any(m in name for m in _EMAIL_MARKERS):
        return "email"
    if any(m in name for m in _PHONE_MARKERS):
        return "phone"
    if name in PERSONAL_COLUMNS or column.lower().startswith("raw_"):
        return "personal"
    return "plain"


def is_missing(value: object) -> bool:
    """True for None, NaN and pandas' NA/NaT (the null forms a pandas sample can hold)."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return type(value).__name__ in ("NAType", "NaTType")


def mask_for_column(column: str, value: object) -> str | None:
    """The text safe to show for ``value`` taken from ``column`` (None for a missing value)."""
    if is_missing(value):
        return None
    kind = column_kind(column)
    if kind == "email":
        return mask_email(value)
    if kind == "phone":
        return mask_phone(value)
    if kind == "personal":
        return mask_value(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


# -- free text: error messages and connection strings ------------------------------------------

_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.IGNORECASE)
_SECRET_PARAM = re.compile(
    r"(?P<key>\b(?:password|passwd|pwd|secret|token|access_token|api_key|apikey)=)[^&\s'\"]+",
    re.IGNORECASE,
)
_SECRET_HEADER = re.compile(r"(?P<key>(?:X-Shopify-Access-Token|Authorization)['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+",
                            re.IGNORECASE)
_EMAIL = re.compile(r"(?P<first>[\w.+-])[\w.+-]*@(?P<domain>[\w-]+(?:\.[\w-]+)+)")
_LONG_DIGITS = re.compile(r"(?<![0-9A-Za-z])\+?\d[\d ()./-]{7,}\d(?![0-9A-Za-z])")   # not inside ids/tokens
_NOT_A_PHONE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}|\d{4}-\d{2}-\d{2}(?:[ T]\d{2}(?::\d{2}){0,2})?")
_SQL_DETAIL = re.compile(r"\s*\[(?:SQL|parameters):.*", re.DOTALL)
_SQLA_BACKGROUND = re.compile(r"\s*\(Background on this error at:[^)]*\)")


def mask_error(text: str, *, limit: int = 500) -> str:
    """An error message safe for logs and tables: credentials, e-mails and phone-like digit runs masked.

    URL passwords (``postgresql://crm:***@host``), ``token=``/``password=``-style parameters and
    auth headers lose their values; SQLAlchemy's ``[SQL: ...]``/``[parameters: ...]`` parts (they
    can hold row values) are cut; e-mails keep their first character and domain (``j***@example.com``).
    """
    text = _SQL_DETAIL.sub("", str(text))
    text = _SQLA_BACKGROUND.sub("", text)
    text = _URL_PASSWORD.sub(r"\g<head>***@", text)
    text = _SECRET_PARAM.sub(r"\g<key>***", text)
    text = _SECRET_HEADER.sub(r"\g<key>***", text)
    text = _EMAIL.sub(r"\g<first>***@\g<domain>", text)
    text = _LONG_DIGITS.sub(lambda m: m[0] if _NOT_A_PHONE.fullmatch(m[0]) else "***", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def mask_url(url: str) -> str:
    """``url`` (or a ``key=value`` connection string) with its password replaced by ``***``."""
    url = re.sub(r"(?<=://)([^:/?#@]*):[^@/?#]*@", r"\1:***@", url)
    return re.sub(r"(?i)(password\s*=\s*)('[^']*'|[^\s&]+)", r"\1***", url)
