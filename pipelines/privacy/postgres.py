"""Erasure in the PostgreSQL copy of the warehouse (the publish target), by the same rules.

The published database mirrors warehouse tables by name (``golden.*``, and ``raw_*``, ``staging``,
``quality`` when those layers are published), so the rows to delete are found exactly as in
DuckDB (:func:`pipelines.privacy.plan.delete_plan`). Connection errors show the URL masked.
"""

from __future__ import annotations

import re

import polars as pl

from pipelines.privacy.keys import PrivacyError
from pipelines.privacy.plan import delete_plan
from pipelines.publish import mask_url

_SYSTEM = ("pg_catalog", "information_schema", "pg_toast")


def connect(url: str, *, connect_timeout: int = 10):
    """A psycopg connection (autocommit off); failures raise :class:`PrivacyError` without the password."""
    import psycopg  # lazy: the PostgreSQL driver loads only when a database is given

    m = re.match(r"^(postgres(?:ql)?)(\+[A-Za-z0-9_]+)?://", url.strip())
    if not m:
        raise PrivacyError(f"not a PostgreSQL URL (expected postgresql://...): {mask_url(url)}")
    conninfo = "postgresql://" + url.strip()[m.end():]
    try:
        return psycopg.connect(conninfo, connect_timeout=connect_timeout, autocommit=False)
    except psycopg.Error as exc:
        secret = re.search(r"://[^:/?#@]*:([^@/?#]+)@", url)
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if secret:
            text = text.replace(secret.group(1), "***")
        raise PrivacyError(f"cannot connect to PostgreSQL at {mask_url(url)}: {text}") from None


def erase_postgres(url: str, records: pl.DataFrame, golden_ids: list[str]) -> dict[str, int]:
    """Delete the rows of ``records`` (``record_id``, ``source``, ``source_record_id``) and
    ``golden_ids`` from every table of the database at ``url``, in one transaction. Returns
    rows deleted per table."""
    import psycopg  # lazy: the PostgreSQL driver loads only when a database is given

    con = connect(url)
    try:
        with con.cursor() as cur:
            cur.execute(
                "SELECT c.table_schema, c.table_name, c.column_name, c.data_type "
                "FROM information_schema.columns c JOIN information_schema.tables t "
                "USING (table_catalog, table_schema, table_name) "
                "WHERE t.table_type = 'BASE TABLE' AND c.table_schema <> ALL(%s) "
                "AND c.table_schema NOT LIKE 'pg\\_%%' AND c.table_schema <> 'privacy' "
                "ORDER BY c.table_schema, c.table_name, c.ordinal_position", [list(_SYSTEM)])
            tables: dict[tuple[str, str], dict[str, str]] = {}
            for schema, name, column, dtype in cur.fetchall():
                tables.setdefault((schema, name), {})[column] = dtype
            cur.execute("CREATE TEMP TABLE erase_records (record_id text, source text, source_record_id text) "
                        "ON COMMIT DROP")
            cur.execute("CREATE TEMP TABLE erase_golden (golden_id text) ON COMMIT DROP")
            cur.execute("CREATE TEMP TABLE erase_roots (_dlt_id text) ON COMMIT DROP")
            cur.executemany("INSERT INTO erase_records VALUES (%s, %s, %s)",
                            records.select("record_id", "source", "source_record_id").rows())
            cur.executemany("INSERT INTO erase_golden VALUES (%s)", [(g,) for g in golden_ids])
            roots, children = delete_plan(tables)
            for schema, name, cond in roots:
                if schema.startswith("raw_") and "_dlt_id" in tables[(schema, name)]:
                    cur.execute(f'INSERT INTO erase_roots SELECT t._dlt_id FROM "{schema}"."{name}" t WHERE {cond}')
            deleted = {}
            for schema, name, cond in [*roots, *children]:
                cur.execute(f'DELETE FROM "{schema}"."{name}" AS t WHERE {cond}')
                if cur.rowcount:
                    deleted[f"{schema}.{name}"] = cur.rowcount
        con.commit()
    except psycopg.Error as exc:
        con.rollback()
        diag = getattr(exc, "diag", None)
        text = diag.message_primary if diag is not None and diag.message_primary else type(exc).__name__
        text = re.sub(r'"[^"]*"', '"…"', text)  # quoted values may be customer data
        raise PrivacyError(f"erasure in PostgreSQL at {mask_url(url)} failed, nothing was deleted there: "
                           f"{text}") from None
    finally:
        con.close()
    return deleted
