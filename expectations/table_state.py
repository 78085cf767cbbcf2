"""Raw suites on a warehouse table, with work proportional to what the last load changed.

A raw suite asserts the state of the whole table (every key unique and present, every date plausible),
so an incremental run must report on every row, not only on the rows loaded this run. What costs is
not counting but parsing: each date and amount is raw text, parsed in polars (``raw_suites``). The
parsed values of each row are kept in a state table beside the warehouse's tables
(``suite_state.<suite>``: the suite's key and checked columns, the parsed helper columns and the row's
``_dlt_load_id``) and brought up to date from the loads that are new since the last run:

* rows of a load the state has not seen are read, and parsed unless a row with the same key and the
  same raw values is already in the state (a table re-read whole, e.g. invoices without a cursor,
  costs a join, not a parse);
* state rows of loads gone from the table, and older rows of keys a new load merged, are removed;
* the state then must hold as many rows of each load as the table does; when it does not (rows
  erased, a table appended to instead of merged, anything unexpected) it is rebuilt from the whole
  table, as on the first run, when the parsing code or polars changed, or on a full rebuild.

Every check is then one SQL aggregate over the state (exact whole-table counts) and its sample the
first unexpected rows by key, so an incremental and a full run report the same numbers and samples.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from expectations.definitions import CheckDef, SuiteSpec
from expectations.metrics import UNIQUE, Tally
from expectations.outcomes import SuiteInputError
from expectations.prepare import prepare_frame

if TYPE_CHECKING:
    import duckdb

STATE_SCHEMA = "suite_state"
#: one row per suite: the table its state mirrors and the fingerprint of the code that parsed it
STATE_INDEX = f"{STATE_SCHEMA}.suites"
LOAD_ID = "_dlt_load_id"
#: expectation types the SQL evaluation below computes
SQL_SUPPORTED = {*UNIQUE, "ExpectColumnValuesToNotBeNull", "ExpectColumnValuesToBeBetween"}


@dataclasses.dataclass(frozen=True)
class Refresh:
    """How the state of a suite was brought up to date."""

    mode: str
    """``incremental`` (only new loads read), ``full`` (whole table parsed) or ``direct`` (no helper
    columns: the checks read the table itself)"""
    rows_read: int
    """table rows read this run (new loads, or the whole table)"""
    rows_parsed: int
    """rows whose helper columns were computed this run (the rest reused from the state)"""
    reason: str = ""


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def qt(table: str) -> str:
    return ".".join(q(p) for p in table.split("."))


def supports(spec: SuiteSpec) -> bool:
    """Whether every check of ``spec`` is an expectation the SQL evaluation computes."""
    return all(c.expectation in SQL_SUPPORTED for c in spec.checks)


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [d[0] for d in con.execute(f"select * from {qt(table)} limit 0").description]


def _raw_columns(spec: SuiteSpec) -> list[str]:
    """Table columns the state keeps: keys, checked columns and the roots of the helper columns."""
    return [c for c in spec.required_columns if c not in spec.derived]


def fingerprint(spec: SuiteSpec, table: str) -> str:
    """The table, the state's columns, the helper expressions, this module, raw_suites and polars:
    a change to any of them rebuilds the state."""
    h = hashlib.sha256()
    h.update(f"{table}\x1f{_raw_columns(spec)}\x1f{pl.__version__}".encode())
    for name, expr in spec.derived.items():
        h.update(f"{name}={expr}".encode())
    here = Path(__file__).parent
    for module in ("table_state.py", "raw_suites.py", "runner.py"):
        h.update((here / module).read_bytes())
    return h.hexdigest()


def state_table(spec: SuiteSpec) -> str:
    return f"{STATE_SCHEMA}.{spec.name}"


def _select_raw(spec: SuiteSpec, present: list[str]) -> str:
    """The state's raw columns from the table (an absent optional column as null text) and the load id."""
    cols = [q(c) if c in present else f"cast(null as varchar) as {q(c)}" for c in _raw_columns(spec)]
    return ", ".join([*cols, q(LOAD_ID)])


def _derive(frame: pl.DataFrame, spec: SuiteSpec) -> pl.DataFrame:
    """``frame`` (raw columns and load id) with the helper columns, computed as the batch runner does."""

    prepared = prepare_frame(frame, spec, what=f"table rows of suite {spec.name}")
    return frame.with_columns(prepared.select(list(spec.derived)).get_columns())


def refresh(con: duckdb.DuckDBPyConnection, spec: SuiteSpec, table: str, *, full: bool = False) -> Refresh:
    """Bring ``suite_state.<suite>`` up to date with ``table`` (see the module docstring)."""
    present = _columns(con, table)
    missing = [c for c in spec.required_columns if c not in present and c not in spec.optional_columns
               and c not in spec.derived]
    if missing:
        raise SuiteInputError(f"suite {spec.name}: table {table} lacks column(s) {missing}; it has {present}")
    fp = fingerprint(spec, table)
    con.execute(f"create schema if not exists {q(STATE_SCHEMA)}")
    con.execute(f"create table if not exists {qt(STATE_INDEX)} (suite varchar, source_table varchar, "
                "fingerprint varchar)")
    known = con.execute(f"select fingerprint from {qt(STATE_INDEX)} where suite = ?", [spec.name]).fetchall()
    reason = ("full rebuild asked for" if full else "no state yet" if not known
              else "parsing code or table changed" if known[0][0] != fp else "")
    if not reason:
        done = _incremental(con, spec, table, present)
        if done is not None:
            return done
        reason = "state out of step with the table (rows removed or appended outside a merge)"
    return _rebuild(con, spec, table, present, fp, reason)


def _loads(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, int]:
    return dict(con.execute(f"select {q(LOAD_ID)}, count(*) from {qt(table)} group by all").fetchall())


def _rebuild(con, spec: SuiteSpec, table: str, present: list[str], fp: str, reason: str) -> Refresh:
    """Parse the whole table into the state (in bounded batches) and record the fingerprint."""
    from expectations.sources import BATCH_ROWS

    target = qt(state_table(spec))
    # a cursor of its own: the reader stays open while this connection writes
    reader = con.cursor().sql(f"select {_select_raw(spec, present)} from {qt(table)}").to_arrow_reader(BATCH_ROWS)
    con.execute("begin transaction")
    try:
        con.execute(f"drop table if exists {target}")
        n, created = 0, False
        for batch in reader:
            frame = _derive(pl.from_arrow(batch), spec)
            n += frame.height
            con.register("__rows", frame.to_arrow())
            con.execute(f"insert into {target} select * from __rows" if created
                        else f"create table {target} as select * from __rows")
            con.unregister("__rows")
            created = True
        if not created:
            empty = _derive(pl.from_arrow(con.sql(f"select {_select_raw(spec, present)} from {qt(table)} limit 0")
                                          .to_arrow_table()), spec)
            con.register("__rows", empty.to_arrow())
            con.execute(f"create table {target} as select * from __rows")
            con.unregister("__rows")
        con.execute(f"delete from {qt(STATE_INDEX)} where suite = ?", [spec.name])
        con.execute(f"insert into {qt(STATE_INDEX)} values (?, ?, ?)", [spec.name, table, fp])
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return Refresh(mode="full", rows_read=n, rows_parsed=n, reason=reason)


def _incremental(con, spec: SuiteSpec, table: str, present: list[str]) -> Refresh | None:
    """Apply the loads new since the last run to the state; None when the result would not mirror the
    table (the caller then rebuilds it)."""
    target = qt(state_table(spec))
    now = _loads(con, table)
    before = _loads(con, state_table(spec))
    new = sorted(set(now) - set(before))
    gone = sorted(set(before) - set(now))
    if not new and not gone:
        return Refresh(mode="incremental", rows_read=0, rows_parsed=0) if now == before else None
    keys = list(spec.key_columns)
    con.execute("begin transaction")
    try:
        con.execute(f"create or replace temp table __new as select row_number() over () as __r, "
                    f"{_select_raw(spec, present)} from {qt(table)} where {q(LOAD_ID)} in "
                    "(select unnest(?::varchar[]))", [new])
        parsed, n_read = _reuse_or_parse(con, spec, target)
        match = " and ".join(f"{q(k)} is not null" for k in keys)
        con.execute(f"delete from {target} where {q(LOAD_ID)} in (select unnest(?::varchar[])) or "
                    f"({', '.join(q(k) for k in keys)}) in (select ({', '.join(q(k) for k in keys)}) from __new "
                    f"where {match})", [gone])
        con.execute(f"insert into {target} by name select * exclude (__r) from __hit")
        con.register("__rows", parsed.to_arrow())
        con.execute(f"insert into {target} by name select * from __rows")
        con.unregister("__rows")
        con.execute("drop table __new")
        con.execute("drop table __hit")
        if _loads(con, state_table(spec)) != now:
            con.execute("rollback")
            return None
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return Refresh(mode="incremental", rows_read=n_read, rows_parsed=parsed.height)


def _reuse_or_parse(con, spec: SuiteSpec, target: str) -> tuple[pl.DataFrame, int]:
    """Split the new rows (``__new``): those whose key and raw values a state row has go to
    ``__hit`` with that row's helper columns (a function of the raw values), in SQL; the rest are
    parsed and returned. Returns the parsed rows and how many rows were read in all."""
    raw, derived = _raw_columns(spec), list(spec.derived)
    keys = " and ".join(f"n.{q(k)} = s.{q(k)}" for k in spec.key_columns)
    same = " and ".join(f"n.{q(c)} is not distinct from s.{q(c)}" for c in raw if c not in spec.key_columns)
    con.execute(f"create or replace temp table __hit as select n.*, {', '.join(f's.{q(d)}' for d in derived)} "
                f"from __new n join {target} s on {keys}{' and ' + same if same else ''}")
    n_new, n_hit, distinct = con.execute(
        "select (select count(*) from __new), count(*), count(distinct __r) from __hit").fetchall()[0]
    if n_hit != distinct:  # a key held twice in the state: parse every new row instead
        con.execute("delete from __hit")
    fresh = con.sql("select * from __new where __r not in (select __r from __hit)").pl()
    return _derive(fresh, spec).drop("__r"), n_new


def _conditions(check: CheckDef, rel: str) -> tuple[str, str, list[Any]]:
    """(evaluated, unexpected, parameters) of one check as SQL over ``rel`` (rows the check looks at,
    and of those the ones it counts as unexpected; the same rules as ``expectations.metrics``)."""
    kind, kw = check.expectation, check.kwargs
    if kind == "ExpectColumnValuesToNotBeNull":
        return "true", f"{q(kw['column'])} is null", []
    if kind in UNIQUE:
        cols = check.columns
        present = " or ".join(f"{q(c)} is not null" for c in cols) if len(cols) > 1 \
            else f"{q(cols[0])} is not null"
        match = " and ".join(f"d.{q(c)} is not distinct from r.{q(c)}" for c in cols)
        dups = f"select {', '.join(q(c) for c in cols)} from {rel} where {present} group by all having count(*) > 1"
        return present, f"exists (select 1 from ({dups}) d where {match})", []
    if kind == "ExpectColumnValuesToBeBetween":
        col, parts, params = q(kw["column"]), [], []
        for side, op in (("min_value", "<"), ("max_value", ">")):
            if kw.get(side) is not None:
                parts.append(f"{col} {op} ?")
                params.append(kw[side])
        return f"{col} is not null", "(" + (" or ".join(parts) or "false") + ")", params
    raise SuiteInputError(f"check {check.name}: expectation {kind} has no SQL metric")


def tally(con: duckdb.DuckDBPyConnection, rel: str, check: CheckDef, key_columns: list[str], order: list[str],
          limit: int) -> Tally:
    """The check's whole-table tally from one SQL aggregate, its sample the first unexpected rows by
    ``order`` (what :class:`Tally` would hold after seeing every row)."""
    evaluated, bad, params = _conditions(check, rel)
    n, ev, unexpected = con.execute(
        f"select count(*), count(*) filter (where {evaluated}), "
        f"count(*) filter (where ({evaluated}) and {bad}) from {rel} r", params).fetchall()[0]
    t = Tally(check=check, limit=limit, element_count=int(n), evaluated=int(ev), unexpected=int(unexpected))
    if unexpected:
        shown = list(dict.fromkeys([*key_columns, *check.columns]))
        rows = con.sql(
            f"select {', '.join(q(c) for c in shown)} from {rel} r where ({evaluated}) and {bad} "
            f"order by {', '.join(q(c) for c in order)} limit {int(limit)}", params=params or None).pl()
        rows = _utc(rows)
        t.keys = rows.select(key_columns).rows()
        t.values = rows.select(check.columns).rows(named=True) \
            if check.expectation == "ExpectCompoundColumnsToBeUnique" else rows[check.kwargs["column"]].to_list()
    return t


def check_relation(spec: SuiteSpec, table: str, present: list[str]) -> tuple[str, list[str]]:
    """Where the checks read (the state when the suite has helper columns, else the table) and the
    sample order (keys, then the checked columns and the load id when there is one)."""
    rel = qt(state_table(spec)) if spec.derived else qt(table)
    cols = [*spec.key_columns, *(c for c in _raw_columns(spec) if c not in spec.key_columns)]
    if not spec.derived:
        cols = [c for c in cols if c in present]
    order = list(dict.fromkeys([*cols, *([LOAD_ID] if spec.derived or LOAD_ID in present else [])]))
    return rel, order


def _utc(frame: pl.DataFrame) -> pl.DataFrame:
    """Zoned datetimes read back from DuckDB (in the session's time zone) in UTC, as polars parsed them."""
    return frame.with_columns(pl.col(c).dt.convert_time_zone("UTC") for c, d in frame.schema.items()
                              if isinstance(d, pl.Datetime) and d.time_zone is not None)
