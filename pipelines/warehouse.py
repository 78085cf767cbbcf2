"""The DuckDB warehouse: read and write polars frames, and publish tables atomically.

One short-lived connection per call: DuckDB allows one writing process per file. Opening the file
reads its whole catalog (~25 ms with the pipeline's tables), so a run keeps the database open
(:func:`kept_open`) and each call takes a cursor on it (~1 ms); the database is let go
(:func:`let_go`) while dlt loads into it with its own connection, and at the end of the run.

DuckDB locks the whole file for any process that opens it, even read-only, so BI tools and
notebooks read the **read copy** (:func:`read_copy_path`): a separate file holding the published
schemas that every publish replaces with an atomic rename. A reader keeps the snapshot it opened.
A run holds an exclusive run lock (``<warehouse>.lock``) so two runs never interleave.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar

import duckdb
import polars as pl
import polars.selectors as cs

from pipelines.schema_docs import apply_duckdb_comments

#: schemas BI tools read, copied to the read copy on every publish
READ_COPY_SCHEMAS = ("golden",)
#: seconds a run waits for another run on the same warehouse (``CRM_GOLDEN_LOCK_WAIT``)
DEFAULT_LOCK_WAIT = 5.0

_PID_RE = re.compile(r"\(PID (\d+)\)")
T = TypeVar("T")


#: databases kept open by :func:`kept_open`, by absolute path, and how many cursors each has out
_KEPT: dict[str, duckdb.DuckDBPyConnection] = {}
_CURSORS: dict[str, int] = {}
#: guards the two above: a build may read in a thread beside its main work
_KEPT_LOCK = threading.Lock()
#: table blocks a kept-open database may keep cached between calls; above this it is closed and
#: opened again, which frees them (a run must not carry gigabytes of cache from step to step)
KEPT_CACHE_BYTES = 256 * 1024 ** 2


def _key(path: str | Path) -> str:
    return str(Path(path).absolute())


def _open_kept(key: str) -> None:
    _KEPT[key] = duckdb.connect(key)


def _trim_kept(key: str) -> None:
    """Reopen a kept-open database whose block cache outgrew :data:`KEPT_CACHE_BYTES` (no cursor out)."""
    con = _KEPT.get(key)
    if con is None or _CURSORS.get(key):
        return
    cached = con.execute("select coalesce(sum(memory_usage_bytes), 0) from duckdb_memory()").fetchone()[0]
    if cached > KEPT_CACHE_BYTES:
        con.close()
        _open_kept(key)


@contextlib.contextmanager
def kept_open(warehouse_path: str | Path) -> Iterator[None]:
    """Keep the warehouse database open in this process for the block (a run): every
    :meth:`Warehouse.connect` inside takes a cursor instead of opening the file again."""
    key = _key(warehouse_path)
    if key in _KEPT:
        yield
        return
    Path(key).parent.mkdir(parents=True, exist_ok=True)
    try:
        _open_kept(key)
    except duckdb.IOException as exc:
        raise _busy(Path(key), exc) from None
    try:
        yield
    finally:
        con = _KEPT.pop(key, None)
        if con is not None:
            con.close()


@contextlib.contextmanager
def let_go(warehouse_path: str | Path) -> Iterator[None]:
    """Close a kept-open database for the block, so another connection with its own settings (dlt's
    loader, an attach) can open the file; kept open again afterwards."""
    key = _key(warehouse_path)
    con = _KEPT.pop(key, None)
    if con is None:
        yield
        return
    con.close()
    try:
        yield
    finally:
        _open_kept(key)


class WarehouseBusy(Exception):
    """Another process holds the warehouse (a run, or a tool with the file open): one line, exit 4."""


def read_copy_path(warehouse_path: str | Path) -> Path:
    """The file BI tools and notebooks open: ``<dir>/<stem>.read.duckdb`` beside the warehouse."""
    path = Path(warehouse_path)
    return path.with_name(f"{path.stem}.read.duckdb")


def lock_path(warehouse_path: str | Path) -> Path:
    path = Path(warehouse_path)
    return path.with_name(path.name + ".lock")


def lock_wait() -> float:
    """Seconds to wait for a concurrent run: ``CRM_GOLDEN_LOCK_WAIT`` or the default."""
    raw = os.environ.get("CRM_GOLDEN_LOCK_WAIT", "").strip()
    if not raw:
        return DEFAULT_LOCK_WAIT
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise WarehouseBusy(f"CRM_GOLDEN_LOCK_WAIT must be a number of seconds, got {raw!r}") from None


@contextlib.contextmanager
def run_lock(warehouse_path: str | Path, *, wait: float | None = None) -> Iterator[None]:
    """Hold the exclusive run lock of the warehouse (``flock`` on ``<warehouse>.lock``).

    Waits up to ``wait`` seconds (default :func:`lock_wait`) for a concurrent run, then raises
    :class:`WarehouseBusy` naming the holder's PID; then fails fast if another process has the
    warehouse file itself open (a BI tool that should read the read copy).
    """
    path = Path(warehouse_path).absolute()
    wait = lock_wait() if wait is None else wait
    lock = lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fh = open(lock, "a+")  # noqa: SIM115 - held for the whole run
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    fh.seek(0)
                    holder = fh.read().strip() or "unknown"
                    raise WarehouseBusy(
                        f"warehouse {path} is being updated by another run (PID {holder}); waited "
                        f"{wait:g}s (CRM_GOLDEN_LOCK_WAIT): try again when it has finished") from None
                time.sleep(0.1)
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        ensure_not_open(path)
        yield
    finally:
        fh.close()  # closing the descriptor releases the flock


def holds_run_lock(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorate a function taking ``warehouse=`` so it runs under :func:`run_lock`."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with run_lock(kwargs["warehouse"]):
            return fn(*args, **kwargs)
    return wrapper


def ensure_not_open(warehouse_path: str | Path) -> None:
    """Raise :class:`WarehouseBusy` when another process has the warehouse file open."""
    path = Path(warehouse_path)
    if not path.exists():
        return
    try:
        duckdb.connect(str(path)).close()
    except duckdb.IOException as exc:
        raise _busy(path, exc) from None


def _busy(path: Path, exc: Exception) -> Exception:
    """:class:`WarehouseBusy` for DuckDB's conflicting-lock error, else ``exc`` itself."""
    text = str(exc)
    if "Conflicting lock" not in text:
        return exc
    pid = m.group(1) if (m := _PID_RE.search(text)) else "unknown"
    return WarehouseBusy(f"warehouse {path} is open in another process (PID {pid}): close it, or point BI "
                         f"tools at the read copy {read_copy_path(path)}")


def publish_read_copy(warehouse_path: str | Path, *, schemas: tuple[str, ...] = READ_COPY_SCHEMAS) -> Path:
    """Replace the read copy with the warehouse's published ``schemas`` (tables, views, comments).

    Written to ``<dir>/<stem>.tmp-*.duckdb`` and renamed over the read copy: a reader that has
    the old file open keeps its snapshot (a rename does not touch open files), a new reader sees
    the new one, nobody sees a half-written file.
    """
    path = Path(warehouse_path).absolute()
    target = read_copy_path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f"{path.stem}.tmp-", suffix=".duckdb", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # DuckDB creates the file itself
    try:
        with let_go(path):  # attached read-only below: a kept-open database would refuse that
            if not (schemas == READ_COPY_SCHEMAS and _update_read_copy(tmp, path, target)):
                tmp.unlink(missing_ok=True)
                _write_read_copy(tmp, path, schemas)
        os.replace(tmp, target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)
        if isinstance(exc, duckdb.IOException):
            raise _busy(path, exc) from None
        raise
    return target


def read_copy_update(warehouse_path: str | Path) -> str | None:
    """How the read copy was last written: ``copied whole`` or ``brought up to date from the last
    read copy`` (None: no read copy, or one without that note)."""
    path = read_copy_path(warehouse_path)
    if not path.exists():
        return None
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            row = con.execute(f"select how from {COPIED_BUILD}").fetchall()
    except duckdb.Error:
        return None
    return row[0][0] if row else None


def _write_read_copy(tmp: Path, source: Path, schemas: tuple[str, ...]) -> None:
    con = duckdb.connect(str(tmp))
    try:
        _copy_schemas(con, source, schemas)
        if schemas == READ_COPY_SCHEMAS:
            _mark_build(con, source)
    finally:
        con.close()


#: the golden build's state (``pipelines.assets.golden_reuse``): which customers it kept unchanged
#: from which build; and the read copy's note of the build it holds
BUILD_STATE = "golden._state_clusters"
COPIED_BUILD = "golden._read_copy_build"
#: a published delta's rows (``pipelines.publish.swap``), kept until the next publish: what the read copy
#: inserts instead of reading the whole published table again
PUBLISHED_DELTA_PREFIX = "_published_delta_"
#: published tables whose rows of a kept customer are the last build's, row for row (and the merge
#: lists): table -> the state saying which golden ids were kept
KEPT_ROW_TABLES = dict.fromkeys(("customers", "customer_lineage", "customers_masked", "crosswalk",
                                 "customers_history"), BUILD_STATE) | dict.fromkeys(
    ("customer_360", "customer_360_masked"), "golden._state_customer_360")


def _build_ids(con: duckdb.DuckDBPyConnection, db: str) -> tuple[str, str | None] | None:
    """``(build_id, previous_build_id)`` of the golden build in attached database ``db``."""
    try:
        row = con.execute(f"select build_id, previous_build_id from {db}.{BUILD_STATE} limit 1").fetchall()
    except duckdb.Error:   # no build state (an older warehouse, a warehouse without a build)
        return None
    return row[0] if row else None


def _mark_build(con: duckdb.DuckDBPyConnection, source: Path) -> None:
    """Note in the read copy which build it holds, so the next publish may bring it up to date."""
    con.execute(f"attach {_literal(str(source))} as src (read_only)")
    ids = _build_ids(con, "src")
    con.execute("detach src")
    if ids is not None:
        con.execute(f"create or replace table {COPIED_BUILD} as select ? as build_id, 'copied whole' as how",
                    [ids[0]])
        con.execute("checkpoint")


def _update_read_copy(tmp: Path, source: Path, target: Path) -> bool:
    """Bring a copy of the last read copy up to date in ``tmp`` instead of copying every table:
    when it holds the build the new one kept customers from, the rows of the other customers are
    replaced in the tables of :data:`KEPT_ROW_TABLES` and the merge lists; every other table is
    copied whole. False (nothing usable written) when the last copy holds another build."""
    if not target.exists():
        return False
    shutil.copyfile(target, tmp)
    con = duckdb.connect(str(tmp))
    try:
        try:
            held = con.execute(f"select build_id from {COPIED_BUILD}").fetchall()
        except duckdb.Error:
            return False
        con.execute(f"attach {_literal(str(source))} as src (read_only)")
        ids = _build_ids(con, "src")
        if not held or ids is None or ids[1] is None or held[0][0] != ids[1]:
            return False
        views = _apply_build(con)
        con.execute("detach src")
        for sql in views:
            con.execute(sql)
        apply_duckdb_comments(con)
        con.execute("checkpoint")
        return True
    finally:
        con.close()


def _apply_build(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Tables of kept rows updated by customer, the others replaced, the views dropped (returns
    the source's view definitions to create once it is detached), the build noted. The file is
    renamed over the read copy only when all is done: no transaction needed."""
    def tables(db: str) -> dict[str, list[tuple[str, str]]]:
        rows = con.execute("select table_name, column_name, data_type from duckdb_columns() where "
                           "database_name = ? and schema_name = 'golden' and not starts_with(table_name, '_') "
                           "order by table_name, column_index", [db]).fetchall()
        out: dict[str, list[tuple[str, str]]] = {}
        for name, column, kind in rows:
            out.setdefault(name, []).append((column, kind))
        return out

    here = con.execute("select current_database()").fetchall()[0][0]
    new, old = tables("src"), tables(here)
    src_tables = {s for (s,) in con.execute("select schema_name || '.' || table_name from duckdb_tables() "
                                            "where database_name = 'src'").fetchall()}
    for (name,) in con.execute("select view_name from duckdb_views() where database_name = ? "
                               "and schema_name = 'golden' and not internal", [here]).fetchall():
        con.execute(f'drop view golden."{name}"')
    for name in old.keys() - new.keys():
        con.execute(f'drop table golden."{name}"')
    for name, columns in new.items():
        state = KEPT_ROW_TABLES.get(name, BUILD_STATE if name.startswith("merge_list_") else None)
        by_customer = (state in src_tables and old.get(name) == columns and ("golden_id", "VARCHAR") in columns)
        kept = f"(select golden_id from src.{state} where kept)"
        if by_customer:   # the rows the publish inserted: kept beside the table when it was built as a delta
            delta = f"golden.{PUBLISHED_DELTA_PREFIX}{name}"
            con.execute(f'delete from golden."{name}" where golden_id not in {kept}')
            con.execute(f'insert into golden."{name}" by name select * from src.{delta}' if delta in src_tables else
                        f'insert into golden."{name}" select * from src.golden."{name}" where golden_id not in {kept}')
        else:
            con.execute(f'create or replace table golden."{name}" as select * from src.golden."{name}"')
    con.execute(f"create or replace table {COPIED_BUILD} as select ? as build_id, "
                "'brought up to date from the last read copy' as how", [_build_ids(con, "src")[0]])
    return [sql for (sql,) in con.execute("select sql from duckdb_views() where database_name = 'src' and not "
                                          "internal and schema_name = 'golden' order by view_name").fetchall()]


def _copy_schemas(con: duckdb.DuckDBPyConnection, source: Path, schemas: tuple[str, ...]) -> None:
    con.execute(f"attach {_literal(str(source))} as src (read_only)")
    wanted = ", ".join(_literal(s) for s in schemas)
    tables = con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = 'src' "
        f"and schema_name in ({wanted}) and not starts_with(table_name, '_') "   # a build, an internal state
        "order by schema_name, table_name").fetchall()
    views = con.execute(
        "select schema_name, sql from duckdb_views() where database_name = 'src' and not internal "
        f"and schema_name in ({wanted}) order by schema_name, view_name").fetchall()
    for schema in schemas:
        con.execute(f'create schema if not exists "{schema}"')
    for schema, name in tables:
        con.execute(f'create table "{schema}"."{name}" as select * from src."{schema}"."{name}"')
    con.execute("detach src")
    for _, sql in views:
        con.execute(sql)
    apply_duckdb_comments(con)
    con.execute("checkpoint")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class Warehouse:
    """A DuckDB file with the schemas ``raw_*``, ``staging``, ``matching``, ``golden``, ``quality``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @contextlib.contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        key = _key(self.path)
        with _KEPT_LOCK:
            kept = _KEPT.get(key)
            if kept is not None:   # a run keeps it open: a cursor is a connection of its own (transactions too)
                con = kept.cursor()
                _CURSORS[key] = _CURSORS.get(key, 0) + 1
        if kept is not None:
            try:
                yield con
            finally:
                con.close()
                with _KEPT_LOCK:
                    _CURSORS[key] -= 1
                    _trim_kept(key)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as exc:
            raise _busy(self.path, exc) from None
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


def utc_frame(df: pl.DataFrame) -> pl.DataFrame:
    """DuckDB hands back ``Etc/UTC`` (or the session zone); the project speaks ``UTC``."""
    return df.with_columns(cs.datetime(time_zone="*").dt.convert_time_zone("UTC"))


_utc = utc_frame


def _split(table: str) -> tuple[str, str]:
    schema, _, name = table.partition(".")
    if not name:
        raise ValueError(f"table name must be schema.table, got {table!r}")
    return schema, name


def _quote(table: str) -> str:
    schema, name = _split(table)
    return f'"{schema}"."{name}"'
