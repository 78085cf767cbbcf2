"""The matching pipeline in four calls (prepare -> block -> score -> cluster) and ``deduplicate``,
which runs them all, for one table (dedupe) or two (link)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from dedupe.matching.blocking import SIDE, block_positions, pairs_by_id
from dedupe.matching.clustering import cannot_link_mask, cluster_positions, intra_cluster_pairs, label_frame
from dedupe.matching.comparisons import PairColumns
from dedupe.matching.features import InputError, check_unique_id, referenced_columns
from dedupe.matching.features import prepare as _prepare
from dedupe.matching.model import FSModel, calibrate, gammas, match_weights, probability, train, weights
from dedupe.matching.settings import Settings, default_settings


def prepare(df: pl.DataFrame, settings: Settings | None = None, *, link_with: pl.DataFrame | None = None,
            table: str = "input") -> pl.DataFrame:
    """Features frame (the input's rows and order). With ``link_with`` both tables are stacked and a
    ``__side`` column (0 = ``df``, 1 = ``link_with``) tells them apart."""
    settings = settings or default_settings()
    if link_with is not None:
        uid = settings.unique_id
        check_unique_id(df, uid, table=table)
        check_unique_id(link_with, uid, table="link table")
        both = pl.concat([df.with_columns(pl.lit(0, pl.Int8).alias(SIDE)),
                          link_with.with_columns(pl.lit(1, pl.Int8).alias(SIDE))], how="diagonal_relaxed")
        shared = both.filter(pl.col(uid).is_duplicated())
        if shared.height:
            raise InputError(f"{table} and the link table share unique ids (e.g. {shared[uid][0]!r}); "
                             f"ids must be distinct across both tables")
        df, table = both, f"{table}+link table"
    return _prepare(df, settings, table=table)


def _positions(feats: pl.DataFrame, pairs: pl.DataFrame, uid: str) -> tuple[np.ndarray, np.ndarray]:
    """Row positions in ``feats`` of both ids of every pair (a hash join; any row order works)."""
    ids = feats.select(pl.col(uid).alias("_id"), pl.int_range(pl.len(), dtype=pl.Int64).alias("_pos"))
    dtype = ids["_id"].dtype
    out = []
    for col in ("id_l", "id_r"):
        q = pairs.select(pl.col(col).cast(dtype).alias("_id")).join(ids, on="_id", how="left", maintain_order="left")
        if q["_pos"].null_count():
            bad = q.filter(pl.col("_pos").is_null())["_id"].head(3).to_list()
            raise InputError(f"pairs column {col} holds ids missing from the features frame: {bad}")
        out.append(q["_pos"].to_numpy())
    return out[0], out[1]


def score(feats: pl.DataFrame, pairs: pl.DataFrame, settings: Settings | None = None, model: FSModel | None = None,
          *, codes: dict | None = None, positions: tuple[np.ndarray, np.ndarray] | None = None
          ) -> tuple[pl.DataFrame, FSModel]:
    """Comparison vector, per-comparison weights and match probability for every pair; trains
    the model first when none is given."""
    settings = settings or default_settings()
    uid = settings.unique_id
    codes = codes if codes is not None else {}
    li, ri = positions if positions is not None else _positions(feats, pairs, uid)
    pc = PairColumns(feats, li, ri, codes)
    g = gammas(pc, settings)
    if model is None:
        model = train(feats, settings, candidates=pc, candidate_gammas=g, codes=codes)
    else:
        model.check(settings)
    bf = weights(model, settings, pc, g)
    total = match_weights(model, bf, len(li))
    cols: dict[str, object] = {"id_l": pairs["id_l"], "id_r": pairs["id_r"]}
    if "rule" in pairs.columns:
        cols["rule"] = pairs["rule"]
    cols["match_weight"] = total
    cols["match_probability"] = probability(model, total)
    for name, gv in g.items():
        cols[f"gamma_{name}"] = gv
    for name, v in bf.items():
        cols[f"bf_{name}"] = v
    return pl.DataFrame(cols), model


def cluster(feats: pl.DataFrame, scored: pl.DataFrame, settings: Settings | None = None, *,
            model: FSModel | None = None, codes: dict | None = None,
            positions: tuple[np.ndarray, np.ndarray] | None = None) -> pl.DataFrame:
    """One row per record: unique id and ``cluster_id`` (smallest unique id in the cluster).

    With ``model``, pairs inside a cluster that blocking never produced are scored too, so
    strong negative evidence between two records splits the cluster even when only third
    records connected them."""
    settings = settings or default_settings()
    uid = settings.unique_id
    li, ri = positions if positions is not None else _positions(feats, scored, uid)
    sp = scored.select("match_weight", "match_probability", *[c for c in scored.columns if c.startswith("gamma_")])
    sp = sp.with_columns(l=pl.Series(li), r=pl.Series(ri))
    return label_frame(feats, cluster_labels(feats, sp, settings, model=model, codes=codes), uid)


def cluster_labels(feats: pl.DataFrame, sp: pl.DataFrame, settings: Settings, *, model: FSModel | None = None,
                   codes: dict | None = None, chunk_pairs: int | None = None) -> np.ndarray:
    """Cluster label per record position from scored pairs by position (``l``, ``r``, the weight,
    probability and ``gamma_*`` columns): the one clustering core of the in-memory and chunked
    engines. With ``model``, pairs inside a cluster that blocking never produced are scored
    (``chunk_pairs`` at a time when given) and a cannot-link one splits the cluster again."""
    cannot = cannot_link_mask(sp, settings)
    labels = cluster_positions(feats.height, sp, settings, cannot)
    if model is None:
        return labels
    same = pl.Series(labels[sp["l"].to_numpy()] == labels[sp["r"].to_numpy()])  # only these can rule a pair out
    extra = intra_cluster_pairs(labels, sp.select("l", "r").filter(same))
    step = chunk_pairs or max(extra.height, 1)
    bad = []
    for start in range(0, extra.height, step):
        part = extra.slice(start, step)
        pairs, pos = pairs_by_id(feats, part, settings.unique_id)
        scored, _ = score(feats, pairs, settings, model, codes=codes, positions=pos)
        bad.append(part.filter(pl.Series(cannot_link_mask(scored, settings))))
    bad_pairs = pl.concat(bad) if bad else extra
    if bad_pairs.height:
        labels = cluster_positions(feats.height, sp, settings, cannot, extra_cannot=bad_pairs)
    return labels


@dataclass
class DedupeResult:
    """Everything one run produced; ``pairs`` carries the per-comparison waterfall."""

    clusters: pl.DataFrame
    pairs: pl.DataFrame
    model: FSModel
    blocking_counts: dict[str, int]
    features: pl.DataFrame | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def review_queue(self, settings: Settings) -> pl.DataFrame:
        """Pairs whose probability falls in the settings' review band, most uncertain first."""
        lo, hi = settings.review_band
        return (self.pairs.filter(pl.col("match_probability").is_between(lo, hi))
                .sort((pl.col("match_probability") - 0.5).abs()))


def deduplicate(df: pl.DataFrame, settings: Settings | None = None, *, link_with: pl.DataFrame | None = None,
                model: FSModel | None = None, labels: pl.DataFrame | None = None,
                keep_features: bool = False) -> DedupeResult:
    """prepare -> block -> score -> cluster. ``labels`` (``id_l, id_r, is_match``) from stewards
    calibrate the probabilities when given."""
    settings = settings or default_settings()
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    feats = prepare(df, settings, link_with=link_with)
    del df, link_with       # the features frame holds what matching needs
    if not keep_features:   # matching reads only the features: let the raw columns go
        keep = {settings.unique_id, SIDE, *referenced_columns(settings)}
        feats = feats.select([c for c in feats.columns if c in keep])
    t["prepare"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    codes: dict = {}
    pos, counts = block_positions(feats, settings, codes=codes)
    pairs, positions = pairs_by_id(feats, pos, settings.unique_id)
    del pos
    t["block"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    scored, model = score(feats, pairs, settings, model, codes=codes, positions=positions)
    if labels is not None:
        model = calibrate(model, scored, labels)
        scored, model = score(feats, pairs, settings, model, codes=codes, positions=positions)
    t["score"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    clusters = cluster(feats, scored, settings, model=model, codes=codes, positions=positions)
    t["cluster"] = time.perf_counter() - t0
    if SIDE in feats.columns:
        clusters = clusters.join(feats.select(settings.unique_id, SIDE), on=settings.unique_id, how="left")
    return DedupeResult(clusters=clusters, pairs=scored, model=model, blocking_counts=counts,
                        features=feats if keep_features else None, timings=t)
