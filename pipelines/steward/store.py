"""The steward decision store: a SQLite file beside the warehouse, written by the review app.

DuckDB allows one writing process per file, and even a reader blocks the pipeline's writer, so the
app keeps its decisions here (WAL mode: the app writes while the pipeline reads). A run imports the
pending rows into ``golden.steward_decisions`` (:func:`pipelines.review.import_pending_decisions`)
and marks them imported; the rows themselves are kept as the audit trail (who, when, note).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

COLUMNS = ("decision_id", "action", "constraint", "id_l", "id_r", "golden_id", "note", "decided_by",
           "decided_at")
_DDL = """
create table if not exists decisions (
    decision_id text primary key,
    action text not null,
    "constraint" text not null,
    id_l text not null,
    id_r text not null,
    golden_id text,
    note text not null default '',
    decided_by text not null,
    decided_at text not null,
    origin text not null default 'review app',
    imported_at text
);
create index if not exists decisions_pending on decisions(imported_at);
"""


def store_path(warehouse_path: str | Path) -> Path:
    """``<dir>/<warehouse stem>.decisions.sqlite`` beside the warehouse file."""
    path = Path(warehouse_path)
    return path.with_name(f"{path.stem}.decisions.sqlite")


class DecisionStore:
    """Steward decisions waiting for (or already imported by) the next pipeline run."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @classmethod
    def beside(cls, warehouse_path: str | Path) -> DecisionStore:
        return cls(store_path(warehouse_path))

    def exists(self) -> bool:
        return self.path.is_file()

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=10.0)
        try:
            con.execute("pragma journal_mode=wal")
            con.executescript(_DDL)
            yield con
            con.commit()
        except BaseException:
            con.rollback()
            raise
        finally:
            con.close()

    def add(self, rows: Iterable[tuple]) -> int:
        """Append decisions, each ``COLUMNS`` in order (``decided_at`` a datetime); one transaction."""
        rows = [(*r[:8], _iso(r[8])) for r in rows]
        with self.connect() as con:
            con.executemany(f"insert into decisions ({', '.join(_q(c) for c in COLUMNS)}) "
                            f"values ({', '.join('?' * len(COLUMNS))})", rows)
        return len(rows)

    def rows(self, *, pending_only: bool = False) -> list[dict]:
        """Decisions oldest first (only those not imported yet with ``pending_only``)."""
        if not self.exists():
            return []
        where = "where imported_at is null" if pending_only else ""
        with self.connect() as con:
            con.row_factory = sqlite3.Row
            got = con.execute(f"select * from decisions {where} order by decided_at, rowid").fetchall()
        return [dict(r) for r in got]

    def mark_imported(self, decision_ids: list[str]) -> None:
        now = _iso(datetime.now(UTC))
        with self.connect() as con:
            con.executemany("update decisions set imported_at = ? where decision_id = ?",
                            [(now, d) for d in decision_ids])


def _iso(value) -> str:
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else str(value)


def _q(column: str) -> str:
    return f'"{column}"'
