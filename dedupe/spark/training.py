"""Fellegi-Sunter training from Spark comparison vectors, with the polars engine's estimators.

The polars engine's ``train`` needs the vectors only as counts of distinct patterns, so Spark
computes the vectors and aggregates the patterns, and the driver runs the same EM (``_em``) over
them in the same order: u from the same random record pairs (drawn by position with the same
seed), m per training pass, the prior from all candidates. The model equals the polars one as
long as no training pass exceeds ``em_max_pairs`` (the polars engine then samples pairs by row
order, which Spark samples differently).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from dedupe.matching.blocking import SIDE
from dedupe.matching.features import base_columns
from dedupe.matching.model import ComparisonParams, FSModel, _em, _initial_m, _random_pairs
from dedupe.matching.settings import Settings
from dedupe.spark.blocking import block
from dedupe.spark.frames import to_polars

ALL = -1   # pattern group of all candidates (the prior)


def patterns(frame, names: list[str], *, by: str | None = None) -> dict:
    """Distinct comparison vectors and their counts, per value of ``by`` (or under None), in
    the order the polars engine's ``_patterns`` returns them (by packed key)."""
    from pyspark.sql import functions as F

    cols = [f"gamma_{n}" for n in names]
    keys = [by] if by else []
    got = to_polars(frame.groupBy(*keys, *cols).agg(F.count(F.lit(1)).alias("n")))
    out = {}
    groups = got.partition_by(by, as_dict=True) if by else {(None,): got}
    for key, part in groups.items():
        mat = np.stack([part[c].cast(pl.Int64).to_numpy() for c in cols], axis=1)
        if len(cols) > 12:   # polars: np.unique over rows (lexicographic)
            order = np.lexsort(mat.T[::-1])
        else:                # polars: sorted by the packed 5-bit-per-comparison key
            packed = np.zeros(len(mat), dtype=np.int64)
            for j in range(mat.shape[1]):
                packed = packed * 32 + (mat[:, j] + 1)
            order = np.argsort(packed, kind="stable")
        out[key[0]] = (mat[order], part["n"].to_numpy()[order].astype(np.float64))
    return out


def estimate_u(feats, n: int, settings: Settings, gamma_of) -> dict[str, np.ndarray]:
    """u per level from the random pairs the polars engine draws (same seed, same positions)."""
    spark = feats.sparkSession
    rng = np.random.default_rng(settings.seed)
    side = None
    if SIDE in feats.columns:
        side = to_polars(feats.select("_pos", SIDE).orderBy("_pos"))[SIDE].to_numpy()
    size = min(settings.u_sample_pairs, max(50_000, 20 * n))
    li, ri = _random_pairs(n, size, rng, side, settings.link_type == "link_only")
    pairs = spark.createDataFrame(pa.table({"l": li.astype(np.int64), "r": ri.astype(np.int64)}))
    names = [c.name for c in settings.comparisons]
    pat, cnt = patterns(gamma_of(pairs), names)[None]
    u = {}
    for j, comp in enumerate(settings.comparisons):
        k = len(comp.scored_levels)
        gv = pat[:, j]
        ok = gv >= 0
        c = np.bincount(gv[ok], weights=cnt[ok], minlength=k).astype(np.float64)
        tot = max(c.sum(), 1.0)
        u[comp.name] = np.maximum(c, 0.5) / (tot + 0.5 * k)
    return u


def train(feats, candidates, settings: Settings, *, n: int, n_side0: int | None = None, gamma_of) -> FSModel:
    """A model from Spark data. ``candidates``: gamma frame of the candidate pairs with the
    ``rules`` bit mask; ``gamma_of(pairs)``: gamma frame of other pairs (``l``, ``r``)."""
    from pyspark.sql import functions as F

    names = [c.name for c in settings.comparisons]
    u = estimate_u(feats, n, settings, gamma_of)
    m0 = {}
    for comp in settings.comparisons:
        prior_m = [lv.m for lv in comp.scored_levels]
        m0[comp.name] = (np.asarray(prior_m[::-1], dtype=np.float64) if all(x is not None for x in prior_m)
                         else _initial_m(len(comp.scored_levels)))
    rules = settings.training_rules or settings.blocking_rules
    bit = {r: i for i, r in enumerate(settings.blocking_rules)}   # a rule's pairs: its bit in ``rules``
    used = sorted({bit[r] for r in rules if r in bit})
    tagged = candidates.withColumn("_rule", F.explode(F.array(
        F.lit(ALL), *[F.when((F.col("rules").bitwiseAND(F.lit(1 << i))) != 0, F.lit(i)) for i in used])))
    tagged = tagged.where(F.col("_rule").isNotNull())
    cand = patterns(tagged, names, by="_rule")
    estimates: dict[str, list[tuple[np.ndarray, float]]] = {nm: [] for nm in names}
    passes = []
    for rule in rules:
        if rule in bit:
            pat, cnt = cand.get(bit[rule], (np.zeros((0, len(names)), dtype=np.int64), np.zeros(0)))
            if cnt.sum() > settings.em_max_pairs:
                sub = tagged.where(F.col("_rule") == bit[rule]).sample(
                    fraction=settings.em_max_pairs / cnt.sum(), seed=settings.seed)
                pat, cnt = patterns(sub, names).get(None, (pat[:0], cnt[:0]))
        else:
            pairs, _ = block(feats, settings, rules=(rule,), check=False)
            gam = gamma_of(pairs.select("l", "r"))
            total = gam.count()
            if total > settings.em_max_pairs:
                gam = gam.sample(fraction=settings.em_max_pairs / total, seed=settings.seed)
            pat, cnt = patterns(gam, names).get(None, (np.zeros((0, len(names)), dtype=np.int64), np.zeros(0)))
        n_pairs = int(cnt.sum())
        if n_pairs == 0:
            continue
        rule_cols = set().union(*(base_columns(c, settings) for c in rule.on))
        fixed = {c.name for c in settings.comparisons
                 if set().union(*(base_columns(x, settings) for x in c.columns())) & rule_cols}
        m, lam = _em(pat, cnt, names, m0, u, fixed, settings.em_iterations)
        passes.append({"rule": rule.name, "pairs": n_pairs, "fixed": sorted(fixed), "match_share": lam})
        for nm in names:
            if nm not in fixed:
                estimates[nm].append((m[nm], lam * n_pairs))
    m_final = {}
    for nm in names:
        if estimates[nm]:
            tot = sum(w for _, w in estimates[nm]) or 1.0
            m_final[nm] = sum(v * w for v, w in estimates[nm]) / tot
        else:
            m_final[nm] = m0[nm]
    prior = 1e-4
    if ALL in cand:
        pat, cnt = cand[ALL]
        _, lam = _em(pat, cnt, names, m_final, u, set(), 50, update_m=False)
        if settings.link_type == "link_only" and n_side0 is not None:
            total = n_side0 * (n - n_side0)
        else:
            total = n * (n - 1) / 2
        prior = float(min(max(lam * cnt.sum() / max(total, 1), 1e-12), 0.5))
    comps = {}
    for comp in settings.comparisons:
        tf = {lv.name: lv.tf_column for lv in comp.scored_levels if lv.tf_column}
        comps[comp.name] = ComparisonParams(
            levels=[lv.name for lv in comp.scored_levels],
            m=[float(x) for x in m_final[comp.name][::-1]],
            u=[float(x) for x in u[comp.name][::-1]],
            tf_levels=tf)
    return FSModel(comparisons=comps, prior=prior, training={"passes": passes, "engine": "spark"})
