"""Keep tombstoned records out of the raw layer: filters added to the dlt resources of a load.

Staging drops erased records too (:func:`pipelines.privacy.drop_erased`); filtering at load time
means a source that sends an erased customer again never writes them to ``raw_*`` either.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import polars as pl

from pipelines.privacy.keys import hash_key, purpose_key
from pipelines.privacy.tombstones import EMAIL, RECORD, _hits, read_tombstones
from pipelines.warehouse import Warehouse

#: per source system: resource name -> path to the customer key inside a raw item
KEY_PATHS: dict[str, dict[str, tuple[str, ...]]] = {
    "erp": {"customers": ("customer_no",), "invoices": ("customer_no",), "customers_dirty": ("customer_no",)},
    "shop": {"customers": ("id",), "orders": ("customer", "id")},
}
#: resources that yield Arrow tables with ``source``/``row_number`` columns
ARROW_RESOURCES = {"sheets": {"contacts"}}
#: key scans (Arrow tables of one key column): an erased customer's key must not come back either
KEY_SCANS: dict[str, dict[str, str]] = {"erp": {"customers_keys": "customer_no"}, "shop": {"customers_keys": "id"}}


def filter_erased_on_load(dlt_source: Any, system: str, warehouse: Warehouse) -> int:
    """Add a filter to each known resource of ``dlt_source`` (system ``erp``, ``shop`` or
    ``sheets``) that drops items of tombstoned records. Returns how many resources got one
    (0 when the warehouse has no tombstones)."""
    tombs = read_tombstones(warehouse)
    if tombs.height == 0:
        return 0
    key = hash_key(warehouse)
    resources = dlt_source.resources
    n = 0
    for name, path in KEY_PATHS.get(system, {}).items():
        if name in resources:
            resources[name].add_filter(_row_filter(system, path, tombs, key))
            n += 1
    for name in ARROW_RESOURCES.get(system, set()):
        if name in resources:
            resources[name].add_map(_arrow_filter(tombs, key))
            n += 1
    for name, column in KEY_SCANS.get(system, {}).items():
        if name in resources:
            resources[name].add_map(_key_scan_filter(system, column, tombs, key))
            n += 1
    return n


def _row_filter(system: str, path: tuple[str, ...], tombs: pl.DataFrame, key: bytes) -> Callable[[Any], bool]:
    records = frozenset(tombs.filter(pl.col("kind") == RECORD)["identifier_hash"].to_list())
    emails = frozenset(tombs.filter(pl.col("kind") == EMAIL)["identifier_hash"].to_list())
    rec_key, mail_key = purpose_key(key, f"tombstone:{RECORD}"), purpose_key(key, f"tombstone:{EMAIL}")

    @functools.lru_cache(maxsize=65536)
    def digest(sub: bytes, text: str) -> str:
        return hmac.new(sub, text.encode(), hashlib.sha256).hexdigest()

    def keep(item: Any) -> bool:
        if not isinstance(item, dict):
            return True
        value: Any = item
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None and digest(rec_key, f"{system}:{value}") in records:
            return False
        mail = item.get("email")
        if emails and isinstance(mail, str):
            norm = mail.strip(" \t\r\n\u00a0").lower()
            if "@" in norm and digest(mail_key, norm) in emails:
                return False
        return True

    return keep


def _arrow_filter(tombs: pl.DataFrame, key: bytes) -> Callable[[Any], Any]:
    def drop(item: Any) -> Any:
        import pyarrow as pa

        if not isinstance(item, pa.Table) or not {"source", "row_number"} <= set(item.column_names):
            return item
        df = pl.from_arrow(item).with_columns(source_record_id=pl.col("row_number").cast(pl.Utf8))
        if "email" not in df.columns:
            df = df.with_columns(email=pl.lit(None, pl.Utf8))
        hit = _hits(df.select("source", "source_record_id", "email"), tombs, key)
        return item.filter(pa.array((~hit).to_list(), type=pa.bool_()))

    return drop


def _key_scan_filter(system: str, column: str, tombs: pl.DataFrame, key: bytes) -> Callable[[Any], Any]:
    def drop(item: Any) -> Any:
        import pyarrow as pa

        if not isinstance(item, pa.Table) or column not in item.column_names:
            return item
        ids = pl.from_arrow(item.select([column])).select(
            source=pl.lit(system), source_record_id=pl.col(column).cast(pl.Utf8))
        hit = _hits(ids, tombs, key)
        return item.filter(pa.array((~hit).to_list(), type=pa.bool_()))

    return drop
