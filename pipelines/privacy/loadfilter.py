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
import pyarrow as pa

from pipelines.privacy.keys import hash_key, purpose_key
from pipelines.privacy.tombstones import EMAIL, RECORD, read_tombstones, tombstone_hits
from pipelines.warehouse import Warehouse

#: key scans (Arrow tables of one key column): an erased customer's key must not come back either
KEY_SCAN_SUFFIX = "_keys"


def _key_paths(spec: Any) -> dict[str, tuple[str, ...]]:
    """Resource name -> path to the customer key inside a raw item, for a configured source."""
    if spec.kind == "files" or not spec.id:
        return {}
    paths = {t: tuple(spec.id[0].split(".")) for t in (spec.customers_table, *spec.also_tables)}
    if spec.purchases is not None:
        paths[spec.purchases_table] = tuple(spec.purchases.fields["customer"].columns[0].split("."))
    return paths


def filter_erased_on_load(dlt_source: Any, spec: Any, warehouse: Warehouse) -> int:
    """Add a filter to each customer-bearing resource of ``dlt_source`` (the configured source ``spec``)
    that drops items of tombstoned records, whether the resource yields rows or Arrow tables. Returns
    how many resources got one (0 when the warehouse has no tombstones)."""
    tombs = read_tombstones(warehouse)
    if tombs.height == 0:
        return 0
    key = hash_key(warehouse)
    system = spec.name
    resources = dlt_source.resources
    n = 0
    for name, path in _key_paths(spec).items():
        if name in resources:
            resources[name].add_filter(_row_filter(system, path, tombs, key))
            resources[name].add_map(_arrow_key_filter(system, "__".join(path), tombs, key))
            n += 1
    if spec.kind == "files" and "contacts" in resources:
        resources["contacts"].add_map(_arrow_filter(tombs, key))
        n += 1
    for name in resources:
        if name.endswith(KEY_SCAN_SUFFIX) and spec.id:
            resources[name].add_map(_key_scan_filter(system, spec.id[0], tombs, key))
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
        if not isinstance(item, pa.Table) or not {"source", "row_number"} <= set(item.column_names):
            return item
        df = pl.from_arrow(item).with_columns(source_record_id=pl.col("row_number").cast(pl.Utf8))
        if "email" not in df.columns:
            df = df.with_columns(email=pl.lit(None, pl.Utf8))
        hit = tombstone_hits(df.select("source", "source_record_id", "email"), tombs, key)
        return item.filter(pa.array((~hit).to_list(), type=pa.bool_()))

    return drop


def _arrow_key_filter(system: str, column: str, tombs: pl.DataFrame, key: bytes) -> Callable[[Any], Any]:
    """Rows of an Arrow table (the SQL arrow backend) whose key or e-mail is tombstoned are dropped."""
    def drop(item: Any) -> Any:
        if not isinstance(item, pa.Table) or column not in item.column_names:
            return item
        cols = [column] + (["email"] if "email" in item.column_names else [])
        df = pl.from_arrow(item.select(cols)).select(
            source=pl.lit(system), source_record_id=pl.col(column).cast(pl.Utf8).str.strip_chars(),
            email=pl.col("email").cast(pl.Utf8) if "email" in cols else pl.lit(None, pl.Utf8))
        hit = tombstone_hits(df, tombs, key)
        return item.filter(pa.array((~hit).to_list(), type=pa.bool_()))

    return drop


def _key_scan_filter(system: str, column: str, tombs: pl.DataFrame, key: bytes) -> Callable[[Any], Any]:
    def drop(item: Any) -> Any:
        if not isinstance(item, pa.Table) or column not in item.column_names:
            return item
        ids = pl.from_arrow(item.select([column])).select(
            source=pl.lit(system), source_record_id=pl.col(column).cast(pl.Utf8))
        hit = tombstone_hits(ids, tombs, key)
        return item.filter(pa.array((~hit).to_list(), type=pa.bool_()))

    return drop
