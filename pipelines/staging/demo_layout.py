"""``stage_erp`` / ``stage_shop`` / ``stage_sheets``: the one staging path with the demo layout's mapping.

Shorthands for frames laid out like the demo folder's raw tables (the built-in sources file
``connectors/config/demo_layout.yaml``); any other layout is staged with its own sources file
through ``mapping.map_customers`` and ``stage.stage_source``. Columns a frame lacks read as null.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from functools import cache

import polars as pl

from connectors.config import SourceSpec, demo_layout
from pipelines.staging.columns import require
from pipelines.staging.mapping import map_customers
from pipelines.staging.result import StageResult
from pipelines.staging.stage import stage_source


@cache
def demo_spec(name: str) -> SourceSpec:
    """Source ``name`` of the demo layout, every mapped column optional."""
    spec = demo_layout(".").get(name)
    return replace(spec, fields={f: replace(m, optional=True) for f, m in spec.fields.items()})


def stage_erp(customers: pl.DataFrame, *, source: str = "erp", now: datetime | None = None) -> StageResult:
    """Stage an ERP customer table laid out like the demo's (``customer_no``, one-field ``contact_name``)."""
    require(customers, ["customer_no"], table=f"{source}.customers")
    spec = replace(demo_spec("erp"), name=source)
    return stage_source(map_customers(customers, spec), now=now)


def stage_shop(customers: pl.DataFrame, *, source: str = "shop", now: datetime | None = None) -> StageResult:
    """Stage Shopify-style customers as dlt flattens them (``default_address__city`` ...)."""
    require(customers, ["id"], table=f"{source}.customers")
    spec = replace(demo_spec("shop"), name=source)
    return stage_source(map_customers(customers, spec), now=now)


def stage_sheets(contacts: pl.DataFrame, *, date_formats: Mapping[str, str] | None = None,
                 now: datetime | None = None) -> StageResult:
    """Stage sheet contacts (``source`` file stem, ``row_number``, alias-named columns); ``date_formats``
    maps a file stem to the order of its slashed dates (``"%d/%m/%Y"`` or ``"%m/%d/%Y"``)."""
    require(contacts, ["source", "row_number"], table="sheets.contacts")
    spec = demo_spec("sheets")
    mapped = map_customers(contacts, spec)
    if not date_formats:
        return stage_source(mapped, now=now)
    parts = []
    for stem, part in mapped.partition_by("source", as_dict=True, maintain_order=True).items():
        parts.append(stage_source(part, date_format=date_formats.get(stem[0]), now=now))
    return StageResult.concat(parts)
