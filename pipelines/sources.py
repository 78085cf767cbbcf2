"""The configured sources as the pipeline sees them: raw tables, asset keys, deletion evidence.

One place that turns a sources file (``connectors.config``) into warehouse table names and
Dagster asset keys, so raw loads, staging, checks, customer_360 and the run summary agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from connectors.config import SourcesConfig, SourceSpec
from connectors.erp.settings import KEY_SCAN_SUFFIX
from connectors.sheets.settings import INVENTORY_TABLE
from connectors.shop import KEYS_RESOURCE


def raw_key(spec: SourceSpec, table: str) -> dg.AssetKey:
    """``raw/<source>/<table>``."""
    return dg.AssetKey(["raw", spec.name, table])


def customers_key(spec: SourceSpec) -> dg.AssetKey:
    return raw_key(spec, spec.customers_table)


def purchases_key(spec: SourceSpec) -> dg.AssetKey | None:
    return raw_key(spec, spec.purchases_table) if spec.purchases_table else None


@dataclass(frozen=True)
class DeletionEvidence:
    """Where a source says which records it still has: a key scan (``key`` column) or a files inventory."""

    table: str
    key: str | None
    asset: dg.AssetKey | None
    """The asset staging waits for (None for the shop's periodic scan, which may not run)."""


def deletion_evidence(spec: SourceSpec) -> DeletionEvidence | None:
    if spec.kind == "sql" and spec.key_scan and len(spec.id) == 1:
        table = f"{spec.customers_table}{KEY_SCAN_SUFFIX}"
        return DeletionEvidence(spec.raw(table), spec.id[0], raw_key(spec, table))
    if spec.kind == "rest" and spec.preset == "shopify":
        return DeletionEvidence(spec.raw(KEYS_RESOURCE), "id", None)
    if spec.kind == "files":
        return DeletionEvidence(spec.raw(INVENTORY_TABLE), None, None)
    return None


def staging_deps(config: SourcesConfig) -> list[dg.AssetKey]:
    """Every raw asset staging reads."""
    deps = []
    for spec in config.enabled:
        deps.append(customers_key(spec))
        deps += [raw_key(spec, t) for t in spec.also_tables]
        if spec.purchases_table:
            deps.append(purchases_key(spec))
        evidence = deletion_evidence(spec)
        if evidence is not None and evidence.asset is not None:
            deps.append(evidence.asset)
    return deps


def raw_tables(config: SourcesConfig) -> list[str]:
    """The customer and purchase tables of every enabled source (for the run summary)."""
    out = []
    for spec in config.enabled:
        out.append(spec.raw(spec.customers_table))
        if spec.purchases_table:
            out.append(spec.raw(spec.purchases_table))
    return out
