"""What every destination shares: table-name checks, the error type, default descriptions."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import polars as pl

from pipelines import schema_docs

#: Called with a stage name during a publish ("written:<table>", "before_swap", "before_commit");
#: raising from it aborts the publish (tests use it to simulate a crash at that point).
Hook = Callable[[str], None]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PublishError(RuntimeError):
    """A publish could not complete; the previously published tables are unchanged."""


def split_table(table: str, *, max_len: int = 63) -> tuple[str, str]:
    """``schema.table`` -> ``(schema, table)``, both plain identifiers."""
    schema, _, name = table.partition(".")
    if not name or not _IDENT.match(schema) or not _IDENT.match(name):
        raise PublishError(f"table name must be schema.table with letters, digits and _, got {table!r}")
    if len(schema) > max_len or len(name) > max_len:
        raise PublishError(f"table name {table!r} is longer than {max_len} characters")
    return schema, name


def check_tables(tables: Mapping[str, pl.DataFrame]) -> None:
    """Every key a valid name and every value a polars frame."""
    if not tables:
        raise PublishError("nothing to publish: no tables given")
    for table, df in tables.items():
        split_table(table)
        if not isinstance(df, pl.DataFrame):
            raise PublishError(f"{table}: expected a polars DataFrame, got {type(df).__name__}")


def descriptions(tables: Mapping[str, pl.DataFrame],
                 comments: Mapping[str, Mapping[str, str]] | None,
                 table_comments: Mapping[str, str] | None) -> tuple[dict, dict]:
    """Column and table descriptions: the given ones, or those of ``pipelines.schema_docs``."""
    cols = dict(comments) if comments is not None else schema_docs.comments_for(tables)
    tabs = dict(table_comments) if table_comments is not None else schema_docs.table_comments_for(tables)
    return cols, tabs


def call(hook: Hook | None, stage: str) -> None:
    if hook is not None:
        hook(stage)
