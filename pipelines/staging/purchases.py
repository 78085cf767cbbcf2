"""Row rules on purchases (ERP invoices, shop orders): amounts that are negative or unreadable.

Such rows are quarantined under their own source names (``erp_invoices``, ``shop_orders``); they
are not customer records, so customer reconciliation does not count them.
"""

from __future__ import annotations

import polars as pl

from pipelines.staging.columns import text
from pipelines.staging.result import QUARANTINE_SCHEMA

#: source name -> (key column, amount column) of each purchase table
PURCHASE_TABLES = {"erp_invoices": ("invoice_no", "amount"), "shop_orders": ("id", "total_price")}


def amount_rules(frame: pl.DataFrame, *, source: str, key: str | None = None, amount: str | None = None) -> pl.DataFrame:
    """Quarantine rows (``negative_amount``, ``invalid_amount``) of one purchase table (``key`` and
    ``amount`` columns; default: those of the demo's ``erp_invoices`` / ``shop_orders``)."""
    if key is None or amount is None:
        try:
            key, amount = PURCHASE_TABLES[source]
        except KeyError:
            raise ValueError(f"unknown purchase table {source!r}; expected one of {sorted(PURCHASE_TABLES)}") \
                from None
    if amount not in frame.columns:
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    raw = text(frame, amount).str.strip_chars()
    value = raw.str.replace_all(r"[\s']", "").cast(pl.Float64, strict=False)
    rule = (pl.when(raw.is_not_null() & (raw != "") & value.is_null()).then(pl.lit("invalid_amount"))
            .when(value < 0).then(pl.lit("negative_amount")))
    return (
        frame.select(pl.lit(source).alias("source"), text(frame, key).str.strip_chars().alias("source_record_id"),
                     rule.alias("rule"), pl.lit(amount).alias("field"), raw.alias("raw_value"))
        .filter(pl.col("rule").is_not_null())
        .cast(QUARANTINE_SCHEMA)
    )


def purchase_quarantine(*, invoices: pl.DataFrame | None = None, orders: pl.DataFrame | None = None) -> pl.DataFrame:
    """Quarantine rows of the ERP invoices and shop orders given (either may be missing)."""
    parts = [amount_rules(f, source=s) for s, f in (("erp_invoices", invoices), ("shop_orders", orders))
             if f is not None]
    return pl.concat(parts) if parts else pl.DataFrame(schema=QUARANTINE_SCHEMA)
