"""The golden build beside the published tables, published by renaming in one transaction.

DuckDB cannot move a table to another schema, and copying every built table over the published
one costs as much as writing it again. So the build writes each table into the published schema
under a build name (``golden._build_customers``), with a view ``golden_build.customers`` on it for
the checks and the run summary. Publishing drops each published table and renames the built one
in its place, all tables in one transaction: readers see all old tables or all new ones, and a
failed build or a failed check leaves the published tables as they were.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import polars as pl

BUILD_SCHEMA = "golden_build"
PUBLISHED_SCHEMA = "golden"
PREFIX = "_build_"


def _built(name: str) -> str:
    return f'"{PUBLISHED_SCHEMA}"."{PREFIX}{name}"'


def _name(table: str) -> str:
    schema, _, name = table.partition(".")
    if schema != BUILD_SCHEMA or not name:
        raise ValueError(f"a golden build table is {BUILD_SCHEMA}.<name>, got {table!r}")
    return name


def write_built(con: duckdb.DuckDBPyConnection, table: str, df: pl.DataFrame, *, append: bool = False) -> int:
    """Write ``df`` as build table ``golden_build.<name>`` (replacing it, or appended to it);
    returns the rows written."""
    name = _name(table)
    con.register("__frame", df.to_arrow())
    try:
        if append:
            con.execute(f"insert into {_built(name)} by name select * from __frame")
        else:
            con.execute(f"create or replace table {_built(name)} as select * from __frame")
            con.execute(f'create or replace view "{BUILD_SCHEMA}"."{name}" as select * from {_built(name)}')
    finally:
        con.unregister("__frame")
    return df.height


def append_built_sql(con: duckdb.DuckDBPyConnection, table: str, select_sql: str, *, create: bool = False) -> int:
    """Append the rows of ``select_sql`` to build table ``golden_build.<name>`` (or create it from
    them); returns the rows written."""
    name = _name(table)
    if create:
        con.execute(f"create or replace table {_built(name)} as {select_sql}")
        con.execute(f'create or replace view "{BUILD_SCHEMA}"."{name}" as select * from {_built(name)}')
        return con.execute(f"select count(*) from {_built(name)}").fetchall()[0][0]
    return con.execute(f"insert into {_built(name)} by name {select_sql}").fetchall()[0][0]


def built_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Names of the tables the last build wrote and nobody published yet."""
    rows = con.execute("select table_name from duckdb_tables() where database_name = current_database() "
                       "and schema_name = ? and starts_with(table_name, ?) order by table_name",
                       [PUBLISHED_SCHEMA, PREFIX]).fetchall()
    return [r[0].removeprefix(PREFIX) for r in rows]


def discard_build(con: duckdb.DuckDBPyConnection) -> None:
    """Drop every unpublished build table and its view (the next build starts from nothing; no
    table of an earlier build, such as the merge list of a source that is gone, is published)."""
    con.execute(f'create schema if not exists "{PUBLISHED_SCHEMA}"')
    for name in built_names(con):
        con.execute(f"drop table {_built(name)}")
    con.execute(f'drop schema if exists "{BUILD_SCHEMA}" cascade')
    con.execute(f'create schema "{BUILD_SCHEMA}"')


def publish_built(con: duckdb.DuckDBPyConnection, *, append: Mapping[str, str] | None = None) -> list[str]:
    """Put every built table in place of the published one, in one transaction; a build table
    named in ``append`` (``{"golden.id_history": "golden_build.id_history_new"}``) is appended to
    that published log instead. Returns the published tables replaced or appended to."""
    logs = {_name(build): target for target, build in (append or {}).items()}
    done = []
    con.execute("begin transaction")
    try:
        names = built_names(con)
        con.execute(f'drop schema if exists "{BUILD_SCHEMA}" cascade')   # the views on the build tables
        con.execute(f'create schema "{BUILD_SCHEMA}"')
        for name in names:
            if name in logs:
                schema, _, log = logs[name].partition(".")
                target = f'"{schema}"."{log}"'
                con.execute(f'create schema if not exists "{schema}"')
                con.execute(f"create table if not exists {target} as select * from {_built(name)} limit 0")
                con.execute(f"insert into {target} by name select * from {_built(name)}")
                con.execute(f"drop table {_built(name)}")
                done.append(logs[name])
            else:
                con.execute(f'drop table if exists "{PUBLISHED_SCHEMA}"."{name}"')
                con.execute(f'alter table {_built(name)} rename to "{name}"')
                done.append(f"{PUBLISHED_SCHEMA}.{name}")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return done
