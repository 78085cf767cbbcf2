"""The DuckDB warehouse: read and write polars frames, and publish tables atomically.

One short-lived connection per call: DuckDB allows one writing process per file, and dlt opens
its own connection while loading, so no connection is held between steps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path

import duckdb
import polars as pl
import polars.selectors as cs


class Warehouse:
    """A DuckDB file with the schemas ``raw_*``, ``staging``, ``matching``, ``golden``, ``quality``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @contextlib.contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(self.path), read_only=read_only)
        try:
            yield con
        finally:
            con.close()

    def exists(self, table: str) -> bool:
        """Whether ``schema.table`` exists."""
        if not self.path.exists():
            return False
        schema, name = _split(table)
        with self.connect() as con:
            return bool(con.execute(
                "select count(*) from information_schema.tables where table_schema=? and table_name=?",
                [schema, name]).fetchone()[0])

    def read(self, table: str, *, columns: list[str] | None = None) -> pl.DataFrame:
        """The whole table as a polars frame."""
        cols = ", ".join(f'"{c}"' for c in columns) if columns else "*"
        with self.connect() as con:
            return _utc(con.sql(f"select {cols} from {_quote(table)}").pl())

    def read_if_exists(self, table: str) -> pl.DataFrame | None:
        return self.read(table) if self.exists(table) else None

    def query(self, sql: str, params: list | None = None) -> pl.DataFrame:
        with self.connect() as con:
            return _utc(con.sql(sql, params=params or None).pl())

    def write(self, table: str, df: pl.DataFrame) -> int:
        """Create or replace ``schema.table`` with ``df``; returns the row count."""
        self.write_many({table: df})
        return df.height

    def write_many(self, tables: Mapping[str, pl.DataFrame]) -> None:
        """Replace several tables in one transaction: readers see all old or all new."""
        with self.connect() as con:
            con.execute("begin transaction")
            try:
                for table, df in tables.items():
                    schema, _ = _split(table)
                    con.execute(f'create schema if not exists "{schema}"')
                    con.register("__frame", df.to_arrow())
                    con.execute(f"create or replace table {_quote(table)} as select * from __frame")
                    con.unregister("__frame")
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise

    def append(self, table: str, df: pl.DataFrame) -> None:
        """Append ``df`` to ``schema.table``, creating it on first use."""
        if df.height == 0 and self.exists(table):
            return
        with self.connect() as con:
            schema, _ = _split(table)
            con.execute(f'create schema if not exists "{schema}"')
            con.register("__frame", df.to_arrow())
            exists = con.execute(
                "select count(*) from information_schema.tables where table_schema=? and table_name=?",
                list(_split(table))).fetchone()[0]
            if exists:
                con.execute(f"insert into {_quote(table)} by name select * from __frame")
            else:
                con.execute(f"create table {_quote(table)} as select * from __frame")
            con.unregister("__frame")

    def publish(self, mapping: Mapping[str, str], *, append: Mapping[str, str] | None = None) -> None:
        """Copy built tables over published ones (``{"golden.customers": "golden_build.customers"}``)
        and append to published logs (``append``), in one transaction: a failure leaves the last
        published tables as they were."""
        with self.connect() as con:
            con.execute("begin transaction")
            try:
                for target, build in mapping.items():
                    schema, _ = _split(target)
                    con.execute(f'create schema if not exists "{schema}"')
                    con.execute(f"create or replace table {_quote(target)} as select * from {_quote(build)}")
                for target, build in (append or {}).items():
                    schema, _ = _split(target)
                    con.execute(f'create schema if not exists "{schema}"')
                    con.execute(f"create table if not exists {_quote(target)} as "
                                f"select * from {_quote(build)} limit 0")
                    con.execute(f"insert into {_quote(target)} by name select * from {_quote(build)}")
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise


def _utc(df: pl.DataFrame) -> pl.DataFrame:
    """DuckDB hands back ``Etc/UTC`` (or the session zone); the project speaks ``UTC``."""
    return df.with_columns(cs.datetime(time_zone="*").dt.convert_time_zone("UTC"))


def _split(table: str) -> tuple[str, str]:
    schema, _, name = table.partition(".")
    if not name:
        raise ValueError(f"table name must be schema.table, got {table!r}")
    return schema, name


def _quote(table: str) -> str:
    schema, name = _split(table)
    return f'"{schema}"."{name}"'
