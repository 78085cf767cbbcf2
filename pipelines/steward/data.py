"""What the review app shows, read from the warehouse in short read-only connections and cached.

DuckDB locks the file for every process that opens it, and a run fails fast when another process
has the warehouse open. So the app reads only while it holds the run lock (``<warehouse>.lock``,
taken without waiting: a run in progress means "keep showing the cached data"), keeps every table
in memory, and reads again only when the files changed. Golden tables come from the published read
copy when there is one; the source records (``staging.customers``) only live in the warehouse.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl
import polars.selectors as cs

from dedupe import default_settings
from pipelines.warehouse import lock_path, read_copy_path

#: name in the app -> table
TABLES = {
    "queue": "golden.review_queue",
    "crosswalk": "golden.crosswalk",
    "customers": "golden.customers",
    "lineage": "golden.customer_lineage",
    "history": "golden.customers_history",
    "id_history": "golden.id_history",
    "decisions": "golden.steward_decisions",
    "records": "staging.customers",
}
REQUIRED = ("queue", "crosswalk", "records")
READ_RETRY_SECONDS = 3.0
#: a file changed less than this long ago may still be written: keep the cache a moment longer
SETTLE_SECONDS = 1.0
FILTERS = ("source", "rule", "band", "country", "min_p", "max_p")


class WarehouseUnavailable(Exception):
    """The warehouse cannot be read now (no file, no published queue, or a run holds it)."""


@dataclass
class Snapshot:
    """Every table the app needs, as read at ``loaded_at`` (``signature``: the files' stat)."""

    frames: dict[str, pl.DataFrame]
    signature: tuple
    loaded_at: float
    threshold: float
    band: tuple[float, float]
    queue: pl.DataFrame = field(init=False)
    records: pl.DataFrame = field(init=False)

    def __post_init__(self) -> None:
        cw = self.frames["crosswalk"].select("record_id", "golden_id")
        self.records = self.frames["records"].join(cw, on="record_id", how="left")
        self.queue = prioritise(self.frames["queue"], self.records, self.threshold, self.band)

    def table(self, name: str) -> pl.DataFrame | None:
        return self.frames.get(name)


def prioritise(queue: pl.DataFrame, records: pl.DataFrame, threshold: float,
               band: tuple[float, float]) -> pl.DataFrame:
    """The queue with sources, countries, golden-customer sizes and a priority: pairs close to the
    threshold whose decision moves many records come first."""
    sizes = records.group_by("golden_id").len("size")
    rec = records.select("record_id", "source", "country", "golden_id").join(sizes, on="golden_id", how="left")
    q = queue
    for side in ("l", "r"):
        q = q.join(rec.select(pl.col("record_id").alias(f"id_{side}"), pl.col("source").alias(f"source_{side}"),
                              pl.col("country").alias(f"country_{side}"), pl.col("size").alias(f"size_{side}")),
                   on=f"id_{side}", how="left")
    if "rule" not in q.columns:
        q = q.with_columns(rule=pl.lit(None, pl.Utf8))
    lo, hi = band
    span = max(threshold - lo, hi - threshold, 1e-9)
    impact = pl.when(pl.col("merged")).then(pl.col("size_l")).otherwise(pl.col("size_l") + pl.col("size_r"))
    closeness = (1.0 - (pl.col("match_probability") - threshold).abs() / span).clip(0.0, 1.0)
    return (q.with_columns(size_l=pl.col("size_l").fill_null(1), size_r=pl.col("size_r").fill_null(1))
            .with_columns(impact=impact.fill_null(1).cast(pl.Int64),
                          band=((pl.col("match_probability") * 10).floor() / 10).round(1))
            .with_columns(priority=closeness * (pl.col("impact") + 1).cast(pl.Float64).log(2))
            .sort(["priority", "match_probability", "id_l", "id_r"], descending=[True, True, False, False]))


def filter_queue(queue: pl.DataFrame, filters: dict[str, str], *, skip: str = "") -> pl.DataFrame:
    """Pairs matching every filter (``skip`` one dimension, for its facet counts)."""
    q = queue
    f = {k: v for k, v in filters.items() if v not in (None, "") and k != skip}
    if "source" in f:
        q = q.filter((pl.col("source_l") == f["source"]) | (pl.col("source_r") == f["source"]))
    if "rule" in f:
        q = q.filter(pl.col("rule") == f["rule"])
    if "country" in f:
        q = q.filter((pl.col("country_l") == f["country"]) | (pl.col("country_r") == f["country"]))
    if "band" in f:
        q = q.filter(pl.col("band") == _number(f["band"], "band"))
    if "min_p" in f:
        q = q.filter(pl.col("match_probability") >= _number(f["min_p"], "min_p"))
    if "max_p" in f:
        q = q.filter(pl.col("match_probability") < _number(f["max_p"], "max_p"))
    return q


def facets(queue: pl.DataFrame, filters: dict[str, str]) -> dict[str, list[tuple[str, int]]]:
    """Per filter dimension, each value and how many pairs it would show (other filters applied)."""
    out = {}
    for dim, cols in (("source", ("source_l", "source_r")), ("rule", ("rule",)), ("band", ("band",)),
                      ("country", ("country_l", "country_r"))):
        q = filter_queue(queue, filters, skip=dim).with_row_index("_pair")
        values = pl.concat([q.select("_pair", pl.col(c).cast(pl.Utf8).alias("v")) for c in cols]).unique()
        counts = values.drop_nulls("v").group_by("v").len()
        counts = counts.sort("v", descending=True) if dim == "band" else counts.sort(["len", "v"], descending=[True, False])
        out[dim] = [(v, n) for v, n in counts.iter_rows()]
    return out


def _number(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"filter {name} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"filter {name} must be a finite number, got {text!r}")
    return value


class ReviewData:
    """The cached :class:`Snapshot` of one warehouse, reloaded when its files change."""

    def __init__(self, warehouse: str | Path, *, threshold: float | None = None,
                 band: tuple[float, float] | None = None):
        self.warehouse = Path(warehouse).absolute()
        if threshold is None or band is None:
            s = default_settings()
            threshold = s.threshold if threshold is None else threshold
            band = tuple(s.review_band) if band is None else band
        self.threshold, self.band = threshold, band
        self._snap: Snapshot | None = None

    def read_copy(self) -> Path | None:
        path = read_copy_path(self.warehouse)
        return path if path.is_file() else None

    def signature(self) -> tuple:
        files = [self.warehouse, self.warehouse.with_name(self.warehouse.name + ".wal")]
        if (copy := self.read_copy()) is not None:
            files.append(copy)
        return tuple((str(p), *_stat(p)) for p in files)

    def get(self) -> Snapshot:
        """The cached snapshot, read again when the files changed and no run holds the warehouse."""
        sig = self.signature()
        snap = self._snap
        if snap is not None and snap.signature == sig:
            return snap
        newest = max((s[1] for s in sig if s[1]), default=0) / 1e9
        if snap is not None and time.time() - newest < SETTLE_SECONDS:
            return snap
        try:
            frames = self._read()
        except WarehouseUnavailable:
            if snap is not None:
                return snap
            raise
        self._snap = Snapshot(frames, sig, time.time(), self.threshold, self.band)
        return self._snap

    def _read(self) -> dict[str, pl.DataFrame]:
        if not self.warehouse.is_file():
            raise WarehouseUnavailable(f"warehouse not found: {self.warehouse} (run the pipeline first)")
        copy = self.read_copy()
        frames: dict[str, pl.DataFrame] = {}
        with _no_run(self.warehouse):
            if copy is not None:
                frames.update(_read_tables(copy, {k: t for k, t in TABLES.items() if t.startswith("golden.")}))
            frames.update(_read_tables(self.warehouse, {k: t for k, t in TABLES.items() if k not in frames}))
        missing = [TABLES[k] for k in REQUIRED if k not in frames]
        if missing:
            raise WarehouseUnavailable(f"{self.warehouse} has no {', '.join(missing)} yet: run the pipeline first")
        return frames


def _stat(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except FileNotFoundError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


@contextlib.contextmanager
def _no_run(warehouse: Path):
    """Hold the warehouse's run lock while reading, without waiting: a run in progress (or one
    starting) must never find the file open. Without a lock file (no run yet), just read."""
    lock = lock_path(warehouse)
    if not lock.exists():
        yield
        return
    with open(lock, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WarehouseUnavailable(f"a pipeline run is updating {warehouse}: showing the last data read") from None
        yield  # closing the file releases the lock


def _read_tables(path: Path, tables: dict[str, str]) -> dict[str, pl.DataFrame]:
    """The tables that exist, in one short read-only connection (retried briefly while locked)."""
    deadline = time.monotonic() + READ_RETRY_SECONDS
    while True:
        try:
            con = duckdb.connect(str(path), read_only=True)
            break
        except duckdb.IOException as exc:
            if time.monotonic() >= deadline:
                raise WarehouseUnavailable(f"{path} is locked by another process: {str(exc).splitlines()[0]}") from None
            time.sleep(0.1)
    try:
        have = {f"{s}.{t}" for s, t in con.execute(
            "select table_schema, table_name from information_schema.tables").fetchall()}
        out = {}
        for key, table in tables.items():
            if table in have:
                schema, name = table.split(".")
                df = con.sql(f'select * from "{schema}"."{name}"').pl()
                out[key] = df.with_columns(cs.datetime(time_zone="*").dt.convert_time_zone("UTC"))
        return out
    finally:
        con.close()
