"""A source's raw customer table -> the canonical input columns staging reads, by its ``fields:`` mapping.

Column names in the sources file are the system's own (``Kundennr``, ``billing.city``); the raw
tables hold them as dlt named them (``kundennr``, ``billing__city``), so each name is looked up as
written, then as dlt normalises it. A mapped column the raw table does not have is a
:class:`MappingError` naming the source, the field and the column (a preset's optional fields read
as null instead).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

import polars as pl
from dlt.common.normalizers.naming.snake_case import NamingConvention

from connectors.config import CUSTOMER_FIELDS, FieldMap, SourceSpec
from connectors.sheets.headers import header_key, snake_name
from connectors.sheets.settings import FIELD_ALIASES
from pipelines.staging.columns import text
from pipelines.staging.dates import raw_text
from pipelines.staging.result import StagingError

#: Marker columns the connectors set, carried through to staging when present.
MARKERS: tuple[str, ...] = ("_recovered_from_page", "file_encoding", "_row_error")
_NAMING = NamingConvention()
_ALIAS = {alias: f for f, aliases in FIELD_ALIASES.items() for alias in aliases}


class MappingError(StagingError):
    """A mapped column missing from a source's raw table (the message names source, field and column)."""


@cache
def _dlt_name(column: str) -> str:
    return "__".join(_NAMING.normalize_identifier(part) for part in column.split("."))


def resolve_column(columns: Iterable[str], name: str, *, header_aliases: bool = False) -> str | None:
    """The raw column holding source column ``name``, or None.

    Tried in turn: as written; ``a.b`` as dlt flattens it (``a__b``) and dlt's snake_case; for files
    read with header aliases, the canonical field the header is an alias of; then the header's
    snake_case name (how the files connector names headers: ``Letzter Kontakt`` -> ``letzter_kontakt``,
    ``billing.city`` -> ``billing_city``).
    """
    present = set(columns)
    candidates = [name, name.replace(".", "__"), _dlt_name(name)]
    if header_aliases:
        candidates.append(_ALIAS.get(header_key(name), ""))
    candidates += [snake_name(name), snake_name(name.replace(".", "__"))]
    for candidate in candidates:
        if candidate and candidate in present:
            return candidate
    return None


def field_expr(raw: pl.DataFrame, fmap: FieldMap, *, spec: SourceSpec, field: str, table: str) -> pl.Expr:
    """Text expression for one mapped field of ``raw``."""
    if fmap.value is not None:
        return pl.lit(fmap.value, pl.Utf8)
    found = []
    for column in fmap.columns:
        resolved = resolve_column(raw.columns, column, header_aliases=spec.header_aliases and spec.kind == "files")
        if resolved is None and not fmap.optional:
            raise MappingError(f"source {spec.name!r}: field {field!r} maps column {column!r}, which {table} does "
                               f"not have (columns: {', '.join(c for c in raw.columns if not c.startswith('_dlt'))})")
        found.append(resolved)
    exprs = [_text(raw, c) for c in found if c is not None]
    if not exprs:
        return pl.lit(None, pl.Utf8)
    if len(exprs) == 1:
        return exprs[0]
    if fmap.first:
        return pl.coalesce([e.str.strip_chars().replace("", None) for e in exprs])
    return pl.concat_str([e.str.strip_chars().replace("", None) for e in exprs], separator=fmap.sep or "",
                         ignore_nulls=True).replace("", None)


def _text(raw: pl.DataFrame, column: str) -> pl.Expr:
    dtype = raw.schema[column]
    if isinstance(dtype, pl.Datetime) or dtype == pl.Date:
        return raw_text(raw, column)
    if isinstance(dtype, pl.Struct | pl.List):
        return pl.col(column).cast(pl.Utf8, strict=False)
    return text(raw, column)


def map_customers(raw: pl.DataFrame, spec: SourceSpec, *, table: str | None = None) -> pl.DataFrame:
    """The canonical input frame of one source: ``source``, ``source_record_id``, every field of
    ``CUSTOMER_FIELDS`` as text (null when unmapped) and the connectors' marker columns.

    Datetime columns (a Parquet or SQL timestamp) keep their type for staging's date parser.
    """
    table = table or spec.raw(spec.customers_table)
    exprs = [_source_expr(raw, spec), _id_expr(raw, spec, table=table).alias("source_record_id")]
    for field in CUSTOMER_FIELDS:
        fmap = spec.fields.get(field)
        if fmap is None:
            exprs.append(pl.lit(None, pl.Utf8).alias(field))
        elif field in ("created_at", "updated_at") and len(fmap.columns) == 1 and fmap.value is None:
            column = resolve_column(raw.columns, fmap.columns[0],
                                    header_aliases=spec.header_aliases and spec.kind == "files")
            if column is None:
                exprs.append(field_expr(raw, fmap, spec=spec, field=field, table=table).alias(field))
            else:
                typed = raw.schema[column]
                keep = isinstance(typed, pl.Datetime) or typed == pl.Date
                exprs.append((pl.col(column) if keep else _text(raw, column)).alias(field))
                variant = f"{column}__v_text"
                if variant in raw.columns:
                    exprs.append(pl.col(variant).cast(pl.Utf8).alias(f"{field}__v_text"))
        else:
            exprs.append(field_expr(raw, fmap, spec=spec, field=field, table=table).alias(field))
    exprs += [pl.col(m) for m in MARKERS if m in raw.columns]
    return raw.select(exprs)


def _source_expr(raw: pl.DataFrame, spec: SourceSpec) -> pl.Expr:
    if spec.kind == "files" and spec.record_source == "file_stem":
        return text(raw, "source").alias("source")
    return pl.lit(spec.name, pl.Utf8).alias("source")


def _id_expr(raw: pl.DataFrame, spec: SourceSpec, *, table: str) -> pl.Expr:
    """The record id: the configured id column(s) joined by ``:``; for files without one, the data row
    number, prefixed by the file stem when the source's path may match several files (a glob or a
    list) and they share one source name."""
    if not spec.id:
        if spec.kind != "files":
            raise MappingError(f"source {spec.name!r}: key 'id' is missing")
        row = text(raw, "row_number").str.strip_chars()
        if spec.record_source == "file_stem" or single_file(spec):
            return row
        return pl.concat_str([text(raw, "source"), pl.lit(":"), row])
    parts = []
    for column in spec.id:
        resolved = resolve_column(raw.columns, column, header_aliases=spec.header_aliases and spec.kind == "files")
        if resolved is None:
            raise MappingError(f"source {spec.name!r}: id column {column!r} is not in {table} (columns: "
                               f"{', '.join(c for c in raw.columns if not c.startswith('_dlt'))})")
        parts.append(text(raw, resolved).str.strip_chars())
    return parts[0] if len(parts) == 1 else pl.concat_str(parts, separator=":")


def single_file(spec: SourceSpec) -> bool:
    """A files source whose path names one file (no wildcard, no list)."""
    return len(spec.paths) == 1 and not any(c in spec.paths[0] for c in "*?[")


def raw_id_columns(raw_columns: Iterable[str], spec: SourceSpec) -> list[str]:
    """The raw column names of a source's id (files without an id: ``source`` and ``row_number``)."""
    if not spec.id:
        return ["source", "row_number"]
    cols = list(raw_columns)
    out = []
    for column in spec.id:
        resolved = resolve_column(cols, column, header_aliases=spec.header_aliases and spec.kind == "files")
        if resolved is None:
            raise MappingError(f"source {spec.name!r}: id column {column!r} is not in the raw table")
        out.append(resolved)
    return out


def record_ids(raw: pl.DataFrame, spec: SourceSpec, *, table: str | None = None) -> pl.DataFrame:
    """``(source, source_record_id)`` of every raw row, keyed as staging keys it (reconciliation)."""
    return raw.select(_source_expr(raw, spec), _id_expr(raw, spec, table=table or spec.raw(spec.customers_table))
                      .alias("source_record_id"))
