"""ERP source: customers and invoices from any SQLAlchemy database, loaded as raw text.

Configuration (dlt): ``SOURCES__ERP__CREDENTIALS`` (or ``[sources.erp] credentials`` in
secrets.toml) is a SQLAlchemy URL: ``sqlite:///data/erp.sqlite``,
``postgresql+psycopg://user:pw@host/db``, ``mysql+pymysql://...``. Nothing else changes per database.

Tables land in dataset ``raw_erp``:

* ``customers``: merge on ``customer_no``, incremental on ``updated_at`` (rows without one are
  re-read every run and merged, never dropped).
* ``invoices``: merge on ``invoice_no``, incremental on ``invoice_date`` (see ``settings.CURSORS``).
* ``customers_dirty`` (only with ``include_dirty=True``): ``customers UNION ALL customers_dirty``
  with a ``source_table`` column, write disposition ``replace`` and no key, so duplicate
  ``customer_no`` rows survive for the data-quality checks (a merge would collapse them).

Every column is loaded as ``text`` exactly as the database renders it (``CAST(col AS TEXT)``).
Any other table named in ``tables`` is loaded whole (``replace``, no key).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dlt
from dlt.sources.credentials import ConnectionStringCredentials
from dlt.sources.sql_database import sql_table
from sqlalchemy.engine import Engine

from .helpers import as_text_type, select_as_text, union_as_text
from .settings import CHUNK_SIZE, CURSORS, DEFAULT_TABLES, DIRTY_TABLE, PRIMARY_KEYS

__all__ = ["erp_source"]


@dlt.source(name="erp")
def erp_source(
    credentials: ConnectionStringCredentials | Engine | str = dlt.secrets.value,
    tables: Sequence[str] = DEFAULT_TABLES,
    *,
    include_dirty: bool = False,
    chunk_size: int = CHUNK_SIZE,
) -> Any:
    """The ERP tables as dlt resources (see the module docstring for keys and cursors)."""
    dlt.current.source_schema().remove_type_detection("iso_timestamp")
    resources = []
    for name in tables:
        key = PRIMARY_KEYS.get(name)
        cursor = CURSORS.get(name)
        resources.append(
            sql_table(
                credentials,
                name,
                chunk_size=chunk_size,
                defer_table_reflect=True,
                type_adapter_callback=as_text_type,
                query_adapter_callback=select_as_text,
                incremental=(
                    dlt.sources.incremental(cursor, on_cursor_value_missing="include")
                    if cursor
                    else None
                ),
                write_disposition="merge" if key else "replace",
                primary_key=key,
            )
        )
    if include_dirty:
        resources.append(_customers_dirty(credentials, chunk_size=chunk_size))
    return resources


def _customers_dirty(credentials: Any, *, chunk_size: int) -> Any:
    @dlt.resource(name=DIRTY_TABLE, write_disposition="replace")
    def customers_dirty() -> Any:
        """customers UNION ALL customers_dirty, duplicates kept."""
        yield from union_as_text(credentials, ("customers", DIRTY_TABLE), chunk_size=chunk_size)

    return customers_dirty
