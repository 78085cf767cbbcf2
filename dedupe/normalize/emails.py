"""E-mail cleanup, a syntax check, and a matching key that folds provider aliases."""

from __future__ import annotations

import polars as pl

from dedupe.normalize._columnwise import columnwise, keep_name
from dedupe.normalize.text import clean_text

#: Providers that ignore dots in the local part and treat ``googlemail.com`` as ``gmail.com``.
DOTLESS_DOMAINS: tuple[str, ...] = ("gmail.com", "googlemail.com")

# ASCII syntax (RFC 5321 without SMTPUTF8): Unicode classes would make the check 40x slower.
_LOCAL = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_EMAIL_RE = rf"^{_LOCAL}@{_LABEL}(?:\.{_LABEL})*\.[a-z]{{2,63}}$"


def normalize_email(expr: pl.Expr | str) -> pl.Expr:
    """Trimmed, lower-cased address; placeholders (``n/a``, ``-`` ...) become null. Not validated."""
    return clean_text(expr).str.to_lowercase()


def is_valid_email(expr: pl.Expr | str) -> pl.Expr:
    """Syntax check on a :func:`normalize_email` value: one ``@``, dotted domain, no blanks or ``..``.

    ASCII addresses only (internationalised addresses count as invalid). Null stays null
    (missing is not invalid).
    """
    return normalize_email(expr).str.contains(_EMAIL_RE)


def email_domain(expr: pl.Expr | str) -> pl.Expr:
    """The part after the ``@`` (lower-case)."""
    return keep_name(normalize_email(expr).str.split_exact("@", 1).struct.field("field_1"), expr)


def email_canonical(expr: pl.Expr | str) -> pl.Expr:
    """Matching key: ``+tag`` dropped; for Gmail dots removed and ``googlemail.com`` -> ``gmail.com``.

    A comparison helper: the stored e-mail keeps what the customer wrote.
    """
    return keep_name(_canonical_of_normalized(normalize_email(expr)), expr)


@columnwise(pl.Utf8())
def _canonical_of_normalized(s: pl.Expr) -> pl.Expr:
    parts = s.str.split_exact("@", 1)
    local = parts.struct.field("field_0").str.replace(r"\+.*$", "")
    domain = parts.struct.field("field_1")
    dotless = domain.is_in(list(DOTLESS_DOMAINS))
    local = pl.when(dotless).then(local.str.replace_all(".", "", literal=True)).otherwise(local)
    domain = pl.when(dotless).then(pl.lit("gmail.com")).otherwise(domain)
    return pl.when(s.str.contains(_EMAIL_RE)).then(local + "@" + domain)


#: Mail providers used almost only in one country (the ccTLD covers the rest).
PROVIDER_COUNTRY: dict[str, str] = {
    "qq.com": "CN", "163.com": "CN", "126.com": "CN", "sina.com": "CN", "sina.cn": "CN", "sohu.com": "CN",
    "foxmail.com": "CN", "yeah.net": "CN", "aliyun.com": "CN", "139.com": "CN",
    "laposte.net": "FR", "btinternet.com": "GB", "sky.com": "GB", "comcast.net": "US", "att.net": "US",
    "verizon.net": "US", "sbcglobal.net": "US",
}
_CCTLD = {"de": "DE", "fr": "FR", "uk": "GB", "cn": "CN", "us": "US", "at": "AT", "ch": "CH", "it": "IT",
          "es": "ES", "nl": "NL", "be": "BE", "hk": "HK", "tw": "TW", "jp": "JP", "ca": "CA", "au": "AU"}


def email_country(expr: pl.Expr | str) -> pl.Expr:
    """ISO-2 hinted by the address's domain (``web.de`` -> DE, ``qq.com`` -> CN), else null.

    A weak signal, for choosing a phone's default country when a record has no other.
    """
    return keep_name(_country_of_domain(email_domain(expr)), expr)


@columnwise(pl.Utf8())
def _country_of_domain(domain: pl.Expr) -> pl.Expr:
    tld = domain.str.extract(r"\.([a-z]{2})$", 1)
    return pl.coalesce(
        domain.replace_strict(PROVIDER_COUNTRY, default=None, return_dtype=pl.Utf8),
        tld.replace_strict(_CCTLD, default=None, return_dtype=pl.Utf8),
    )
