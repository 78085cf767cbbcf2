"""E-mail cleanup, a syntax check, and a matching key that folds provider aliases."""

from __future__ import annotations

import polars as pl

from dedupe.normalize.text import clean_text

#: Providers that ignore dots in the local part and treat ``googlemail.com`` as ``gmail.com``.
DOTLESS_DOMAINS: tuple[str, ...] = ("gmail.com", "googlemail.com")

_LOCAL = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[a-z0-9\p{L}](?:[a-z0-9\p{L}-]{0,61}[a-z0-9\p{L}])?"
_EMAIL_RE = rf"^{_LOCAL}@{_LABEL}(?:\.{_LABEL})*\.[a-z\p{{L}}]{{2,63}}$"


def normalize_email(expr: pl.Expr | str) -> pl.Expr:
    """Trimmed, lower-cased address; placeholders (``n/a``, ``-`` ...) become null. Not validated."""
    return clean_text(expr).str.to_lowercase()


def is_valid_email(expr: pl.Expr | str) -> pl.Expr:
    """Syntax check on a :func:`normalize_email` value: one ``@``, dotted domain, no blanks or ``..``.

    Null stays null (missing is not invalid).
    """
    s = normalize_email(expr)
    return s.str.contains(_EMAIL_RE) & (s.str.len_chars() <= 254)


def email_domain(expr: pl.Expr | str) -> pl.Expr:
    """The part after the ``@`` (lower-case)."""
    return normalize_email(expr).str.split_exact("@", 1).struct.field("field_1")


def email_canonical(expr: pl.Expr | str) -> pl.Expr:
    """Matching key: ``+tag`` dropped; for Gmail dots removed and ``googlemail.com`` -> ``gmail.com``.

    A comparison helper: the stored e-mail keeps what the customer wrote.
    """
    s = normalize_email(expr)
    parts = s.str.split_exact("@", 1)
    local = parts.struct.field("field_0").str.replace(r"\+.*$", "")
    domain = parts.struct.field("field_1")
    dotless = domain.is_in(list(DOTLESS_DOMAINS))
    local = pl.when(dotless).then(local.str.replace_all(".", "", literal=True)).otherwise(local)
    domain = pl.when(dotless).then(pl.lit("gmail.com")).otherwise(domain)
    return pl.when(is_valid_email(s)).then(local + "@" + domain)
