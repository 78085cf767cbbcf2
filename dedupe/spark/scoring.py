"""Comparison vectors and match weights for Spark pair frames, computed over Arrow batches of
pairs by the polars engine's own functions (``gammas``, ``weights``, ``probability``,
``cannot_link_mask``), so a pair gets the same levels and weight in both engines.

A batch only holds the records its pairs name, so anything the polars engine derives from the
whole table is supplied from outside: the term frequencies of the ``tf_column`` levels are
computed over all records in Spark and travel with each pair (``_l_tf__<col>``/``_r_tf__<col>``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from dedupe.matching.clustering import cannot_link_mask
from dedupe.matching.comparisons import PairColumns, peer_column
from dedupe.matching.model import BF_CLIP, TF_MIN, ComparisonParams, FSModel, gammas, probability, weights
from dedupe.matching.settings import Settings
from dedupe.spark.features import POS
from dedupe.spark.frames import map_polars, to_polars

LEFT, RIGHT = "_l_", "_r_"


def comparison_columns(settings: Settings) -> list[str]:
    """Feature columns the comparisons read, with the table-wide peer flags (``add_peer_flags``)."""
    peers = {peer_column(lv.peer_flag, lv.peer_key) for c in settings.comparisons for lv in c.levels if lv.peer_flag}
    return sorted(set().union(*(c.columns() for c in settings.comparisons)) | peers)


def tf_columns(settings: Settings, model: FSModel | None = None) -> list[str]:
    cols = {lv.tf_column for c in settings.comparisons for lv in c.scored_levels if lv.tf_column}
    if model is not None:
        cols |= {col for p in model.comparisons.values() for col in p.tf_levels.values()}
    return sorted(cols)


@dataclass(frozen=True)
class TermFrequencies:
    """Per-record frequency columns (``tf__<col>``) joined to the features, and the expected
    share of a chance agreement per column (the sum of squared shares)."""

    feats: object
    expected: dict[str, float]


def term_frequencies(feats, columns: list[str], n: int) -> TermFrequencies:
    """Share of records holding each record's value (null for a null value), over the whole
    table, as the polars engine computes it; the expected share is summed on the driver over
    the records in row order, as polars sums it, so both engines get the same float."""
    from pyspark.sql import functions as F

    columns = [c for c in columns if c in feats.columns]
    if not columns:
        return TermFrequencies(feats=feats, expected={})
    types = dict(feats.dtypes)
    entries = F.array(*[F.struct(F.lit(i).alias("c"), F.col(col).cast("string").alias("v"))
                        for i, col in enumerate(columns)])
    counts = (feats.select(F.explode(entries).alias("e")).select("e.c", "e.v").where(F.col("v").isNotNull())
              .groupBy("c", "v").count())
    valid = {r["c"]: int(r["n"]) for r in counts.groupBy("c").agg(F.sum("count").alias("n")).collect()}
    out = feats
    for i, col in enumerate(columns):
        share = counts.where(F.col("c") == i).select(
            F.col("v").cast(types[col]).alias(col), (F.col("count") / F.lit(max(valid.get(i, 0), 1))).alias(f"tf__{col}"))
        out = out.join(share, col, "left")
    out = out.localCheckpoint()
    shares = to_polars(out.select(POS, *[f"tf__{c}" for c in columns]))
    order = shares[POS].to_numpy()
    expected = {}
    for col in columns:
        arr = np.full(n, np.nan)
        arr[order] = shares[f"tf__{col}"].fill_null(np.nan).cast(pl.Float64).to_numpy()
        expected[col] = float(np.nansum(arr) / max(valid.get(columns.index(col), 0), 1))
    return TermFrequencies(feats=out, expected=expected)


def pair_frame(pairs, feats, columns: list[str]):
    """Pairs with both records' feature columns (``_l_<col>``, ``_r_<col>``)."""
    from pyspark.sql import functions as F

    def side(prefix: str, key: str):
        return feats.select(F.col(POS).alias(key), *[F.col(c).alias(prefix + c) for c in columns])

    return pairs.join(side(LEFT, "l"), "l").join(side(RIGHT, "r"), "r")


def _local_pairs(batch: pl.DataFrame, columns: list[str]) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """The batch's records as a small features frame (sorted by position) and the pairs' rows in it."""
    left = batch.select(pl.col("l").alias(POS), *[pl.col(LEFT + c).alias(c) for c in columns])
    right = batch.select(pl.col("r").alias(POS), *[pl.col(RIGHT + c).alias(c) for c in columns])
    local = pl.concat([left, right]).unique(POS, keep="first").sort(POS)
    li = local[POS].search_sorted(batch["l"]).cast(pl.Int64).to_numpy()
    ri = local[POS].search_sorted(batch["r"]).cast(pl.Int64).to_numpy()
    return local, li, ri


def gamma_frame(pairs, feats, settings: Settings, *, carry: tuple[str, ...] = (), tf: tuple[str, ...] = ()):
    """``l, r``, the ``carry`` columns, ``gamma_<comparison>`` per comparison, and both sides'
    term frequencies for the ``tf`` columns (``feats`` must hold ``tf__<col>``)."""
    from pyspark.sql import types as T

    columns = comparison_columns(settings)
    extra = [f"tf__{c}" for c in tf]
    frame = pair_frame(pairs.select("l", "r", *carry), feats, columns + extra)
    keep = ["l", "r", *carry, *[p + e for e in extra for p in (LEFT, RIGHT)]]
    names = [c.name for c in settings.comparisons]

    def run(batch: pl.DataFrame) -> pl.DataFrame:
        local, li, ri = _local_pairs(batch, columns)
        g = gammas(PairColumns(local, li, ri, {}), settings)
        return batch.select(keep).with_columns(pl.Series(f"gamma_{n}", g[n], dtype=pl.Int8) for n in names)

    fields = [f for f in frame.schema.fields if f.name in keep]
    fields.sort(key=lambda f: keep.index(f.name))
    schema = T.StructType([*fields, *[T.StructField(f"gamma_{n}", T.ByteType()) for n in names]])
    return map_polars(frame, run, schema)


def without_tf(model: FSModel) -> FSModel:
    return FSModel(comparisons={k: ComparisonParams(levels=v.levels, m=v.m, u=v.u, tf_levels={})
                                for k, v in model.comparisons.items()},
                   prior=model.prior, calibration=model.calibration, training=model.training)


def score_batch(batch: pl.DataFrame, settings: Settings, model: FSModel, expected: dict[str, float],
                carry: tuple[str, ...]) -> pl.DataFrame:
    """Weights, probability and the cannot-link flag for a batch of pairs with gammas: the polars
    engine's ``weights`` without term frequencies, plus the adjustment it makes, from the
    table-wide frequencies carried by each pair."""
    g = {c.name: batch[f"gamma_{c.name}"].to_numpy() for c in settings.comparisons}
    bf = weights(without_tf(model), settings, None, g)
    for comp in settings.comparisons:
        p = model.comparisons[comp.name]
        k = len(p.levels)
        for label, col in p.tf_levels.items():
            if label not in p.levels or col not in expected:
                continue
            at = g[comp.name] == k - 1 - p.levels.index(label)
            if not at.any():
                continue
            fl = batch[f"{LEFT}tf__{col}"].cast(pl.Float64).to_numpy()
            fr = batch[f"{RIGHT}tf__{col}"].cast(pl.Float64).to_numpy()
            tf, exp = np.fmax(fl, fr), expected[col]
            adj = np.log2(exp / np.maximum(np.nan_to_num(tf, nan=exp), TF_MIN))
            bf[comp.name] = np.where(at, bf[comp.name] + np.clip(adj, -BF_CLIP, BF_CLIP), bf[comp.name])
    total = np.full(batch.height, model.prior_weight)
    for v in bf.values():
        total += v
    out = batch.select("l", "r", *carry).with_columns(
        pl.Series("match_weight", total), pl.Series("match_probability", probability(model, total)),
        *[pl.Series(f"gamma_{n}", v, dtype=pl.Int8) for n, v in g.items()],
        *[pl.Series(f"bf_{n}", v, dtype=pl.Float64) for n, v in bf.items()])
    return out.with_columns(cannot=pl.Series(cannot_link_mask(out, settings), dtype=pl.Boolean))


def weight_frame(gam, settings: Settings, model: FSModel, expected: dict[str, float], *,
                 carry: tuple[str, ...] = ()):
    """From a ``gamma_frame``: ``l, r``, carry columns, ``match_weight``, ``match_probability``,
    ``gamma_*``, ``bf_*`` and ``cannot`` (the pair carries strong evidence against a match)."""
    from pyspark.sql import types as T

    model.check(settings)
    names = [c.name for c in settings.comparisons]
    base = [f for f in gam.schema.fields if f.name in ("l", "r", *carry)]
    base.sort(key=lambda f: ("l", "r", *carry).index(f.name))
    schema = T.StructType([
        *base, T.StructField("match_weight", T.DoubleType()), T.StructField("match_probability", T.DoubleType()),
        *[T.StructField(f"gamma_{n}", T.ByteType()) for n in names],
        *[T.StructField(f"bf_{n}", T.DoubleType()) for n in names],
        T.StructField("cannot", T.BooleanType())])
    return map_polars(gam, lambda b: score_batch(b, settings, model, expected, carry), schema)
