"""SQL source: a customer table (or query) and its purchases from any SQLAlchemy database.

Configuration (dlt): ``credentials`` is a SQLAlchemy URL (``sqlite:///erp.sqlite``,
``postgresql+psycopg://user:pw@host/db``, ``mysql+pymysql://...``) from ``sources.<name>.credentials``
in ``.dlt/secrets.toml`` or ``SOURCES__<NAME>__CREDENTIALS``.

Every column is read as the text the database renders (``CAST(col AS TEXT)``) through dlt's
``pyarrow`` backend: rows travel as Arrow record batches of ``chunk_size`` rows into Parquet load
files, so a load's memory does not grow with the table. Resources (tables in ``raw_<name>``):

* the customer table (``table``, or ``customers`` for a ``query``): merged on ``id``, incremental on
  ``cursor`` when one is given (rows without a cursor value are re-read and merged, never dropped);
* ``<table>_keys`` (``key_scan``): every current key, replaced each run with ``scan_load_id``, so
  staging can tell rows deleted at the source;
* each of ``also_tables`` (same columns, e.g. stale copies): replaced every run, no key, so duplicate
  keys survive for staging to quarantine;
* purchases (``purchases``: name, table or query, id, cursor): merged on id, incremental on cursor.

A keyed table without a cursor is read whole each run; the raw assets add ``unchanged.SkipUnchanged``
to it so only its new and changed rows are merged (``pipelines.assets.raw.skip_unchanged_steps``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import dlt
import pyarrow as pa
import sqlalchemy as sa
from dlt.sources.credentials import ConnectionStringCredentials
from dlt.sources.sql_database import sql_table
from dlt.sources.sql_database.helpers import engine_from_credentials
from sqlalchemy.engine import Engine

from connectors.erp.helpers import as_text_type, key_scan_resource, select_as_text
from connectors.erp.settings import KEY_SCAN_SUFFIX, SCAN_LOAD_COLUMN

__all__ = ["CHUNK_SIZE", "query_resource", "sql_source", "table_resource"]

log = logging.getLogger(__name__)

CHUNK_SIZE = 50_000


def table_resource(credentials: Any, table: str, *, key: Sequence[str] = (), cursor: str | None = None,
                   name: str | None = None, chunk_size: int = CHUNK_SIZE) -> Any:
    """One table as text through dlt's arrow backend: merged on ``key`` (replace without one),
    incremental on ``cursor``."""
    return sql_table(
        credentials,
        table,
        chunk_size=chunk_size,
        backend="pyarrow",
        defer_table_reflect=True,
        reflection_level="full",
        type_adapter_callback=as_text_type,
        query_adapter_callback=select_as_text,
        incremental=dlt.sources.incremental(cursor, on_cursor_value_missing="include") if cursor else None,
        write_disposition="merge" if key else "replace",
        primary_key=list(key) or None,
    ).with_name(name or table)


def _incremental(cursor: str | None) -> Any:
    return dlt.sources.incremental(cursor, on_cursor_value_missing="include") if cursor else None


def query_resource(credentials: Any, query: str, *, name: str, key: Sequence[str] = (), cursor: str | None = None,
                   chunk_size: int = CHUNK_SIZE) -> Any:
    """A SELECT of the user's as a resource: every column as text, Arrow batches of ``chunk_size``.

    With a ``cursor`` only rows at or after the last value are read (``WHERE cursor >= :last``
    around the query; equal values are merged on ``key``, so nothing at the boundary is lost).
    """
    columns: dict[str, Any] = {k: {"data_type": "text", "nullable": False} for k in key}

    @dlt.resource(name=name, write_disposition="merge" if key else "replace", primary_key=list(key) or None,
                  columns=columns or None)
    def rows(last: Any = _incremental(cursor)) -> Iterator[pa.Table]:  # noqa: B008 - dlt reads it here
        engine = engine_from_credentials(credentials, may_dispose_after_use=True)
        sql = f"SELECT * FROM ({query.strip().rstrip(';')}) AS q"
        params: dict[str, Any] = {}
        if cursor and last is not None and last.last_value is not None:
            sql += f" WHERE q.{_quote(engine, cursor)} >= :last"
            params["last"] = last.last_value
        try:
            with engine.connect() as conn:
                result = conn.execution_options(yield_per=chunk_size).execute(sa.text(sql), params)
                names = list(result.keys())
                for part in result.partitions(chunk_size):
                    yield pa.table({n: pa.array([None if r[i] is None else str(r[i]) for r in part], pa.string())
                                    for i, n in enumerate(names)})
        finally:
            if getattr(engine, "may_dispose_after_use", False):
                engine.dispose()

    return rows


def optional_table_resource(credentials: Any, table: str, *, chunk_size: int = CHUNK_SIZE) -> Any:
    """A whole table (replace, no key), or nothing when the database has no such table."""

    @dlt.resource(name=table, write_disposition="replace")
    def rows() -> Iterator[Any]:
        engine = engine_from_credentials(credentials, may_dispose_after_use=True)
        try:
            present = sa.inspect(engine).has_table(table)
        finally:
            if getattr(engine, "may_dispose_after_use", False):
                engine.dispose()
        if not present:
            log.info("table %r not found: nothing to read", table)
            return
        yield from table_resource(credentials, table, chunk_size=chunk_size)

    return rows


def _quote(engine: Engine, name: str) -> str:
    return engine.dialect.identifier_preparer.quote(name)


@dlt.source(name="sql")
def sql_source(
    credentials: ConnectionStringCredentials | Engine | str = dlt.secrets.value,
    *,
    table: str | None = None,
    query: str | None = None,
    key: Sequence[str] = (),
    cursor: str | None = None,
    also_tables: Sequence[str] = (),
    key_scan: bool = True,
    purchases: Sequence[Mapping[str, Any]] = (),
    chunk_size: int = CHUNK_SIZE,
) -> Any:
    """The customer table or query, its key scan, extra tables and purchases (see the module docstring)."""
    dlt.current.source_schema().remove_type_detection("iso_timestamp")
    if (table is None) == (query is None):
        raise ValueError("sql_source: give exactly one of table or query")
    if table is not None:
        resources = [table_resource(credentials, table, key=key, cursor=cursor, chunk_size=chunk_size)]
        if key_scan and len(key) == 1:
            resources.append(key_scan_resource(credentials, table, key[0], chunk_size=chunk_size,
                                               suffix=KEY_SCAN_SUFFIX, load_column=SCAN_LOAD_COLUMN))
    else:
        resources = [query_resource(credentials, query, name="customers", key=key, cursor=cursor,
                                    chunk_size=chunk_size)]
    resources += [optional_table_resource(credentials, extra, chunk_size=chunk_size) for extra in also_tables]
    for p in purchases:
        if p.get("query"):
            resources.append(query_resource(credentials, p["query"], name=p["name"], key=p.get("key", ()),
                                            cursor=p.get("cursor"), chunk_size=chunk_size))
        else:
            resources.append(table_resource(credentials, p["table"], key=p.get("key", ()), cursor=p.get("cursor"),
                                            name=p["name"], chunk_size=chunk_size))
    return resources
