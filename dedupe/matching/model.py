"""Fellegi-Sunter model: u from random record pairs, m by EM over blocking passes, a prior
from the candidate set, term-frequency adjustments; optional calibration from steward labels.

EM runs over the distinct comparison vectors with their counts (a few thousand patterns even for
millions of pairs), so training costs almost nothing beyond computing the vectors.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from dedupe.matching.blocking import SIDE, block_positions
from dedupe.matching.comparisons import (
    PairColumns,
    block_sizes,
    comparison_gamma,
    record_key,
    term_frequencies,
)
from dedupe.matching.features import base_columns
from dedupe.matching.settings import Settings

MODEL_VERSION = 1
TF_MIN = 1e-6
BF_CLIP = 30.0


class ModelMismatch(ValueError):
    """A saved model does not fit the settings it is used with."""


@dataclass
class ComparisonParams:
    """m and u per scored level (best level first, ``else`` last)."""

    levels: list[str]
    m: list[float]
    u: list[float]
    tf_levels: dict[str, str] = field(default_factory=dict)   # level label -> tf column

    def bf(self) -> np.ndarray:
        """log2 Bayes factor per gamma value (index = gamma, 0 = else)."""
        m = np.asarray(self.m[::-1], dtype=np.float64)
        u = np.asarray(self.u[::-1], dtype=np.float64)
        return np.clip(np.log2(np.maximum(m, 1e-12) / np.maximum(u, 1e-12)), -BF_CLIP, BF_CLIP)


@dataclass
class FSModel:
    """A trained Fellegi-Sunter model; JSON-serialisable so runs can reuse it."""

    comparisons: dict[str, ComparisonParams]
    prior: float
    calibration: tuple[float, float] | None = None   # (a, b): p = sigmoid(a * weight + b)
    training: dict = field(default_factory=dict)

    @property
    def prior_weight(self) -> float:
        return math.log2(self.prior / (1.0 - self.prior))

    def to_dict(self) -> dict:
        return {
            "version": MODEL_VERSION,
            "prior": self.prior,
            "calibration": list(self.calibration) if self.calibration else None,
            "comparisons": {k: {"levels": v.levels, "m": v.m, "u": v.u, "tf_levels": v.tf_levels}
                            for k, v in self.comparisons.items()},
            "training": self.training,
        }

    @classmethod
    def from_dict(cls, data: dict) -> FSModel:
        if data.get("version") != MODEL_VERSION:
            raise ModelMismatch(f"model version {data.get('version')!r} is not {MODEL_VERSION}")
        comps = {k: ComparisonParams(levels=list(v["levels"]), m=[float(x) for x in v["m"]],
                                     u=[float(x) for x in v["u"]], tf_levels=dict(v.get("tf_levels") or {}))
                 for k, v in data["comparisons"].items()}
        cal = data.get("calibration")
        return cls(comparisons=comps, prior=float(data["prior"]), calibration=tuple(cal) if cal else None,
                   training=data.get("training") or {})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> FSModel:
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> FSModel:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def check(self, settings: Settings) -> None:
        """Raise when the settings' comparisons or levels differ from the model's."""
        for comp in settings.comparisons:
            p = self.comparisons.get(comp.name)
            labels = [lv.name for lv in comp.scored_levels]
            if p is None:
                raise ModelMismatch(f"model has no comparison {comp.name!r}; retrain it")
            if p.levels != labels:
                raise ModelMismatch(f"comparison {comp.name!r}: model levels {p.levels} differ from settings "
                                    f"{labels}; retrain the model")


# --------------------------------------------------------------------------------------------
# Comparison vectors
# --------------------------------------------------------------------------------------------
def gammas(pc: PairColumns, settings: Settings) -> dict[str, np.ndarray]:
    out = {}
    for c in settings.comparisons:
        out[c.name] = comparison_gamma(pc, c)
        pc.release()
    return out


def _patterns(g: dict[str, np.ndarray], names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct comparison vectors (rows) and how often each occurs."""
    if len(names) > 12:   # 5 bits per comparison no longer fit one 64-bit key
        mat = np.stack([g[n].astype(np.int64) for n in names], axis=1)
        uniq, counts = np.unique(mat, axis=0, return_counts=True)
        return uniq, counts.astype(np.float64)
    key = np.zeros(len(next(iter(g.values()))), dtype=np.int64)
    for n in names:
        key = key * 32 + (g[n].astype(np.int64) + 1)          # -1..K-1 -> 0..K, 5 bits each
    counts = pl.DataFrame({"k": key}).group_by("k").len().sort("k")
    uniq = counts["k"].to_numpy()
    mat = np.zeros((len(uniq), len(names)), dtype=np.int64)
    rest = uniq.copy()
    for j in range(len(names) - 1, -1, -1):
        mat[:, j] = rest % 32 - 1
        rest //= 32
    return mat, counts["len"].to_numpy().astype(np.float64)


def _loglr(pat: np.ndarray, names: list[str], m: dict[str, np.ndarray], u: dict[str, np.ndarray],
           skip: set[str]) -> np.ndarray:
    """Sum of log(m/u) per pattern (nulls and skipped comparisons contribute 0)."""
    out = np.zeros(len(pat))
    for j, n in enumerate(names):
        if n in skip:
            continue
        gj = pat[:, j]
        ok = gj >= 0
        lr = np.log(np.maximum(m[n], 1e-12) / np.maximum(u[n], 1e-12))
        out[ok] += lr[gj[ok]]
    return out


def _em(pat: np.ndarray, counts: np.ndarray, names: list[str], m: dict[str, np.ndarray],
        u: dict[str, np.ndarray], fixed: set[str], iterations: int, lam: float = 0.3,
        update_m: bool = True) -> tuple[dict[str, np.ndarray], float]:
    """EM with u fixed: m of the comparisons not in ``fixed`` and the match share ``lam``."""
    m = {k: v.copy() for k, v in m.items()}
    for _ in range(iterations):
        logit = math.log(lam / (1 - lam)) + _loglr(pat, names, m, u, fixed)
        p = 1.0 / (1.0 + np.exp(-np.clip(logit, -60, 60)))
        w = p * counts
        new_lam = float(w.sum() / counts.sum())
        new_lam = min(max(new_lam, 1e-9), 1 - 1e-9)
        delta = abs(new_lam - lam)
        lam = new_lam
        if update_m:
            for j, n in enumerate(names):
                if n in fixed:
                    continue
                gj = pat[:, j]
                ok = gj >= 0
                k = len(m[n])
                num = np.bincount(gj[ok], weights=w[ok], minlength=k)
                tot = num.sum()
                if tot > 0:
                    new = (num + 1e-3) / (tot + 1e-3 * k)
                    delta = max(delta, float(np.abs(new - m[n]).max()))
                    m[n] = new
        if delta < 1e-5:
            break
    return m, lam


def _initial_m(k: int) -> np.ndarray:
    """Prior m over gamma 0..k-1: most matches agree at the top level."""
    w = np.array([2.0 ** (3 * i) for i in range(k)], dtype=np.float64)
    return w / w.sum()


def _random_pairs(n: int, size: int, rng: np.random.Generator, side: np.ndarray | None,
                  link_only: bool) -> tuple[np.ndarray, np.ndarray]:
    if link_only and side is not None:
        a = np.flatnonzero(side == 0)
        b = np.flatnonzero(side == 1)
        size = min(size, len(a) * len(b))
        li = a[rng.integers(0, len(a), size)]
        ri = b[rng.integers(0, len(b), size)]
        return np.minimum(li, ri), np.maximum(li, ri)
    total = n * (n - 1) // 2
    size = int(min(size, total))
    li = rng.integers(0, n, size)
    ri = rng.integers(0, n - 1, size)
    ri = np.where(ri >= li, ri + 1, ri)
    return np.minimum(li, ri), np.maximum(li, ri)


def estimate_u(feats: pl.DataFrame, settings: Settings, codes: dict) -> dict[str, np.ndarray]:
    """u per level from random record pairs (almost all of them non-matches)."""
    rng = np.random.default_rng(settings.seed)
    side = feats[SIDE].to_numpy() if SIDE in feats.columns else None
    size = min(settings.u_sample_pairs, max(50_000, 20 * feats.height))
    li, ri = _random_pairs(feats.height, size, rng, side, settings.link_type == "link_only")
    g = gammas(PairColumns(feats, li, ri, codes), settings)
    u = {}
    for comp in settings.comparisons:
        k = len(comp.scored_levels)
        gv = g[comp.name]
        cnt = np.bincount(gv[gv >= 0], minlength=k).astype(np.float64)
        tot = max(cnt.sum(), 1.0)
        u[comp.name] = np.maximum(cnt, 0.5) / (tot + 0.5 * k)
    return u


def _sample(pos: pl.DataFrame, size: int, seed: int) -> pl.DataFrame:
    return pos if pos.height <= size else pos.sample(n=size, seed=seed)


def rule_mask(pc: PairColumns, rule) -> np.ndarray:
    """Which pairs agree on every column of a blocking rule (the pairs that rule produces)."""
    k = record_key(pc.feats, rule.on, pc._codes)
    kl, kr = k[pc.left], k[pc.right]
    mask = (kl == kr) & (kl >= 0)
    if rule.max_block:
        mask &= block_sizes(pc.feats, rule.on, pc._codes)[pc.left] <= rule.max_block
    return mask


def train(feats: pl.DataFrame, settings: Settings, *, candidates: PairColumns | None = None,
          candidate_gammas: dict[str, np.ndarray] | None = None, codes: dict | None = None) -> FSModel:
    """u from random pairs, m by EM per training blocking pass (the comparisons on the pass's own
    columns held fixed), averaged; the prior from the candidate set's estimated match count.

    A pass over one of the blocking rules reuses the candidate pairs' comparison vectors (its pairs
    are the candidates agreeing on its columns); other training rules are blocked afresh."""
    codes = codes if codes is not None else {}
    names = [c.name for c in settings.comparisons]
    u = estimate_u(feats, settings, codes)
    m0 = {}
    for comp in settings.comparisons:
        k = len(comp.scored_levels)
        prior_m = [lv.m for lv in comp.scored_levels]
        if all(x is not None for x in prior_m):
            m0[comp.name] = np.asarray(prior_m[::-1], dtype=np.float64)
        else:
            m0[comp.name] = _initial_m(k)
    rules = settings.training_rules or settings.blocking_rules
    blocking = set(settings.blocking_rules)
    estimates: dict[str, list[tuple[np.ndarray, float]]] = {n: [] for n in names}
    passes = []
    rng = np.random.default_rng(settings.seed)
    for rule in rules:
        if candidates is not None and candidate_gammas is not None and rule in blocking:
            sel = np.flatnonzero(rule_mask(candidates, rule))
            if len(sel) > settings.em_max_pairs:
                sel = rng.choice(sel, settings.em_max_pairs, replace=False)
            g = {k: v[sel] for k, v in candidate_gammas.items()}
            n_pairs = len(sel)
        else:
            pos, _ = block_positions(feats, settings, rules=(rule,), check=False, codes=codes)
            pos = _sample(pos, settings.em_max_pairs, settings.seed)
            pc = PairColumns(feats, pos["l"].to_numpy().astype(np.int64), pos["r"].to_numpy().astype(np.int64), codes)
            g = gammas(pc, settings)
            n_pairs = pos.height
        if n_pairs == 0:
            continue
        pat, cnt = _patterns(g, names)
        rule_cols = set().union(*(base_columns(c, settings) for c in rule.on))
        fixed = {c.name for c in settings.comparisons
                 if set().union(*(base_columns(x, settings) for x in c.columns())) & rule_cols}
        m, lam = _em(pat, cnt, names, m0, u, fixed, settings.em_iterations)
        passes.append({"rule": rule.name, "pairs": int(n_pairs), "fixed": sorted(fixed), "match_share": lam})
        for n in names:
            if n not in fixed:
                estimates[n].append((m[n], lam * n_pairs))
    m_final = {}
    for n in names:
        if estimates[n]:
            tot = sum(w for _, w in estimates[n]) or 1.0
            m_final[n] = sum(v * w for v, w in estimates[n]) / tot
        else:
            m_final[n] = m0[n]
    # prior: EM on the candidate set with m and u fixed estimates how many candidates match
    prior = 1e-4
    if candidate_gammas is not None and len(next(iter(candidate_gammas.values()))):
        pat, cnt = _patterns(candidate_gammas, names)
        _, lam = _em(pat, cnt, names, m_final, u, set(), 50, update_m=False)
        n_cand = cnt.sum()
        n = feats.height
        if settings.link_type == "link_only" and SIDE in feats.columns:
            na = int((feats[SIDE] == 0).sum())
            total = na * (n - na)
        else:
            total = n * (n - 1) / 2
        prior = float(min(max(lam * n_cand / max(total, 1), 1e-12), 0.5))
    comps = {}
    for comp in settings.comparisons:
        tf = {lv.name: lv.tf_column for lv in comp.scored_levels if lv.tf_column}
        comps[comp.name] = ComparisonParams(
            levels=[lv.name for lv in comp.scored_levels],
            m=[float(x) for x in m_final[comp.name][::-1]],
            u=[float(x) for x in u[comp.name][::-1]],
            tf_levels=tf)
    return FSModel(comparisons=comps, prior=prior, training={"passes": passes})


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------
def weights(model: FSModel, settings: Settings, pc: PairColumns, g: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """bf_<comparison> per pair: log2(m/u) of its level, plus the term-frequency adjustment."""
    out = {}
    for comp in settings.comparisons:
        p = model.comparisons[comp.name]
        table = p.bf()
        gv = g[comp.name]
        bf = np.where(gv >= 0, table[np.maximum(gv, 0)], 0.0)
        k = len(p.levels)
        for label, col in p.tf_levels.items():
            if label not in p.levels or col not in pc.feats.columns:
                continue
            gamma_level = k - 1 - p.levels.index(label)
            at = gv == gamma_level
            if not at.any():
                continue
            tf, expected = term_frequencies(pc, col)
            adj = np.log2(expected / np.maximum(np.nan_to_num(tf, nan=expected), TF_MIN))
            bf = np.where(at, bf + np.clip(adj, -BF_CLIP, BF_CLIP), bf)
        out[comp.name] = bf
    return out


def probability(model: FSModel, weight: np.ndarray) -> np.ndarray:
    if model.calibration:
        a, b = model.calibration
        z = a * weight + b
        return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))
    return 1.0 / (1.0 + np.exp2(-np.clip(weight, -200, 200)))


def calibrate(model: FSModel, scored: pl.DataFrame, labels: pl.DataFrame, *, iterations: int = 500) -> FSModel:
    """Fit p = sigmoid(a * match_weight + b) to steward labels (``id_l, id_r, is_match``).

    The unsupervised weights keep their ranking; labels only move where the probabilities sit.
    """
    lab = labels.select(pl.min_horizontal("id_l", "id_r").alias("id_l"), pl.max_horizontal("id_l", "id_r").alias("id_r"),
                        pl.col("is_match").cast(pl.Float64))
    d = scored.select("id_l", "id_r", "match_weight").join(lab, on=["id_l", "id_r"], how="inner")
    if d.height < 10 or d["is_match"].n_unique() < 2:
        raise ValueError(f"calibration needs at least 10 labelled scored pairs of both kinds, got {d.height}")
    x = d["match_weight"].to_numpy()
    y = d["is_match"].to_numpy()
    scale = max(float(np.std(x)), 1e-6)
    a, b = 1.0, 0.0
    xs = x / scale
    for _ in range(iterations):   # Newton steps on the logistic log-likelihood
        z = a * xs + b
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))
        ga, gb = np.sum((p - y) * xs), np.sum(p - y)
        w = p * (1 - p) + 1e-9
        haa, hab, hbb = np.sum(w * xs * xs) + 1e-6, np.sum(w * xs), np.sum(w) + 1e-6
        det = haa * hbb - hab * hab
        da, db = (hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det
        a, b = a - da, b - db
        if abs(da) + abs(db) < 1e-9:
            break
    return FSModel(comparisons=model.comparisons, prior=model.prior, calibration=(a / scale, b),
                   training={**model.training, "calibration_pairs": int(d.height)})


def match_weights(model: FSModel, bf: dict[str, np.ndarray], n: int) -> np.ndarray:
    """The match weight of ``n`` pairs: the prior weight plus every comparison's weight (``bf`` from
    ``weights``), summed in the comparisons' order so every engine gets the same floats."""
    total = np.full(n, model.prior_weight)
    for v in bf.values():
        total += v
    return total
