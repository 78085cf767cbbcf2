"""ERP source: customers and invoices from any SQLAlchemy database, loaded as raw text.

Configuration (dlt): ``SOURCES__ERP__CREDENTIALS`` (or ``[sources.erp] credentials`` in
secrets.toml) is a SQLAlchemy URL: ``sqlite:///data/erp.sqlite``,
``postgresql+psycopg://user:pw@host/db``, ``mysql+pymysql://...``. Nothing else changes per database.

Tables land in dataset ``raw_erp``:

* ``customers``: merge on ``customer_no``, incremental on ``updated_at`` (rows without one are
  re-read every run and merged, never dropped).
* ``invoices``: merge on ``invoice_no``, incremental on ``invoice_date`` (see ``settings.CURSORS``).
* ``customers_keys``: every ``customer_no`` now in ``customers`` (a key-only query, cheap even for
  millions of rows), write disposition ``replace``, with ``scan_load_id`` (the load that scanned).
  A merged raw customer whose key is missing from the latest scan was deleted at the source:
  staging leaves it out and records it in ``quality.source_deletions`` (the raw row is kept).
  ``key_scan=False`` switches the scan off (the table then keeps the last scan).
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

from .helpers import as_text_type, key_scan_resource, select_as_text, union_as_text
from .settings import (
    CHUNK_SIZE,
    CURSORS,
    DEFAULT_TABLES,
    DIRTY_TABLE,
    KEY_SCAN_SUFFIX,
    KEY_SCANS,
    PRIMARY_KEYS,
    SCAN_LOAD_COLUMN,
)

__all__ = ["erp_source"]


@dlt.source(name="erp")
def erp_source(
    credentials: ConnectionStringCredentials | Engine | str = dlt.secrets.value,
    tables: Sequence[str] = DEFAULT_TABLES,
    *,
    include_dirty: bool = False,
    key_scan: bool = True,
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
    if key_scan:
        resources += [key_scan_resource(credentials, name, KEY_SCANS[name], chunk_size=chunk_size,
                                        suffix=KEY_SCAN_SUFFIX, load_column=SCAN_LOAD_COLUMN)
                      for name in tables if name in KEY_SCANS]
    if include_dirty:
        resources.append(_customers_dirty(credentials, chunk_size=chunk_size))
    return resources


def _customers_dirty(credentials: Any, *, chunk_size: int) -> Any:
    @dlt.resource(name=DIRTY_TABLE, write_disposition="replace")
    def customers_dirty() -> Any:
        """customers UNION ALL customers_dirty, duplicates kept."""
        yield from union_as_text(credentials, ("customers", DIRTY_TABLE), chunk_size=chunk_size)

    return customers_dirty
