"""Which rows of which tables belong to the erased person: the SQL conditions and the delete plan,
shared by the DuckDB warehouse (:mod:`pipelines.privacy.erase`) and its PostgreSQL copy
(:mod:`pipelines.privacy.postgres`)."""

from __future__ import annotations

#: columns of every table, by (schema, table)
Tables = dict[tuple[str, str], dict[str, str]]

RECORD_COLUMNS = ("record_id", "cluster_id", "id_l", "id_r")
GOLDEN_COLUMNS = ("golden_id", "golden_id_l", "golden_id_r", "retired_id", "surviving_id")


def record_key(schema: str, cols: dict[str, str]) -> tuple[str, str] | None:
    """SQL for (source, source_record_id) of a row of this table, when it holds one record."""
    if schema.startswith("raw_"):
        system = schema.removeprefix("raw_").removesuffix("_staging")
        if system == "erp" and "customer_no" in cols:
            return "'erp'", 'cast(t."customer_no" as varchar)'
        if system == "shop" and "customer__id" in cols:
            return "'shop'", 'cast(t."customer__id" as varchar)'
        if system == "shop" and "id" in cols and "email" in cols:
            return "'shop'", 'cast(t."id" as varchar)'
        if "source" in cols and "row_number" in cols:
            return 't."source"', 'cast(t."row_number" as varchar)'
        return None
    if "source" in cols and "source_record_id" in cols:
        return 't."source"', 'cast(t."source_record_id" as varchar)'
    return None


_IN_RECORDS = "exists (select 1 from erase_records r where r.source = {0} and r.source_record_id = {1})"


def row_condition(schema: str, name: str, cols: dict[str, str]) -> str | None:
    """The WHERE clause (alias ``t``) selecting this table's rows of the erased person."""
    if name.startswith("_dlt_"):
        return None
    conds = []
    key = record_key(schema, cols)
    if key:
        conds.append(_IN_RECORDS.format(*key))
    if not schema.startswith("raw_"):
        conds += [f't."{c}" in (select record_id from erase_records)' for c in RECORD_COLUMNS if c in cols]
        conds += [f't."{c}" in (select golden_id from erase_golden)' for c in GOLDEN_COLUMNS if c in cols]
    return " or ".join(conds) or None


def delete_plan(tables: Tables) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """(tables with their own condition, raw child tables deleted through ``_dlt_root_id``)."""
    roots, children = [], []
    for (schema, name), cols in sorted(tables.items()):
        cond = row_condition(schema, name, cols)
        if cond:
            roots.append((schema, name, cond))
        elif schema.startswith("raw_") and "_dlt_root_id" in cols and not name.startswith("_dlt_"):
            children.append((schema, name, 't."_dlt_root_id" in (select _dlt_id from erase_roots)'))
    return roots, children
