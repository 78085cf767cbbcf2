"""Clusters from scored pairs: connected components above the threshold, then a guard that
splits clusters where two records carry strong evidence against each other (Jr./Sr., two
given names at one household address ...), so third records cannot chain them together.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from dedupe.matching.settings import Settings

#: Intra-cluster pairs that blocking never produced are scored for clusters up to this size.
MAX_GUARD_CLUSTER = 60


def components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Connected-component label per node."""
    if len(left) == 0:
        return np.arange(n)
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels


def cannot_link_mask(scored: pl.DataFrame, settings: Settings, model=None) -> np.ndarray:
    """Pairs with strong negative evidence: a cannot-link level, or a weight below the floor."""
    mask = np.zeros(scored.height, dtype=bool)
    if settings.cannot_link_weight is not None:
        mask |= scored["match_weight"].to_numpy() <= settings.cannot_link_weight
    def at(comparison: str, levels: tuple[str, ...]) -> np.ndarray:
        comp = settings.comparison(comparison)
        labels = [lv.name for lv in comp.scored_levels]
        gammas = [len(labels) - 1 - labels.index(lab) for lab in levels if lab in labels]
        col = f"gamma_{comparison}"
        if col not in scored.columns or not gammas:
            return np.zeros(scored.height, dtype=bool)
        return scored[col].is_in(gammas).to_numpy()

    for cl in settings.cannot_link:
        hit = at(cl.comparison, cl.levels)
        for name, levels in cl.unless:
            hit &= ~at(name, levels)
        for name, levels in cl.also:
            hit &= at(name, levels)
        mask |= hit
    return mask


def _constrained(edges: list[tuple[int, int]], forbid: dict[int, set[int]]) -> dict[int, int]:
    """Union edges strongest first, skipping any union that would join a cannot-link pair."""
    parent: dict[int, int] = {}
    members: dict[int, set[int]] = {}
    banned: dict[int, set[int]] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        ma, mb = members.setdefault(ra, {ra}), members.setdefault(rb, {rb})
        ba = banned.setdefault(ra, set(forbid.get(ra, ())))
        bb = banned.setdefault(rb, set(forbid.get(rb, ())))
        if not ma.isdisjoint(bb) or not mb.isdisjoint(ba):
            continue
        if len(ma) < len(mb):
            ra, rb, ma, mb, ba, bb = rb, ra, mb, ma, bb, ba
        parent[rb] = ra
        ma |= mb
        ba |= bb
        members.pop(rb, None)
        banned.pop(rb, None)
    return {x: find(x) for x in parent}


def cluster_positions(n: int, scored_pos: pl.DataFrame, settings: Settings, cannot: np.ndarray,
                      extra_cannot: pl.DataFrame | None = None) -> np.ndarray:
    """Cluster label per record position from scored pairs with positions ``l``, ``r``."""
    prob = scored_pos["match_probability"].to_numpy()
    keep = prob >= settings.threshold
    l_all, r_all = scored_pos["l"].to_numpy(), scored_pos["r"].to_numpy()
    el, er = l_all[keep], r_all[keep]
    labels = components(n, el, er)
    cl_l, cl_r = l_all[cannot], r_all[cannot]
    if extra_cannot is not None and extra_cannot.height:
        cl_l = np.concatenate([cl_l, extra_cannot["l"].to_numpy()])
        cl_r = np.concatenate([cl_r, extra_cannot["r"].to_numpy()])
    inside = labels[cl_l] == labels[cl_r]
    if not inside.any():
        return labels
    bad = np.unique(labels[cl_l[inside]])
    forbid: dict[int, set[int]] = {}
    for a, b in zip(cl_l[inside].tolist(), cl_r[inside].tolist(), strict=True):
        forbid.setdefault(a, set()).add(b)
        forbid.setdefault(b, set()).add(a)
    in_bad = np.isin(labels[el], bad)
    weight = scored_pos["match_weight"].to_numpy()[keep][in_bad]
    order = np.argsort(-weight, kind="stable")
    edges = list(zip(el[in_bad][order].tolist(), er[in_bad][order].tolist(), strict=True))
    roots = _constrained(edges, forbid)
    labels = labels.copy()
    offset = labels.max() + 1
    for node, root in roots.items():
        labels[node] = offset + root
    return labels


def intra_cluster_pairs(labels: np.ndarray, known: pl.DataFrame, *, max_size: int = MAX_GUARD_CLUSTER) -> pl.DataFrame:
    """Pairs inside clusters of 3..max_size records that blocking did not produce (``l``, ``r``)."""
    frame = pl.DataFrame({"pos": np.arange(len(labels), dtype=np.int64), "c": labels})
    sizes = frame.group_by("c").len().filter((pl.col("len") >= 3) & (pl.col("len") <= max_size))
    members = frame.join(sizes.select("c"), on="c")
    if members.height == 0:
        return pl.DataFrame(schema={"l": pl.Int64, "r": pl.Int64})
    pairs = (members.join(members, on="c", suffix="_r").filter(pl.col("pos") < pl.col("pos_r"))
             .select(l=pl.col("pos"), r=pl.col("pos_r")))
    return pairs.join(known.select(pl.col("l").cast(pl.Int64), pl.col("r").cast(pl.Int64)), on=["l", "r"],
                      how="anti")


def label_frame(feats: pl.DataFrame, labels: np.ndarray, uid: str) -> pl.DataFrame:
    """One row per record: unique id, cluster_id (the smallest unique id in the cluster, as text)."""
    frame = pl.DataFrame({uid: feats[uid], "_c": labels})
    return frame.with_columns(cluster_id=pl.col(uid).min().over("_c").cast(pl.Utf8)).select(uid, "cluster_id")
