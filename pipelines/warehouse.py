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
import tempfile
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
            _write_read_copy(tmp, path, schemas)
        os.replace(tmp, target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)
        if isinstance(exc, duckdb.IOException):
            raise _busy(path, exc) from None
        raise
    return target


def _write_read_copy(tmp: Path, source: Path, schemas: tuple[str, ...]) -> None:
    con = duckdb.connect(str(tmp))
    try:
        _copy_schemas(con, source, schemas)
    finally:
        con.close()


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
        kept = _KEPT.get(key)
        if kept is not None:  # a run keeps it open: a cursor is a connection of its own (transactions too)
            con = kept.cursor()
            _CURSORS[key] = _CURSORS.get(key, 0) + 1
            try:
                yield con
            finally:
                con.close()
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
