"""Publish polars frames into the DuckDB warehouse in one transaction, with column comments.

DuckDB readers (one process per file) see all old tables or all new ones: the frames are written,
commented and committed together; any error rolls the whole publish back.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from pipelines.publish.tables import (
    Hook,
    call,
    check_tables,
    descriptions,
    split_table,
)
from pipelines.sql_text import quote_ident, sql_literal
from pipelines.warehouse import Warehouse


def publish_duckdb(tables: Mapping[str, pl.DataFrame], warehouse: Warehouse | str | Path, *,
                   comments: Mapping[str, Mapping[str, str]] | None = None,
                   table_comments: Mapping[str, str] | None = None,
                   hook: Hook | None = None) -> dict:
    """Replace ``schema.table`` for every frame, comments included, in one transaction.

    ``comments``/``table_comments`` default to ``pipelines.schema_docs``; pass ``{}`` for none.
    Returns ``{"tables": {name: rows}, "comments": n, "seconds": s}``.
    """
    check_tables(tables)
    wh = warehouse if isinstance(warehouse, Warehouse) else Warehouse(warehouse)
    col_docs, tab_docs = descriptions(tables, comments, table_comments)
    t0 = time.perf_counter()
    n_comments = 0
    with wh.connect() as con:
        con.execute("begin transaction")
        try:
            for table, df in tables.items():
                schema, name = split_table(table)
                target = f'"{schema}"."{name}"'
                con.execute(f'create schema if not exists "{schema}"')
                con.register("__publish_frame", df.to_arrow())
                con.execute(f"create or replace table {target} as select * from __publish_frame")
                con.unregister("__publish_frame")
                if (text := tab_docs.get(table)) is not None:
                    con.execute(f"comment on table {target} is {sql_literal(text)}")
                    n_comments += 1
                for col, text in col_docs.get(table, {}).items():
                    if col in df.columns:
                        con.execute(f"comment on column {target}.{quote_ident(col)} is {sql_literal(text)}")
                        n_comments += 1
                call(hook, f"written:{table}")
            call(hook, "before_commit")
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return {"tables": {t: df.height for t, df in tables.items()}, "comments": n_comments,
            "seconds": round(time.perf_counter() - t0, 3)}
