"""Where a suite reads its rows: a frame in memory or a DuckDB table, always in bounded batches.

A suite never needs the whole table at once: column checks run batch by batch, and the
uniqueness checks ask the source for the (few) duplicated keys first. A DuckDB table is
streamed as Arrow record batches, so memory stays at one batch whatever the table size.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    import duckdb

#: Rows per batch: large enough for vectorised checks, small enough to keep memory flat.
BATCH_ROWS = 200_000


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_table(table: str) -> str:
    """``schema.table`` (or ``table``) quoted for SQL."""
    return ".".join(_quote_ident(part) for part in table.split("."))


class FrameSource:
    """A polars frame already in memory (tests, small inputs, callers that hold a frame)."""

    def __init__(self, frame: pl.DataFrame, *, what: str):
        self.frame = frame
        self.what = what

    @property
    def columns(self) -> list[str]:
        return self.frame.columns

    def empty(self, columns: list[str]) -> pl.DataFrame:
        return self.frame.select(columns).clear()

    def batches(self, columns: list[str]) -> Iterator[pl.DataFrame]:
        yield from self.frame.select(columns).iter_slices(BATCH_ROWS)

    def duplicated(self, columns: list[str], *, ignore_all_null: bool) -> pl.DataFrame:
        """Distinct key tuples of ``columns`` that occur more than once (the rows GX calls unexpected)."""
        keys = self.frame.lazy().select(columns)
        keys = keys.filter(pl.any_horizontal(pl.col(c).is_not_null() for c in columns)) if ignore_all_null \
            else keys.drop_nulls()
        return keys.group_by(columns).agg(pl.len().alias("_n")).filter(pl.col("_n") > 1).drop("_n").collect()


class TableSource:
    """A table in a DuckDB connection, read in Arrow batches and aggregated in SQL."""

    def __init__(self, con: duckdb.DuckDBPyConnection, table: str):
        self.con = con
        self.table = table
        self.what = f"table {table}"
        self._columns: list[str] | None = None

    @property
    def columns(self) -> list[str]:
        if self._columns is None:
            self._columns = [d[0] for d in self.con.execute(f"select * from {quote_table(self.table)} limit 0")
                             .description]
        return self._columns

    def _select(self, columns: list[str]) -> str:
        return f"select {', '.join(_quote_ident(c) for c in columns)} from {quote_table(self.table)}"

    def empty(self, columns: list[str]) -> pl.DataFrame:
        return pl.from_arrow(self.con.sql(self._select(columns) + " limit 0").to_arrow_table())

    def batches(self, columns: list[str]) -> Iterator[pl.DataFrame]:
        reader = self.con.sql(self._select(columns)).to_arrow_reader(BATCH_ROWS)
        for batch in reader:
            if batch.num_rows:
                yield pl.from_arrow(batch)

    def duplicated(self, columns: list[str], *, ignore_all_null: bool) -> pl.DataFrame:
        cols = ", ".join(_quote_ident(c) for c in columns)
        present = " or ".join(f"{_quote_ident(c)} is not null" for c in columns) if ignore_all_null \
            else " and ".join(f"{_quote_ident(c)} is not null" for c in columns)
        sql = (f"select {cols} from {quote_table(self.table)} where {present} "
               f"group by all having count(*) > 1")
        return pl.from_arrow(self.con.sql(sql).to_arrow_table())

    def read(self, columns: tuple[str, ...]) -> pl.DataFrame:
        """Those of ``columns`` the table has (key columns for cross-table checks), as one frame."""
        present = [c for c in columns if c in self.columns]
        return pl.from_arrow(self.con.sql(self._select(present)).to_arrow_table()) if present \
            else pl.DataFrame()

    def count(self) -> int:
        return int(self.con.execute(f"select count(*) from {quote_table(self.table)}").fetchone()[0])
