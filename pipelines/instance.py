"""Dagster's SQLite storage, made cheap for a run in this process.

The default instance writes every event (~10 per step) through a fresh SQLite connection that it
closes again, and SQLite syncs the write-ahead log to disk on each commit and checkpoints it when
the last connection closes: 5-15 ms per event, a third of a small run on a busy disk. For the
length of a run, :func:`quick_event_log` keeps one idle connection on each database so closing
does not checkpoint, and commits with ``synchronous=NORMAL`` (in WAL mode this is safe against a
crashed process; only a power cut can lose the last events). The files stay ordinary Dagster
storage that ``dagster dev`` reads at the same time.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine


@contextlib.contextmanager
def quick_event_log(dagster_home: str | Path) -> Iterator[None]:
    """Cheap commits on the SQLite databases under ``dagster_home`` for the block."""
    root = str(Path(dagster_home).resolve())
    keepers: dict[str, sqlite3.Connection] = {}

    def on_connect(dbapi_con, _record) -> None:
        if not isinstance(dbapi_con, sqlite3.Connection):
            return
        listed = dbapi_con.execute("pragma database_list").fetchall()
        path = listed[0][2] if listed else ""
        if not path or not path.startswith(root):
            return
        dbapi_con.execute("pragma synchronous = normal")
        # a new database is switched to WAL by Dagster after its first connection: keep it open
        # only once it is, an idle reader would stop that switch
        if path not in keepers and dbapi_con.execute("pragma journal_mode").fetchone()[0] == "wal":
            keeper = sqlite3.connect(path, check_same_thread=False)
            keeper.execute("select count(*) from sqlite_master").fetchall()  # opens the WAL index
            keepers[path] = keeper

    event.listen(Engine, "connect", on_connect)
    try:
        yield
    finally:
        event.remove(Engine, "connect", on_connect)
        for con in keepers.values():
            con.close()
