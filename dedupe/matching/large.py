"""``deduplicate_large``: the same matching as ``deduplicate`` for tables of tens of millions of
records, with memory bounded by compact per-record and per-pair arrays instead of wide frames.

What stays in memory: the matching features (only the columns the settings reference, about
180 bytes a record), their integer codes, and per candidate pair its two row positions, comparison
levels (one byte each) and match weight. Everything wide goes through chunks in ``workdir``:

    features/part-*.parquet    records normalised chunk by chunk from a lazy scan of the input
    candidates/part-*.parquet  candidate pairs (id_l, id_r, rule), one file per pair chunk
    pairs/part-*.parquet       scored pairs with the explanation columns, as ``score`` writes them

Prepare steps that read the whole table are computed globally first: the unique-id check and
the person-name features, whose given-name/surname orientation uses statistics over every
distinct name. Blocking, training (random pairs for u, EM over the candidates' comparison
vectors), scoring and clustering then see exactly what ``deduplicate`` sees, so both give the
same pairs, weights and clusters.
"""

from __future__ import annotations

import gc
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from dedupe.matching.blocking import SIDE, block_positions, pairs_by_id
from dedupe.matching.clustering import label_frame
from dedupe.matching.comparisons import PairColumns
from dedupe.matching.engine import cluster_labels
from dedupe.matching.features import ORIENTATION, InputError, name_features, referenced_columns
from dedupe.matching.features import prepare as _prepare
from dedupe.matching.model import FSModel, calibrate, gammas, match_weights, probability, train, weights
from dedupe.matching.settings import Settings, default_settings
from dedupe.normalize.keys import clean

log = logging.getLogger("dedupe.matching.large")

#: Above this many records ``crm-golden dedupe`` switches to ``deduplicate_large`` by itself: at
#: 1.7M records it needs half the memory of the in-memory engine (2.1 vs 4.2 GB) for ~15 % more time.
AUTO_LARGE_RECORDS = 1_000_000


@dataclass(frozen=True)
class Progress:
    """One chunk done: counts only, never record values, so it is safe to log."""

    stage: str
    done: int
    total: int
    unit: str
    elapsed: float

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float:
        return (self.total - self.done) / self.rate if self.rate > 0 else float("nan")

    def __str__(self) -> str:
        pct = 100.0 * self.done / self.total if self.total else 100.0
        eta = _duration(self.eta) if self.eta == self.eta else "?"
        return (f"{self.stage}: {self.done:,}/{self.total:,} {self.unit} ({pct:.1f}%), "
                f"{self.rate:,.0f} {self.unit}/s, ETA {eta}")


def _duration(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def log_progress(event: Progress) -> None:
    """Default progress callback: one INFO line per chunk on the ``dedupe.matching.large`` logger."""
    log.info("%s", event)


@dataclass
class LargeResult:
    """What one large run produced; the scored pairs stay on disk (``pairs()`` scans them)."""

    clusters: pl.DataFrame
    model: FSModel
    blocking_counts: dict[str, int]
    candidate_pairs: int
    workdir: Path
    timings: dict[str, float] = field(default_factory=dict)

    def pairs(self) -> pl.LazyFrame:
        """Scored pairs (the columns of ``DedupeResult.pairs``), read lazily chunk by chunk."""
        files = sorted((self.workdir / "pairs").glob("part-*.parquet"))
        return pl.scan_parquet(files) if files else pl.LazyFrame()

    def review_queue(self, settings: Settings) -> pl.LazyFrame:
        """Pairs whose probability falls in the settings' review band, most uncertain first."""
        lo, hi = settings.review_band
        return (self.pairs().filter(pl.col("match_probability").is_between(lo, hi))
                .sort((pl.col("match_probability") - 0.5).abs()))


class _Ticker:
    """Progress events for one stage."""

    def __init__(self, stage: str, total: int, unit: str, callback: Callable[[Progress], None] | None) -> None:
        self.stage, self.total, self.unit, self.callback = stage, total, unit, callback
        self.done = 0
        self.t0 = time.perf_counter()

    def add(self, n: int) -> None:
        self.done += n
        if self.callback is not None:
            self.callback(Progress(self.stage, self.done, self.total, self.unit, time.perf_counter() - self.t0))


def _source(source: str | Path | pl.LazyFrame | pl.DataFrame, workdir: Path) -> pl.LazyFrame | pl.DataFrame:
    """A frame sliceable in record chunks: Parquet is scanned in place, CSV and lazy queries are
    first streamed to one Parquet file (so each chunk is read once, not re-parsed from the start)."""
    if isinstance(source, pl.DataFrame):
        return source
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise InputError(f"{path}: no such file")
        if path.suffix.lower() in (".parquet", ".pq"):
            return pl.scan_parquet(path)
        if path.suffix.lower() not in (".csv", ".txt"):
            raise InputError(f"{path}: unsupported file type {path.suffix!r}; use .csv or .parquet")
        source = pl.scan_csv(path, infer_schema=False, encoding="utf8")
    staged = workdir / "input.parquet"
    source.sink_parquet(staged)
    return pl.scan_parquet(staged)


def _check_ids(lf: pl.LazyFrame, uid: str, columns: list[str]) -> int:
    """Record count; the unique id must exist, be non-null and unique across all chunks."""
    if uid not in columns:
        raise InputError(f"input: unique id column {uid!r} is missing (columns: {columns})")
    n, nulls, distinct = lf.select(pl.len().alias("n"), pl.col(uid).is_null().sum().alias("nulls"),
                                   pl.col(uid).n_unique().alias("distinct")).collect(
        engine="streaming").row(0)
    if nulls:
        raise InputError(f"input: unique id column {uid!r} is empty in {nulls:,} rows")
    if distinct < n:
        dup = lf.group_by(uid).len().filter(pl.col("len") > 1).head(1).collect(engine="streaming")[uid][0]
        raise InputError(f"input: unique id column {uid!r} has duplicate values (e.g. {dup!r})")
    return int(n)


def _name_tables(lf: pl.LazyFrame, columns: list[str], settings: Settings, orientation: bool = False
                 ) -> list[tuple[dict[str, pl.Expr], pl.DataFrame]]:
    """Person-name features per distinct name over the whole input (what ``add_person_name``
    computes), so each chunk joins them instead of deriving statistics from its own rows.

    Names are grouped by their cleaned form (what the name features start from; cleaning twice
    changes nothing), so spelling variants in blanks and full-width letters share one row."""
    out: list[tuple[dict[str, pl.Expr], pl.DataFrame]] = []
    for comp in settings.comparisons:
        t = comp.template or {}
        if t.get("template") != "person_name":
            continue
        given, surname, full, suffix = t.get("given"), t.get("surname"), t.get("full"), t.get("suffix")
        cols = [c for c in (given, surname, full) if c and c in columns]
        if not cols:
            continue   # chunk prepare raises the usual error
        if suffix and suffix in columns:
            cols.append(suffix)
        keys = {f"__{comp.name}_key_{c}": clean(pl.col(c)) for c in cols}
        uniq = lf.group_by(**keys).agg(_n=pl.len()).collect(engine="streaming")
        uniq = uniq.rename({k: c for k, c in zip(keys, cols, strict=True)})
        feats = name_features(uniq, comp.name, given=given, surname=surname, full=full, suffix=suffix,
                              orientation=orientation).drop("_n")
        out.append((keys, feats.rename({c: k for k, c in zip(keys, cols, strict=True)})))
    return out


def _prepare_chunks(frame: pl.LazyFrame | pl.DataFrame, n: int, settings: Settings, outdir: Path,
                    chunk_records: int, progress: Callable[[Progress], None] | None,
                    orientation: bool = False) -> list[Path]:
    columns = frame.collect_schema().names()
    lf = frame.lazy()
    names = _name_tables(lf, columns, settings, orientation)
    keep = {settings.unique_id, SIDE, *referenced_columns(settings)}
    if orientation:
        keep |= {f"{c.name}__{o}" for c in settings.comparisons for o in ORIENTATION}
    outdir.mkdir(parents=True, exist_ok=True)
    ticker = _Ticker("prepare", n, "records", progress)
    paths = []
    for i, offset in enumerate(range(0, max(n, 1), chunk_records)):   # an empty input: one empty chunk
        chunk = frame.slice(offset, chunk_records)
        if isinstance(chunk, pl.LazyFrame):
            chunk = chunk.collect()
        for keys, table in names:
            chunk = chunk.with_columns(**keys).join(table, on=list(keys), how="left", nulls_equal=True,
                                                    maintain_order="left").drop(*keys)
        feats = _prepare(chunk, settings, table="input")
        feats = feats.select([c for c in feats.columns if c in keep])
        path = outdir / f"part-{i:05d}.parquet"
        feats.write_parquet(path)
        paths.append(path)
        ticker.add(chunk.height)
        del chunk, feats
        gc.collect()   # prepare leaves reference cycles holding whole chunks; free them now
    return paths


def _read_contiguous(parts: list[Path]) -> pl.DataFrame:
    """The feature chunks as one frame with contiguous columns (fast gathers), rechunked one
    column at a time so the copy never doubles the whole frame."""
    feats = pl.read_parquet(parts)
    return pl.DataFrame([feats.drop_in_place(c).rechunk() for c in list(feats.columns)])


def _slices(total: int, size: int) -> Iterator[slice]:
    for start in range(0, total, size):
        yield slice(start, min(start + size, total))


def deduplicate_large(source: str | Path | pl.LazyFrame | pl.DataFrame, settings: Settings | None = None, *,
                      workdir: str | Path, chunk_records: int = 500_000, chunk_pairs: int = 2_000_000,
                      model: FSModel | None = None, labels: pl.DataFrame | None = None,
                      progress: Callable[[Progress], None] | None = log_progress,
                      orientation: bool = False) -> LargeResult:
    """prepare -> block -> score -> cluster like ``deduplicate``, chunked through ``workdir``.

    ``source``: a Parquet or CSV path, a LazyFrame or a DataFrame (one table; ``dedupe_only``).
    ``progress`` is called after every chunk of records or pairs (``None``: silent). ``orientation``
    keeps the person names' ``ORIENTATION`` columns in ``features/`` (incremental matching starts
    from them)."""
    settings = settings or default_settings()
    if settings.link_type != "dedupe_only":
        raise ValueError("deduplicate_large matches one table (link_type dedupe_only); "
                         "use deduplicate to link two tables")
    if chunk_records < 1 or chunk_pairs < 1:
        raise ValueError("chunk_records and chunk_pairs must be positive")
    uid = settings.unique_id
    workdir = Path(workdir)
    for sub in ("features", "candidates", "pairs"):
        shutil.rmtree(workdir / sub, ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    t: dict[str, float] = {}

    t0 = time.perf_counter()
    frame = _source(source, workdir)
    n = _check_ids(frame.lazy(), uid, frame.collect_schema().names())
    parts = _prepare_chunks(frame, n, settings, workdir / "features", chunk_records, progress, orientation)
    del frame
    feats = _read_contiguous(parts)
    t["prepare"] = time.perf_counter() - t0
    log.info("prepare: %s records in %.1f s", f"{feats.height:,}", t["prepare"])

    t0 = time.perf_counter()
    codes: dict = {}
    pos, counts = block_positions(feats, settings, codes=codes, low_memory=True, rule_index=True)
    n_pairs = pos.height
    rule_names = pl.Series([r.name for r in settings.blocking_rules], dtype=pl.Utf8)
    cand_dir = workdir / "candidates"
    cand_dir.mkdir(parents=True, exist_ok=True)
    left = np.empty(n_pairs, dtype=np.uint32)
    right = np.empty(n_pairs, dtype=np.uint32)
    chunks = list(_slices(n_pairs, chunk_pairs))
    part = pairs = None
    for i, sl in enumerate(chunks):   # ids oriented smaller first, as ``pairs_by_id`` does for all
        part = pos.slice(sl.start, sl.stop - sl.start)
        part = part.with_columns(rule=rule_names.gather(part["rule"].cast(pl.UInt32)))
        pairs, (li, ri) = pairs_by_id(feats, part, uid)
        pairs.write_parquet(cand_dir / f"part-{i:05d}.parquet")
        left[sl], right[sl] = li, ri
    del pos, part, pairs
    _forget(codes)
    t["block"] = time.perf_counter() - t0
    log.info("block: %s candidate pairs in %.1f s", f"{n_pairs:,}", t["block"])

    t0 = time.perf_counter()
    names = [c.name for c in settings.comparisons]
    g_all = {name: np.empty(n_pairs, dtype=np.int8) for name in names}
    ticker = _Ticker("compare", n_pairs, "pairs", progress)
    for sl in chunks:
        pc = PairColumns(feats, left[sl].astype(np.int64), right[sl].astype(np.int64), codes)
        for name, gv in gammas(pc, settings).items():
            g_all[name][sl] = gv
        ticker.add(sl.stop - sl.start)
    pc = None
    t["compare"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if model is None:
        cand = PairColumns(feats, left, right, codes)
        model = train(feats, settings, candidates=cand, candidate_gammas=g_all, codes=codes)
        del cand
        gc.collect()
    else:
        model.check(settings)
    if labels is not None:
        total = np.empty(n_pairs)
        known = []
        for i, sl in enumerate(chunks):
            w, _ = _weights(model, settings, feats, left, right, g_all, sl, codes)
            total[sl] = w
            ids = pl.read_parquet(cand_dir / f"part-{i:05d}.parquet", columns=["id_l", "id_r"])
            known.append(ids.with_columns(match_weight=w).join(
                labels.select(pl.min_horizontal("id_l", "id_r").alias("id_l"),
                              pl.max_horizontal("id_l", "id_r").alias("id_r")).unique(),
                on=["id_l", "id_r"], how="semi"))
        model = calibrate(model, pl.concat(known), labels)
    _forget(codes)
    t["train"] = time.perf_counter() - t0
    log.info("train: %.1f s", t["train"])

    t0 = time.perf_counter()
    total = np.empty(n_pairs)
    pairs_dir = workdir / "pairs"
    pairs_dir.mkdir(parents=True, exist_ok=True)
    ticker = _Ticker("score", n_pairs, "pairs", progress)
    for i, sl in enumerate(chunks):
        w, bf = _weights(model, settings, feats, left, right, g_all, sl, codes)
        total[sl] = w
        cols: dict[str, object] = dict(pl.read_parquet(cand_dir / f"part-{i:05d}.parquet").to_dict())
        cols["match_weight"] = w
        cols["match_probability"] = probability(model, w)
        for name in names:
            cols[f"gamma_{name}"] = g_all[name][sl]
        for name, v in bf.items():
            cols[f"bf_{name}"] = v
        pl.DataFrame(cols).write_parquet(pairs_dir / f"part-{i:05d}.parquet")
        ticker.add(sl.stop - sl.start)
    t["score"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    _forget(codes)
    sp = pl.DataFrame({"match_weight": total, "match_probability": probability(model, total),
                       **{f"gamma_{name}": g_all[name] for name in names},
                       "l": left.astype(np.int64), "r": right.astype(np.int64)})
    del g_all, total
    gc.collect()
    clusters = label_frame(feats, cluster_labels(feats, sp, settings, model=model, codes=codes, chunk_pairs=chunk_pairs),
                           settings.unique_id)
    t["cluster"] = time.perf_counter() - t0
    log.info("cluster: %s clusters in %.1f s", f"{clusters['cluster_id'].n_unique():,}", t["cluster"])
    return LargeResult(clusters=clusters, model=model, blocking_counts=counts, candidate_pairs=n_pairs,
                       workdir=workdir, timings=t)


def _forget(codes: dict) -> None:
    """Drop the cached per-record codes and blocking keys between stages (each stage hashes the
    columns it needs again, a second or so per column), so they never pile up; the term-frequency
    shares stay, since scoring and clustering read the same ones."""
    for key in [k for k in codes if not (isinstance(k, tuple) and k[0] == "__tf__")]:
        del codes[key]
    gc.collect()


def _weights(model: FSModel, settings: Settings, feats: pl.DataFrame, left: np.ndarray, right: np.ndarray,
             g_all: dict[str, np.ndarray], sl: slice, codes: dict) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Match weight and per-comparison weights of one pair chunk (levels already computed)."""
    pc = PairColumns(feats, left[sl].astype(np.int64), right[sl].astype(np.int64), codes)
    bf = weights(model, settings, pc, {k: v[sl] for k, v in g_all.items()})
    return match_weights(model, bf, sl.stop - sl.start), bf
