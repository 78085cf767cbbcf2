"""Steward decisions as clustering constraints: must-link pairs join, cannot-link pairs split.

Applied after clustering, so they hold in every run, full or incremental. Only clusters that a
cannot-link pair touches are re-clustered (a constraint-aware greedy merge over their own
pairs, strongest first); decisions are few, so this stays off the hot path.
"""

from __future__ import annotations

import polars as pl

from dedupe.canonical import RECORD_ID


class _UnionFind:
    def __init__(self, items):
        self.parent = {x: x for x in items}

    def find(self, x):
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def apply_constraints(clusters: pl.DataFrame, scored: pl.DataFrame, *, must_link: pl.DataFrame | None = None,
                      cannot_link: pl.DataFrame | None = None, threshold: float,
                      id_col: str = RECORD_ID) -> pl.DataFrame:
    """Clusters (``id_col``, ``cluster_id``) adjusted so every must-link pair (``id_l``, ``id_r``)
    shares a cluster and no cannot-link pair does; cluster ids stay the smallest member id."""
    must = _pairs(must_link, clusters, id_col)
    cannot = _pairs(cannot_link, clusters, id_col)
    if must.height == 0 and cannot.height == 0:
        return clusters
    # 1. must-link: union the clusters the pairs touch
    cid = clusters.select(id_col, "cluster_id")
    if must.height:
        links = (must.join(cid.rename({id_col: "id_l", "cluster_id": "c_l"}), on="id_l")
                 .join(cid.rename({id_col: "id_r", "cluster_id": "c_r"}), on="id_r"))
        uf = _UnionFind(set(links["c_l"].to_list()) | set(links["c_r"].to_list()))
        for a, b in links.select("c_l", "c_r").iter_rows():
            uf.union(a, b)
        remap = pl.DataFrame({"cluster_id": list(uf.parent), "__new": [uf.find(c) for c in uf.parent]},
                             schema={"cluster_id": pl.Utf8, "__new": pl.Utf8})
        cid = cid.join(remap, on="cluster_id", how="left").select(
            id_col, pl.coalesce("__new", "cluster_id").alias("cluster_id"))
    # 2. cannot-link: re-cluster the clusters that hold both ends of a pair
    if cannot.height:
        both = (cannot.join(cid.rename({id_col: "id_l", "cluster_id": "c_l"}), on="id_l")
                .join(cid.rename({id_col: "id_r", "cluster_id": "c_r"}), on="id_r")
                .filter(pl.col("c_l") == pl.col("c_r")))
        if both.height:
            cid = _split(cid, scored, must, cannot, set(both["c_l"].to_list()), threshold, id_col)
    return _renumber(cid, id_col)


def _pairs(df: pl.DataFrame | None, clusters: pl.DataFrame, id_col: str) -> pl.DataFrame:
    if df is None or df.height == 0:
        return pl.DataFrame(schema={"id_l": pl.Utf8, "id_r": pl.Utf8})
    known = clusters.select(pl.col(id_col))
    return (df.select(pl.min_horizontal("id_l", "id_r").alias("id_l"), pl.max_horizontal("id_l", "id_r").alias("id_r"))
            .join(known.rename({id_col: "id_l"}), on="id_l", how="semi")
            .join(known.rename({id_col: "id_r"}), on="id_r", how="semi").unique())


def _split(cid, scored, must, cannot, targets, threshold, id_col):
    members = cid.filter(pl.col("cluster_id").is_in(list(targets)))
    ids = set(members[id_col].to_list())
    edges = scored.filter(pl.col("id_l").is_in(list(ids)) & pl.col("id_r").is_in(list(ids))
                          & (pl.col("match_probability") >= threshold))
    weight = "match_weight" if "match_weight" in edges.columns else "match_probability"
    strong = must.filter(pl.col("id_l").is_in(list(ids))).with_columns(pl.lit(float("inf")).alias(weight))
    edges = pl.concat([edges.select("id_l", "id_r", pl.col(weight).cast(pl.Float64)),
                       strong.select("id_l", "id_r", pl.col(weight).cast(pl.Float64))])
    edges = edges.sort([weight, "id_l", "id_r"], descending=[True, False, False])
    forbidden = {(a, b) for a, b in cannot.iter_rows()} | {(b, a) for a, b in cannot.iter_rows()}
    uf = _UnionFind(ids)
    groups = {x: {x} for x in ids}
    for a, b, _ in edges.iter_rows():
        ra, rb = uf.find(a), uf.find(b)
        if ra == rb:
            continue
        if any((x, y) in forbidden for x in groups[ra] for y in groups[rb]):
            continue
        uf.union(ra, rb)
        root = uf.find(ra)
        other = rb if root == ra else ra
        groups[root] = groups[root] | groups.pop(other)
    new = pl.DataFrame({id_col: list(ids), "cluster_id": [uf.find(x) for x in ids]},
                       schema={id_col: pl.Utf8, "cluster_id": pl.Utf8})
    return pl.concat([cid.filter(~pl.col("cluster_id").is_in(list(targets))), new])


def _renumber(cid: pl.DataFrame, id_col: str) -> pl.DataFrame:
    """Cluster id = smallest member id (deterministic)."""
    return cid.with_columns(pl.col(id_col).min().over("cluster_id").alias("cluster_id")).sort(id_col)
