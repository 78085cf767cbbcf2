"""Keys, cursors and defaults for the ERP source (one place to change them)."""

from __future__ import annotations

DEFAULT_TABLES: tuple[str, ...] = ("customers", "invoices")

PRIMARY_KEYS: dict[str, str] = {"customers": "customer_no", "invoices": "invoice_no"}

# invoices carry no updated_at: invoice_date is the cursor. The range start is closed, so rows of
# the last loaded day are read again and merged on invoice_no; an invoice inserted later with an
# earlier invoice_date is missed until a full refresh (ERP invoices are append-only in practice).
CURSORS: dict[str, str] = {"customers": "updated_at", "invoices": "invoice_date"}

DIRTY_TABLE = "customers_dirty"
"""Stale copies of customers without a key (crm_synth --bad-rows); loaded only on request."""

CHUNK_SIZE = 50_000
