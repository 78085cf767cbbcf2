"""SQL helpers for the ERP source: read every column as the text the database stores."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import dlt
import pyarrow as pa
import sqlalchemy as sa
from dlt.sources.sql_database.helpers import engine_from_credentials

log = logging.getLogger(__name__)


def as_text_type(sql_type: Any) -> type[sa.Text]:
    """dlt type adapter: every column lands as ``text`` (the raw layer keeps raw values)."""
    return sa.Text


def select_as_text(query: sa.Select, table: sa.Table) -> sa.Select:
    """dlt query adapter: ``CAST(col AS TEXT)`` for every column, keeping dlt's WHERE/ORDER BY.

    Casting in SQL keeps the stored form (``2015-01-07 01:07:37``, ``140.72``, PostgreSQL
    ``NUMERIC`` scale) instead of the driver's Python objects; MySQL compiles it to ``CAST(.. AS CHAR)``.
    """
    return query.with_only_columns(*(sa.cast(col, sa.Text).label(col.name) for col in table.c))


def union_as_text(
    credentials: Any, tables: Sequence[str], *, chunk_size: int, source_column: str = "source_table"
) -> Iterator[list[dict[str, Any]]]:
    """Yield ``SELECT * FROM t1 UNION ALL SELECT * FROM t2 ...`` as text, with the origin table.

    Tables that do not exist are skipped (logged). Columns are matched by name: those of the
    first table, then any other table's extra ones; a table missing a column gives NULL for it,
    with a warning naming both (a column renamed in one table must not stop the load).
    """
    engine = engine_from_credentials(credentials, may_dispose_after_use=True)
    try:
        inspector = sa.inspect(engine)
        present = [t for t in tables if inspector.has_table(t)]
        for missing in (t for t in tables if t not in present):
            log.info("ERP table %r not found: not part of the union", missing)
        if not present:
            raise ValueError(f"ERP: none of the tables {list(tables)} exists")
        meta = sa.MetaData()
        reflected = [sa.Table(t, meta, autoload_with=engine) for t in present]
        columns = list(dict.fromkeys(c.name for table in reflected for c in table.c))
        selects = []
        for table in reflected:
            absent = [name for name in columns if name not in table.c]
            if absent:
                log.warning("ERP table %r has no column(s) %s (present in %r): read as NULL",
                            table.name, absent, [t.name for t in reflected if t is not table])
            selects.append(
                sa.select(
                    *(sa.cast(table.c[name], sa.Text).label(name) if name in table.c
                      else sa.cast(sa.null(), sa.Text).label(name) for name in columns),
                    sa.literal(table.name, sa.Text).label(source_column),
                )
            )
        with engine.connect() as conn:
            result = conn.execution_options(yield_per=chunk_size).execute(sa.union_all(*selects))
            for part in result.mappings().partitions(chunk_size):
                yield [dict(row) for row in part]
    finally:
        if getattr(engine, "may_dispose_after_use", False):
            engine.dispose()


def scan_keys(
    credentials: Any, table: str, key: str, *, chunk_size: int, extra: dict[str, str] | None = None
) -> Iterator[pa.Table]:
    """``SELECT CAST(key AS TEXT) FROM table`` as Arrow tables of ``chunk_size`` rows.

    Only the key travels (no reflection, no other column), so a scan of millions of rows stays
    cheap; ``extra`` adds constant text columns (the scan's load id).
    """
    engine = engine_from_credentials(credentials, may_dispose_after_use=True)
    query = sa.select(sa.cast(sa.column(key), sa.Text).label(key)).select_from(sa.table(table))

    def batch(part: Sequence[Any]) -> pa.Table:
        columns = {key: pa.array(part, pa.string())}
        columns.update({name: pa.array([value] * len(part), pa.string()) for name, value in (extra or {}).items()})
        return pa.table(columns)

    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                # sqlite3's own cursor streams and needs none of SQLAlchemy's row handling (six times
                # faster on 500k keys); other drivers stream through SQLAlchemy's server-side cursor
                cursor = conn.connection.cursor()
                try:
                    cursor.execute(str(query.compile(dialect=engine.dialect)))
                    while rows := cursor.fetchmany(chunk_size):
                        yield batch([row[0] for row in rows])
                finally:
                    cursor.close()
                return
            result = conn.execution_options(yield_per=chunk_size).execute(query)
            for part in result.scalars().partitions(chunk_size):
                yield batch(part)
    finally:
        if getattr(engine, "may_dispose_after_use", False):
            engine.dispose()


def key_scan_resource(credentials: Any, table: str, key: str, *, chunk_size: int, suffix: str = "_keys",
                      load_column: str = "scan_load_id") -> Any:
    """``<table>_keys``: every current key of ``table`` (write disposition replace), with the id of the
    load that scanned; an empty table empties the scan, and staging then judges nothing."""

    @dlt.resource(name=f"{table}{suffix}", write_disposition="replace",
                  columns={key: {"data_type": "text"}, load_column: {"data_type": "text"}})
    def keys() -> Any:
        load_id = dlt.current.load_package_state()["load_id"]
        yield from scan_keys(credentials, table, key, chunk_size=chunk_size, extra={load_column: load_id})

    return keys
