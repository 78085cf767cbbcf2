"""Masked customer tables for analysts, and who may read what in PostgreSQL.

An analyst needs to count, segment and join customers, not to contact them. The masked tables
(``golden.customers_masked``, ``golden.customer_360_masked``) therefore keep:

==================  =======================================================================
column              masked form
==================  =======================================================================
golden_id           kept (the join key)
email               ``email_hash``: keyed HMAC-SHA256 of the lower-case e-mail (stable, not
                    reversible without the warehouse key) and ``email_domain``
phone               ``phone_masked``: country code and last two digits (``+49 *** ** 12``)
postal_code         ``postal_district``: GB outward code, US/CA first 3, NL first 4, else first 2
city, country       kept
company_name        kept (a company's name is not personal data; sole traders are a known limit)
vat_id              ``has_vat_id`` only
names, street       dropped (with any other column named like personal data)
timestamps          kept as dates
everything else     kept (counts, revenue, RFM, lifecycle)
==================  =======================================================================

They are tables, not views: the e-mail hash is keyed, and a view would carry the key in its
definition, which every database user can read (``pg_views``). They are built from the golden
tables at publish time, so they never lag behind them.

PostgreSQL: ``bi_reader`` (analysts) reads the masked tables only; ``bi_full`` (roles that must
see contact data, e.g. customer service) reads the full tables too. Call
:func:`publish_postgres` with ``bi_views=MASKED_BI_VIEWS`` (it resets ``bi_reader``'s grants to
that list), then :func:`grant_bi_access` after every publish (a republished table starts with
no grants).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import polars as pl
import polars.selectors as cs

from expectations.masking import column_kind, mask_phones
from pipelines.privacy.keys import hash_key, hmac_hex, normalise_email
from pipelines.privacy.postgres import connect
from pipelines.publish.tables import split_table
from pipelines.warehouse import Warehouse

MASKED_TABLES = {"golden.customers": "golden.customers_masked",
                 "golden.customer_360": "golden.customer_360_masked"}
#: what the analysts' role may read
MASKED_BI_VIEWS = tuple(MASKED_TABLES.values())
#: what the full-access role may read
FULL_BI_TABLES = ("golden.customers", "golden.customer_360", "golden.crosswalk", *MASKED_BI_VIEWS)
_DROPPED = frozenset({
    "given_name", "surname", "full_name", "name", "first_name", "last_name", "contact_name",
    "name_title", "name_suffix", "maiden_surname", "street", "street_latin", "address",
    "address1", "address2", "dob", "birth_date", "notes", "raw_name", "raw_street",
})
_PURPOSE = "masked:email"


def mask_customers(df: pl.DataFrame, *, key: bytes, known: pl.DataFrame | None = None) -> pl.DataFrame:
    """The analyst's form of a golden customer table (see the module docstring). ``known``: e-mail
    hashes computed already (:func:`email_hashes` of a table masked with the same key), reused
    instead of hashing those e-mails again."""
    out = df
    if "email" in df.columns:
        norm = df.select(normalise_email(pl.col("email"))).to_series()
        out = out.with_columns(
            email_hash=_email_hashes(norm, key, known),
            email_domain=norm.str.split("@").list.last(),
        )
    if "phone" in df.columns:
        out = out.with_columns(phone_masked=_masked_phones(df["phone"]))
    if "postal_code" in df.columns:
        country = pl.col("country") if "country" in df.columns else pl.lit(None, pl.Utf8)
        out = out.with_columns(postal_district=postal_district(pl.col("postal_code"), country))
    if "vat_id" in df.columns:
        out = out.with_columns(has_vat_id=pl.col("vat_id").is_not_null() & (pl.col("vat_id").str.strip_chars() != ""))
    added = {"email_hash", "email_domain", "phone_masked", "postal_district", "has_vat_id"}
    drop = [c for c in df.columns
            if c in _DROPPED or c in ("email", "phone", "postal_code", "vat_id")
            or (c not in added and c != "golden_id" and column_kind(c) != "plain")]
    out = out.drop(drop).with_columns(cs.datetime().dt.date())
    first = [c for c in ("golden_id", "email_hash", "email_domain", "phone_masked", "postal_district",
                         "city", "country", "company_name", "has_vat_id") if c in out.columns]
    return out.select(*first, *[c for c in out.columns if c not in first])


def email_hashes(df: pl.DataFrame, masked: pl.DataFrame) -> pl.DataFrame:
    """``email`` (normalised) -> ``email_hash`` pairs of a table and its masked form, for ``known``."""
    if "email" not in df.columns or "email_hash" not in masked.columns:
        return pl.DataFrame(schema={"email": pl.Utf8, "email_hash": pl.Utf8})
    return (pl.DataFrame({"email": df.select(normalise_email(pl.col("email"))).to_series(),
                          "email_hash": masked["email_hash"]}).drop_nulls().unique("email"))


def _email_hashes(norm: pl.Series, key: bytes, known: pl.DataFrame | None) -> pl.Series:
    if known is None or known.is_empty():
        return hmac_hex(norm, key, _PURPOSE)
    known = known.select("email", "email_hash").unique("email")   # gathered from several tables: one row each
    found = norm.to_frame("email").join(known, on="email", how="left", maintain_order="left")["email_hash"]
    todo = norm.filter(found.is_null() & norm.is_not_null())
    if todo.is_empty():
        return found
    fresh = pl.DataFrame({"email": todo, "__h": hmac_hex(todo, key, _PURPOSE)}).unique("email")
    return (norm.to_frame("email").with_columns(found)
            .join(fresh, on="email", how="left", maintain_order="left")
            .select(pl.coalesce("email_hash", "__h").alias("email_hash")).to_series())


def _masked_phones(phones: pl.Series) -> pl.Series:
    return mask_phones(phones.cast(pl.Utf8))


def postal_district(code: pl.Expr, country: pl.Expr) -> pl.Expr:
    """The coarse part of a postcode: GB outward code, US/CA first 3, NL first 4, else first 2."""
    c = code.cast(pl.Utf8).str.strip_chars().str.to_uppercase()
    compact = c.str.replace_all(" ", "")
    gb = pl.when(c.str.contains(" ")).then(c.str.split(" ").list.first()).otherwise(
        compact.str.slice(0, compact.str.len_chars() - 3))
    return (pl.when(c.is_null() | (c == "")).then(None)
            .when(country == "GB").then(gb)
            .when(country.is_in(["US", "CA"])).then(compact.str.slice(0, 3))
            .when(country == "NL").then(compact.str.slice(0, 4))
            .otherwise(compact.str.slice(0, 2)))


def masked_tables(frames: Mapping[str, pl.DataFrame], *, key: bytes,
                  known: pl.DataFrame | None = None) -> dict[str, pl.DataFrame]:
    """``{"golden_build.customers": df}`` -> ``{"golden_build.customers_masked": masked}`` for the
    tables named in ``MASKED_TABLES`` (any schema); other frames are ignored. ``known``: see
    :func:`mask_customers`."""
    out = {}
    for name, df in frames.items():
        schema, _, table = name.partition(".")
        target = MASKED_TABLES.get(f"golden.{table}")
        if target:
            out[f"{schema}.{target.partition('.')[2]}"] = mask_customers(df, key=key, known=known)
    return out


def masking_key(warehouse: Warehouse) -> bytes:
    """The key the masked e-mail hashes use (the warehouse's hashing key)."""
    return hash_key(warehouse)


def publish_masked(warehouse: Warehouse, *, schema: str = "golden") -> dict[str, int]:
    """Build the masked tables from ``<schema>.customers`` / ``customer_360`` in one transaction;
    returns their row counts."""
    frames = {f"{schema}.{t.partition('.')[2]}": warehouse.read(f"{schema}.{t.partition('.')[2]}")
              for t in MASKED_TABLES if warehouse.exists(f"{schema}.{t.partition('.')[2]}")}
    if not frames:
        return {}
    built = masked_tables(frames, key=masking_key(warehouse))
    warehouse.write_many(built)
    return {name: df.height for name, df in built.items()}


def grant_bi_access(url: str, *, masked_role: str = "bi_reader", full_role: str = "bi_full",
                    masked: Iterable[str] = MASKED_BI_VIEWS, full: Iterable[str] = FULL_BI_TABLES) -> dict:
    """In the PostgreSQL database at ``url``: ``masked_role`` may read ``masked`` and none of the
    other ``full`` tables; ``full_role`` (created NOLOGIN when missing; grant it to people) may
    read ``full``. Returns what was granted and what is missing."""
    from psycopg import sql  # lazy: the PostgreSQL driver loads only when a database is given

    masked, full = list(masked), list(full)
    split_table(f"x.{masked_role}")
    split_table(f"x.{full_role}")
    out: dict = {"masked_role": masked_role, "full_role": full_role, "masked": [], "full": [],
                 "revoked": [], "missing": []}
    con = connect(url)
    try:
        with con.cursor() as cur:
            for role in (masked_role, full_role):
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
                if cur.fetchone() is None:
                    cur.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
            for table in dict.fromkeys([*masked, *full]):
                schema, name = split_table(table)
                cur.execute("SELECT to_regclass(%s)", [f'"{schema}"."{name}"'])
                if cur.fetchone()[0] is None:
                    out["missing"].append(table)
                    continue
                ident = sql.Identifier(schema, name)
                if table in masked:
                    for role in (masked_role, full_role):
                        cur.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                            sql.Identifier(schema), sql.Identifier(role)))
                        cur.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(ident, sql.Identifier(role)))
                    out["masked"].append(table)
                else:
                    cur.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(ident, sql.Identifier(masked_role)))
                    out["revoked"].append(table)
                if table in full:
                    cur.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                        sql.Identifier(schema), sql.Identifier(full_role)))
                    cur.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(ident, sql.Identifier(full_role)))
                    out["full"].append(table)
        con.commit()
    finally:
        con.close()
    return out
