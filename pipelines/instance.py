"""Dagster's SQLite storage, made cheap for a run in this process.

The default instance writes every event (~10 per step, ~300 in a small run) through a new
SQLAlchemy engine and SQLite connection that it closes again: the engine is built, the statement
compiled afresh (the compiled cache lives on the engine), and closing the last connection
checkpoints the write-ahead log; SQLite also syncs the log to disk on each commit. 5-15 ms per
event, a third of a small run on a busy disk. For the length of a run, :func:`quick_event_log`
gives Dagster's SQLite event log and run storage one pooled engine per database file, so
connections and compiled statements are reused, and commits with ``synchronous=NORMAL`` (in WAL
mode this is safe against a crashed process; only a power cut can lose the last events). The
files stay ordinary Dagster storage that ``dagster dev`` reads at the same time.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

# Dagster's own wait on a locked database (dagster._core.storage.sqlite.SQLITE_BUSY_TIMEOUT_SECONDS)
_BUSY_TIMEOUT_SECONDS = 30


class _Engines:
    """One pooled engine per SQLite URL, for the block: connections go back to the pool, not shut."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_url: dict[str, Engine] = {}

    def get(self, url: str) -> Engine:
        with self._lock:
            engine = self._by_url.get(url)
            if engine is None:
                # the pool hands a connection to one thread at a time; SQLite only needs to be told
                engine = create_engine(url, connect_args={"timeout": _BUSY_TIMEOUT_SECONDS,
                                                          "check_same_thread": False})
                self._by_url[url] = engine
            return engine

    def dispose(self) -> None:
        with self._lock:
            for engine in self._by_url.values():
                engine.dispose()
            self._by_url.clear()


@contextlib.contextmanager
def quick_event_log(dagster_home: str | Path) -> Iterator[None]:
    """Pooled engines and cheap commits on the SQLite databases under ``dagster_home`` for the
    block."""
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
    from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage

    root = str(Path(dagster_home).resolve())
    engines = _Engines()

    def on_connect(dbapi_con, _record) -> None:
        if not isinstance(dbapi_con, sqlite3.Connection):
            return
        listed = dbapi_con.execute("pragma database_list").fetchall()
        path = listed[0][2] if listed else ""
        if path and path.startswith(root):
            dbapi_con.execute("pragma synchronous = normal")

    @contextlib.contextmanager
    def event_log_connect(self, shard: str) -> Iterator:
        with self._db_lock:
            url = self.conn_string_for_shard(shard)
            if shard not in self._initialized_dbs:
                # a new run's database is created and stamped exactly as Dagster does it
                self._initdb(create_engine(url, poolclass=NullPool,
                                           connect_args={"timeout": _BUSY_TIMEOUT_SECONDS}))
                self._initialized_dbs.add(shard)
            with engines.get(url).connect() as conn, conn.begin():
                yield conn

    @contextlib.contextmanager
    def run_storage_connect(self) -> Iterator:
        with engines.get(self._conn_string).connect() as conn, conn.begin():
            yield conn

    saved = (SqliteEventLogStorage._connect, SqliteRunStorage.connect)
    event.listen(Engine, "connect", on_connect)
    SqliteEventLogStorage._connect = event_log_connect
    SqliteRunStorage.connect = run_storage_connect
    try:
        yield
    finally:
        SqliteEventLogStorage._connect, SqliteRunStorage.connect = saved
        event.remove(Engine, "connect", on_connect)
        engines.dispose()
