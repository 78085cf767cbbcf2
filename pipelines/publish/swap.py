"""The golden build beside the published tables, published by renaming in one transaction.

DuckDB cannot move a table to another schema, and copying every built table over the published
one costs as much as writing it again. So the build writes each table into the published schema
under a build name (``golden._build_customers``), with a view ``golden_build.customers`` on it for
the checks and the run summary. Publishing drops each published table and renames the built one
in its place, all tables in one transaction: readers see all old tables or all new ones, and a
failed build or a failed check leaves the published tables as they were.

A table whose rows are mostly the published ones (an incremental build keeps most customers as
they were) may be built as a *delta* instead (:func:`write_delta`): only the rows of the customers
picked again, in ``golden._delta_<name>``, and the golden ids whose published rows stay, named by a
query on a build table. ``golden_build.<name>`` is then a view of both, and publishing deletes the
published rows of every other golden id and inserts the delta, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import polars as pl

from pipelines.warehouse import PUBLISHED_DELTA_PREFIX

BUILD_SCHEMA = "golden_build"
PUBLISHED_SCHEMA = "golden"
PREFIX = "_build_"
DELTA_PREFIX = "_delta_"
#: which golden ids a delta table keeps: build table of the delta -> build table with ``golden_id``
#: and ``kept`` (recorded here so publishing knows it)
DELTAS = "_build__deltas"


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
    if not append:
        _forget_delta(con, name)
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


def write_delta(con: duckdb.DuckDBPyConnection, table: str, df: pl.DataFrame | None, *, published: str,
                kept_by: str, select_sql: str | None = None, append: bool = False) -> int:
    """Build ``golden_build.<name>`` as the ``published`` table's rows of the golden ids that
    build table ``kept_by`` (``golden_build.<state>``, columns ``golden_id`` and ``kept``) marks
    kept, plus ``df`` (or the rows of ``select_sql``), which replace the rows of every other golden
    id when published. ``append`` adds ``df`` to the delta written before. Returns the rows the
    whole table will have."""
    name, state = _name(table), _name(kept_by)
    delta = f'"{PUBLISHED_SCHEMA}"."{DELTA_PREFIX}{name}"'
    if not append:
        con.execute(f"drop table if exists {_built(name)}")
    source = "__frame"
    if df is not None:
        con.register(source, df.to_arrow())
    try:
        rows = select_sql or (f"select * from {source}" if df is not None else f"select * from {published} limit 0")
        if append:
            con.execute(f"insert into {delta} by name {rows}")
        else:
            con.execute(f"create or replace table {delta} as {rows}")
    finally:
        if df is not None:
            con.unregister(source)
    kept = f"select golden_id from {_built(state)} where kept"
    con.execute(f'create table if not exists "{PUBLISHED_SCHEMA}"."{DELTAS}" (delta VARCHAR, kept_by VARCHAR, '
                "published VARCHAR)")
    con.execute(f'delete from "{PUBLISHED_SCHEMA}"."{DELTAS}" where delta = ?', [name])
    con.execute(f'insert into "{PUBLISHED_SCHEMA}"."{DELTAS}" values (?, ?, ?)', [name, state, published])
    con.execute(f'create or replace view "{BUILD_SCHEMA}"."{name}" as select * from {published} '
                f"where golden_id in ({kept}) union all by name select * from {delta}")
    return con.execute(f'select count(*) from "{BUILD_SCHEMA}"."{name}"').fetchall()[0][0]


def _forget_delta(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """A table built whole after all: its delta (if any) is dropped."""
    if any(d == name for d, _, _ in _deltas(con)):
        con.execute(f'drop table if exists "{PUBLISHED_SCHEMA}"."{DELTA_PREFIX}{name}"')
        con.execute(f'delete from "{PUBLISHED_SCHEMA}"."{DELTAS}" where delta = ?', [name])


def _deltas(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """``(name, kept_by, published)`` of every delta the last build wrote."""
    found = con.execute("select count(*) from duckdb_tables() where database_name = current_database() and "
                        "schema_name = ? and table_name = ?", [PUBLISHED_SCHEMA, DELTAS]).fetchall()[0][0]
    if not found:   # asked inside the publish transaction: a failed query would abort it
        return []
    return con.execute(f'select delta, kept_by, published from "{PUBLISHED_SCHEMA}"."{DELTAS}" '
                       "order by delta").fetchall()


def delta_table(con: duckdb.DuckDBPyConnection, table: str) -> str | None:
    """The table holding only the rows written this build (``golden._delta_<name>``) when build table
    ``table`` was built as a delta (:func:`write_delta`); None when it was built whole."""
    name = _name(table)
    if any(d == name for d, _, _ in _deltas(con)):
        return f'"{PUBLISHED_SCHEMA}"."{DELTA_PREFIX}{name}"'
    return None


def built_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Names of the tables the last build wrote and nobody published yet."""
    rows = con.execute("select table_name from duckdb_tables() where database_name = current_database() "
                       "and schema_name = ? and starts_with(table_name, ?) and table_name <> ? order by table_name",
                       [PUBLISHED_SCHEMA, PREFIX, DELTAS]).fetchall()
    return [r[0].removeprefix(PREFIX) for r in rows]


def discard_build(con: duckdb.DuckDBPyConnection) -> None:
    """Drop every unpublished build table and its view (the next build starts from nothing; no
    table of an earlier build, such as the merge list of a source that is gone, is published)."""
    con.execute(f'create schema if not exists "{PUBLISHED_SCHEMA}"')
    con.execute(f'drop schema if exists "{BUILD_SCHEMA}" cascade')   # views first: they may read the tables
    for name, _, _ in _deltas(con):
        con.execute(f'drop table if exists "{PUBLISHED_SCHEMA}"."{DELTA_PREFIX}{name}"')
    con.execute(f'drop table if exists "{PUBLISHED_SCHEMA}"."{DELTAS}"')
    for name in built_names(con):
        con.execute(f"drop table {_built(name)}")
    con.execute(f'create schema "{BUILD_SCHEMA}"')


def publish_built(con: duckdb.DuckDBPyConnection, *, append: Mapping[str, str] | None = None) -> list[str]:
    """Put every built table in place of the published one, in one transaction; a build table
    named in ``append`` (``{"golden.id_history": "golden_build.id_history_new"}``) is appended to
    that published log instead; a delta (:func:`write_delta`) replaces the rows of the golden ids
    it does not keep. Returns the published tables replaced or appended to."""
    logs = {_name(build): target for target, build in (append or {}).items()}
    done = []
    con.execute("begin transaction")
    try:
        names, deltas = built_names(con), _deltas(con)
        con.execute(f'drop schema if exists "{BUILD_SCHEMA}" cascade')   # the views on the build tables
        con.execute(f'create schema "{BUILD_SCHEMA}"')
        for (old,) in con.execute("select table_name from duckdb_tables() where database_name = current_database() "
                                  "and schema_name = ? and starts_with(table_name, ?)",
                                  [PUBLISHED_SCHEMA, PUBLISHED_DELTA_PREFIX]).fetchall():
            con.execute(f'drop table "{PUBLISHED_SCHEMA}"."{old}"')   # the last publish's
        for name, state, published in deltas:   # before the renames: the kept ids are a build table's
            delta = f'"{PUBLISHED_SCHEMA}"."{DELTA_PREFIX}{name}"'
            con.execute(f"delete from {published} where golden_id not in "
                        f"(select golden_id from {_built(state)} where kept)")
            con.execute(f"insert into {published} by name select * from {delta}")
            con.execute(f'alter table {delta} rename to "{PUBLISHED_DELTA_PREFIX}{name}"')
            done.append(published)
        con.execute(f'drop table if exists "{PUBLISHED_SCHEMA}"."{DELTAS}"')
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
