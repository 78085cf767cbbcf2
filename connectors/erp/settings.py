"""Keys, cursors and defaults for the ERP source (one place to change them)."""

from __future__ import annotations

DEFAULT_TABLES: tuple[str, ...] = ("customers", "invoices")

PRIMARY_KEYS: dict[str, str] = {"customers": "customer_no", "invoices": "invoice_no"}

# invoices carry no updated_at: invoice_date is the cursor. The range start is closed, so rows of
# the last loaded day are read again and merged on invoice_no; an invoice inserted later with an
# earlier invoice_date is missed until a full refresh (ERP invoices are append-only in practice).
CURSORS: dict[str, str] = {"customers": "updated_at", "invoices": "invoice_date"}

# table -> key column read by the key scan (``<table>_keys``, replace, every run): the current keys
# tell which merged raw rows were deleted at the source (an incremental read cannot see deletions).
KEY_SCANS: dict[str, str] = {"customers": "customer_no"}
KEY_SCAN_SUFFIX = "_keys"
SCAN_LOAD_COLUMN = "scan_load_id"
"""Column of a key-scan table: the dlt load id of the load that scanned (raw rows loaded earlier are
judged by it; rows of the same load are not, as they were read from the source moments ago)."""

DIRTY_TABLE = "customers_dirty"
"""Stale copies of customers without a key (crm_synth --bad-rows); loaded only on request."""

CHUNK_SIZE = 50_000
