"""Rows a keyed table without a change cursor re-sends unchanged, left out before they are loaded.

A table with no cursor (ERP invoices: no last-changed column) is read whole every run, so that a row
edited in place is seen. Merging every row again costs a load proportional to the table; a row whose
key and every column equal the raw row already merged would be replaced by itself. This step drops
those rows from each Arrow batch before dlt writes it, so a load writes only new and changed rows and
the merged table ends up with the values it has when every row is merged again (only the unchanged
rows' ``_dlt_load_id`` stays the load that last changed them).

Rows are compared by DuckDB's 64-bit ``hash`` of their columns (the raw table's, read once per load,
against each batch's): a changed row is taken for unchanged only if its hash collides with the old
row's, about 1 in 2^64 per changed row. A batch is passed whole when the raw table is missing or lacks
one of the batch's columns; a row whose key is missing is always loaded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

_HASH = "__row_hash"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _hash_sql(columns: Sequence[str], key: Sequence[str], source: str, extra: str = "") -> str:
    """``key`` columns and the hash of the other ``columns`` (text, in the given order) of ``source``."""
    values = ", ".join(f"cast({_q(c)} as varchar)" for c in columns if c not in key) or "null"
    return f"select {extra}{', '.join(_q(k) for k in key)}, hash({values}) as {_HASH} from {source}"


@dataclasses.dataclass
class SkipUnchanged:
    """An ``add_map`` step for an Arrow resource merged on ``key`` into ``table`` of ``warehouse``;
    counts the rows it read and the rows it left out."""

    warehouse: str | Path
    table: str
    key: Sequence[str]
    rows_read: int = 0
    rows_skipped: int = 0
    _memory: duckdb.DuckDBPyConnection | None = dataclasses.field(default=None, repr=False)
    _known: dict[tuple[str, ...], str | None] = dataclasses.field(default_factory=dict, repr=False)

    def _raw_hashes(self, columns: tuple[str, ...]) -> str | None:
        """The in-memory table of key and row hash of every raw row over ``columns``, read once per
        load (None: no raw table with those columns, or a key held twice in it)."""
        if columns in self._known:
            return self._known[columns]
        hashes = None
        if Path(self.warehouse).exists():
            schema, name = self.table.split(".")
            con = duckdb.connect(str(self.warehouse), read_only=True)
            try:
                present = {c for (c,) in con.execute(
                    "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
                    [schema, name]).fetchall()}
                frame = con.sql(_hash_sql(columns, self.key, f"{_q(schema)}.{_q(name)}")).arrow() \
                    if present and all(c in present for c in columns) else None
            finally:
                con.close()
            if frame is not None:
                if self._memory is None:
                    self._memory = duckdb.connect()
                hashes = f"raw_{len(self._known)}"
                self._memory.register("__frame", frame)
                self._memory.execute(f"create table {hashes} as select * from __frame")
                self._memory.unregister("__frame")
                keys = ", ".join(_q(k) for k in self.key)
                n, distinct = self._memory.execute(
                    f"select count(*), count(distinct ({keys})) from {hashes}").fetchall()[0]
                if n != distinct:
                    hashes = None
        self._known[columns] = hashes
        return hashes

    def __call__(self, batch: object) -> object:
        if not isinstance(batch, pa.Table) or batch.num_rows == 0:
            return batch
        self.rows_read += batch.num_rows
        columns = tuple(batch.column_names)
        if any(k not in columns for k in self.key):
            return batch
        raw = self._raw_hashes(columns)
        if raw is None:
            return batch
        con = self._memory
        con.register("__batch", batch.append_column("__n", pa.array(range(batch.num_rows), pa.int64())))
        try:
            keys = " and ".join(f"r.{_q(k)} = b.{_q(k)}" for k in self.key)
            kept = con.execute(
                f"select b.__n from ({_hash_sql(columns, self.key, '__batch', extra='__n, ')}) b "
                f"left join {raw} r on {keys} "
                f"where r.{_HASH} is distinct from b.{_HASH} order by b.__n").fetchnumpy()["__n"]
        finally:
            con.unregister("__batch")
        self.rows_skipped += batch.num_rows - len(kept)
        return batch.take(pa.array(kept, pa.int64()))
