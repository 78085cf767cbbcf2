"""Link tokens: keyed hashes of normalised e-mails and phones that two departments can compare.

Both sides hold the same secret key (exchanged out of band, never with the data) and publish only
tokens; equal tokens mean equal normalised values, and without the key a token cannot be
reversed or guessed by hashing candidate addresses. ``kind`` separates the token spaces, so an
e-mail token never equals a phone token.

Normalisation: e-mail trimmed and lower-cased, a ``+tag`` dropped, dots dropped in the local part
of gmail/googlemail addresses (which ignore them); phone reduced to ``+`` and digits (pass E.164,
as ``staging.customers.phone`` holds it).
"""

from __future__ import annotations

import polars as pl

from pipelines.privacy.keys import hmac_hex, normalise_email

KINDS = ("email", "phone")
_GMAIL = ("gmail.com", "googlemail.com")


def normalised_for_link(value: pl.Expr, *, kind: str) -> pl.Expr:
    """The form a value is tokenised in (see the module docstring)."""
    if kind == "email":
        e = normalise_email(value)
        local = e.str.split("@").list.first().str.replace(r"\+.*$", "")
        domain = e.str.split("@").list.last()
        local = pl.when(domain.is_in(list(_GMAIL))).then(local.str.replace_all(".", "", literal=True)).otherwise(local)
        domain = pl.when(domain.is_in(list(_GMAIL))).then(pl.lit("gmail.com")).otherwise(domain)
        return pl.when(e.is_null()).then(None).otherwise(pl.concat_str(local, pl.lit("@"), domain))
    if kind == "phone":
        digits = value.cast(pl.Utf8).str.replace_all(r"[^0-9+]", "").str.replace(r"^00", "+")
        return pl.when(digits.str.count_matches(r"[0-9]") >= 6).then(digits).otherwise(None)
    raise ValueError(f"link token kind must be one of {', '.join(KINDS)}, got {kind!r}")


def link_token(value: pl.Expr | str, *, key: bytes | str, kind: str) -> pl.Expr:
    """A polars expression: the HMAC-SHA256 link token (hex) of each value of ``value`` (a column
    name or expression); null for a missing or unusable value."""
    if kind not in KINDS:
        raise ValueError(f"link token kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not key:
        raise ValueError("link token key is empty: both sides need the same non-empty secret key")
    raw_key = key.encode() if isinstance(key, str) else key
    expr = pl.col(value) if isinstance(value, str) else value
    token = normalised_for_link(expr, kind=kind).map_batches(
        lambda s: hmac_hex(s, raw_key, f"link:{kind}"), return_dtype=pl.Utf8)
    name = expr.meta.output_name(raise_if_undetermined=False)
    return token.alias(name) if name else token
