"""Incremental matching: after some records changed, only the pairs they touch are compared again,
and the pairs, weights and clusters are those a full run gives on the same records.

The state of the last run (``MatchState``) holds every record's features and every candidate pair's
comparison levels. A pair's levels depend on its two records, except through a few statistics over
all records; each is kept or recomputed so that nothing goes stale:

* person-name orientation (``features._orient``: a name is swapped by how often its tokens are
  given names or surnames over all records): each record keeps its tokens and its swap; the
  statistics are counted again and records whose swap flips are prepared again;
* peer flags (``Level.peer_flag``: a Jr./Sr. somewhere in the same place): computed over all
  records again; records whose flag flips have their pairs compared again;
* blocking's ``max_block``: the blocks a changed or deleted record is in, or was in, are built
  again, and every pair's rule (the first rule that finds it) is decided again from all rules' keys;
* term frequencies: every pair's weight is computed again from its stored levels;
* clustering (and its guard, which scores pairs inside clusters): the whole graph again.

What one run of ``update`` costs beyond the changed records' pairs: the features of all records in
memory (as ``deduplicate_large`` holds them), their blocking keys, and weights and clustering over
all pairs (vectorised).
"""

from __future__ import annotations

import gc
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from dedupe.code_digest import update_with_code
from dedupe.matching.blocking import PAIR_SHIFT, BlockingRuleTooBroad, key_pair_count, key_pairs
from dedupe.matching.clustering import label_frame
from dedupe.matching.comparisons import PairColumns, block_sizes, peer_column, peer_flags, record_key
from dedupe.matching.engine import cluster_labels
from dedupe.matching.features import ORIENTATION, prepare, referenced_columns, stat_swaps, token_counts
from dedupe.matching.model import FSModel, gammas, match_weights, probability, train, weights
from dedupe.matching.settings import Settings

#: the per-record digest column of the state (equal digests: the record did not change)
DIGEST = "__digest"
Fetch = Callable[[pl.Series], pl.DataFrame]


def person_names(settings: Settings) -> list[str]:
    """Comparisons built from the person-name template (their features depend on name statistics)."""
    return [c.name for c in settings.comparisons if (c.template or {}).get("template") == "person_name"]


def peer_levels(settings: Settings) -> list[tuple[str, tuple[str, ...]]]:
    """(flag, key) of every level that looks at other records with the same key."""
    out: list[tuple[str, tuple[str, ...]]] = []
    for comp in settings.comparisons:
        for lv in comp.levels:
            if lv.peer_flag and (lv.peer_flag, lv.peer_key) not in out:
                out.append((lv.peer_flag, lv.peer_key))
    return out


def state_columns(settings: Settings) -> list[str]:
    """Feature columns a state keeps per record (besides the id, the digest and the peer flags)."""
    cols = set(referenced_columns(settings)) | {f"{p}__{o}" for p in person_names(settings) for o in ORIENTATION}
    return sorted(cols - {settings.unique_id})


def fingerprint(settings: Settings) -> str:
    """The settings and the matching and normalisation code a state was computed with: a state
    with another fingerprint is not used (the next run is a full one)."""
    h = hashlib.sha256(json.dumps(settings.to_dict(), sort_keys=True, default=str).encode())
    here = Path(__file__).parent
    update_with_code(h, here, here.parent / "normalize")
    return h.hexdigest()


def record_digests(df: pl.DataFrame, uid: str) -> pl.DataFrame:
    """``uid`` and ``DIGEST`` of every record: a hash of all its columns."""
    return df.select(uid).with_columns(df.hash_rows(seed=11).alias(DIGEST))


@dataclass
class MatchState:
    """What a matching run leaves for the next: per record (sorted by id) its digest, the
    ``state_columns`` and the peer flags; per candidate pair (sorted by ``id_l``, ``id_r``) its
    rule and comparison levels (``gamma_<comparison>``)."""

    features: pl.DataFrame
    pairs: pl.DataFrame

    @classmethod
    def empty(cls, settings: Settings) -> MatchState:
        uid = settings.unique_id
        feats = pl.DataFrame(schema={uid: pl.Utf8, DIGEST: pl.UInt64})
        pairs = pl.DataFrame(schema={"id_l": pl.Utf8, "id_r": pl.Utf8, "rule": pl.Utf8,
                                     **{f"gamma_{c.name}": pl.Int8 for c in settings.comparisons}})
        return cls(feats, pairs)

    def diff(self, digests: pl.DataFrame, uid: str) -> tuple[pl.Series, pl.Series]:
        """(ids of new or changed records, ids of records gone) between the state and ``digests``."""
        before = self.features.select(uid, DIGEST)
        changed = digests.select(uid, DIGEST).join(before, on=[uid, DIGEST], how="anti")[uid]
        gone = before.join(digests.select(uid), on=uid, how="anti")[uid]
        return changed.sort(), gone.sort()


@dataclass
class IncrementalResult:
    """One ``update``: the clusters and scored pairs a full run would give, the state for the next."""

    clusters: pl.DataFrame
    pairs: pl.DataFrame
    model: FSModel
    state: MatchState
    blocking_counts: dict[str, int]
    changed: pl.Series
    """ids of the new or changed records"""
    deleted: pl.Series
    """ids of the records gone since the state"""
    restated: pl.Series
    """ids of the records whose row of the state changed (new or changed, re-oriented, peer flag)"""
    counts: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)
    pairs_gone: pl.DataFrame | None = None
    """(``id_l``, ``id_r``) of the state's candidate pairs that are gone or whose rule changed"""
    pairs_added: pl.DataFrame | None = None
    """(``id_l``, ``id_r``, ``rule``) of the candidate pairs new or with another rule than in the state:
    the state's pairs less ``pairs_gone`` plus these are this run's pairs"""


def with_peer_flags(feats: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    """``feats`` with every peer level's flag computed over all of its records (``peer_column``)."""
    cache: dict = {}
    feats = feats.drop([c for c in feats.columns if c.startswith("__peer__")])
    return feats.with_columns(**{peer_column(flag, key): pl.Series(peer_flags(feats, flag, key, cache))
                                 for flag, key in peer_levels(settings)})


def state_features(feats: pl.DataFrame, digests: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    """The feature half of the state a full run leaves: each record's state columns, its digest and
    peer flags, sorted by id (the pair half is the run's scored pairs, stored as they are)."""
    uid = settings.unique_id
    keep = [c for c in state_columns(settings) if c in feats.columns]
    feats = feats.select(uid, *keep).join(digests.select(uid, DIGEST), on=uid, how="left").sort(uid)
    return with_peer_flags(feats, settings)


def _ids_frame(uid: str, *series: pl.Series) -> pl.DataFrame:
    ids = pl.concat([s.cast(pl.Utf8) for s in series]) if series else pl.Series(uid, [], pl.Utf8)
    return pl.DataFrame({uid: ids}).unique()


def _name_columns(settings: Settings) -> list[str]:
    """The state columns the name statistics read (``_orientations``)."""
    return [f"{p}__{o}" for p in person_names(settings) for o in ORIENTATION]


def _orientations(settings: Settings, keep: pl.DataFrame, new: pl.DataFrame) -> tuple[dict[str, pl.DataFrame], pl.Series,
                                                                                       pl.Series]:
    """Name statistics over ``keep`` (unchanged records' state) and ``new`` (changed records prepared
    with their own statistics); the ids of unchanged and of new records whose swap they change."""
    uid = settings.unique_id
    counts, flips, redo = {}, [], []
    for p in person_names(settings):
        first, last, free, stat = (f"{p}__{o}" for o in ORIENTATION)
        both = pl.concat([keep.select(first, last), new.select(first, last)])
        counts[p] = token_counts(pl.col(first), pl.col(last), pl.lit(1, pl.Int64), both.lazy()).collect()
        for frame, out in ((keep, flips), (new, redo)):
            now = stat_swaps(frame.select(uid, first, last, free, stat).lazy(), counts[p].lazy(), first=first,
                             last=last, free=free).collect()
            out.append(now.filter(pl.col("_stat") != pl.col(stat))[uid])
    empty = pl.Series(uid, [], pl.Utf8)
    return (counts, pl.concat(flips).unique().sort() if flips else empty,
            pl.concat(redo).unique().sort() if redo else empty)


def _prepared(rows: pl.DataFrame, settings: Settings, cols: list[str], old: pl.DataFrame,
              counts: dict[str, pl.DataFrame] | None = None) -> pl.DataFrame:
    """The state columns of ``rows`` prepared (with ``counts``: the name statistics of all records)."""
    uid = settings.unique_id
    if rows.height == 0 and old.width > 2:
        return old.select(uid, *[c for c in cols if c in old.columns]).clear()
    feats = prepare(rows, settings, name_counts=counts, orientation=True)
    return feats.select(uid, *[c for c in cols if c in feats.columns])


def _positions(feats: pl.DataFrame, ids: pl.Series, uid: str) -> np.ndarray:
    pos = feats.select(uid).with_row_index("_pos").join(pl.DataFrame({uid: ids.cast(pl.Utf8)}), on=uid, how="semi")
    return pos["_pos"].to_numpy().astype(np.int64)


def _id_positions(ids: pl.Series) -> pl.DataFrame:
    """``ids`` with their row positions, to look ids up by a hash join (``_positions_in``)."""
    return pl.DataFrame({"_v": ids}).with_row_index("_at")


def _positions_in(table: pl.DataFrame, values: pl.Series) -> np.ndarray:
    """Position of each of ``values`` in the ids of ``table`` (``_id_positions``), -1 where it is not
    there: a hash join, much cheaper than a binary search over millions of strings."""
    hit = pl.DataFrame({"_v": values.cast(table["_v"].dtype)}).join(table, on="_v", how="left", maintain_order="left")
    return hit["_at"].cast(pl.Int64).fill_null(-1).to_numpy()


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """``np.unique(a)`` by one sort (numpy's hash-based unique is several times slower on millions)."""
    a = np.sort(a)
    keep = np.empty(len(a), dtype=bool)
    keep[:1] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


def _pair_count(keys: np.ndarray, sizes: np.ndarray, link_type: str, frame: pl.DataFrame) -> int:
    """A rule's pair count: from the block sizes when deduplicating (each kept record pairs with the
    other ``size - 1`` of its block, every pair counted from both ends), else by ``key_pair_count``."""
    if link_type != "dedupe_only":
        return key_pair_count(frame, link_type)
    return int((sizes[keys >= 0] - 1).sum()) // 2


def _packed(l: np.ndarray, r: np.ndarray) -> np.ndarray:
    lo, hi = np.minimum(l, r).astype(np.uint64), np.maximum(l, r).astype(np.uint64)
    return lo * np.uint64(PAIR_SHIFT) + hi


def _pairs_delta(stored: pl.DataFrame, prev: pl.DataFrame, dropped: pl.DataFrame, old_pairs: int, ids: pl.Series,
                 left: np.ndarray, right: np.ndarray, rules: pl.Series) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(pairs gone, pairs added) between the state's candidate pairs and this run's (``rules``: each
    candidate's rule), from ``stored`` (candidates joined to the state's pairs they reuse): so that a
    run writes the few candidate pairs that changed instead of all of them."""
    same = stored["rule"] == rules.gather(stored["_at"])
    kept_at, kept_row = stored["_at"].filter(same).to_numpy(), stored["_row"].filter(same).to_numpy()
    kept = np.zeros(old_pairs, dtype=bool)
    kept[kept_row] = True
    gone = pl.concat([dropped, prev.filter(pl.Series(~kept[prev["_row"].to_numpy()])).select("id_l", "id_r")])
    new = np.ones(len(left), dtype=bool)
    new[kept_at] = False
    added = pl.DataFrame({"id_l": ids.gather(left[new]), "id_r": ids.gather(right[new]), "rule": rules.filter(pl.Series(new))})
    return gone, added


def update(state: MatchState, digests: pl.DataFrame, fetch: Fetch, settings: Settings, model: FSModel | None, *,
           chunk_pairs: int = 2_000_000, release: bool = False) -> IncrementalResult:
    """Match the records of ``digests`` (``uid``, ``DIGEST``; every current record) starting from
    ``state``: ``fetch(ids)`` returns the input rows of the given ids (the records to prepare).
    An empty state prepares and compares everything (a full run in memory). ``model`` None: trained
    on the candidate pairs, as ``deduplicate`` does. ``release``: the state's frames are let go as soon
    as they are read (the state is empty afterwards), so a large state is not held twice."""
    uid = settings.unique_id
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    changed, gone = state.diff(digests, uid)
    old = state.features
    stays = ~old[uid].is_in(pl.concat([changed, gone]).implode())   # a mask: no copy of every column yet
    unchanged = old.select(uid, *[c for c in _name_columns(settings) if c in old.columns]).filter(stays)
    cols = state_columns(settings)
    new = _prepared(fetch(changed), settings, cols, old)
    counts, flips, redo = (_orientations(settings, unchanged, new) if unchanged.height
                           else ({}, pl.Series(uid, [], pl.Utf8), pl.Series(uid, [], pl.Utf8)))
    again = pl.concat([flips, redo])
    if again.len():   # prepared again with the statistics of all records
        fresh = _prepared(fetch(again), settings, cols, old, counts)
        new = pl.concat([new.join(fresh.select(uid), on=uid, how="anti"), fresh.filter(pl.col(uid).is_in(changed.implode()))])
        flipped = fresh.filter(pl.col(uid).is_in(flips.implode()))
    else:
        flipped = new.clear()
    kept = old.filter(stays & ~old[uid].is_in(flipped[uid].implode()))   # the one copy of the rows kept
    del unchanged, stays
    peer_cols = [peer_column(f, k) for f, k in peer_levels(settings)]
    new = new.join(digests.select(uid, DIGEST), on=uid, how="left")
    flipped = flipped.join(old.select(uid, DIGEST), on=uid, how="left")
    redone = pl.concat([changed, flips])            # records whose features changed
    before = old.join(_ids_frame(uid, redone, gone), on=uid, how="semi")
    peers_before = kept.select(uid, *[c for c in peer_cols if c in kept.columns])
    if release:
        state.features = old = None
    feats = pl.concat([kept.drop(peer_cols, strict=False), new, flipped], how="diagonal_relaxed").sort(uid)
    del kept, new, flipped
    feats = with_peer_flags(feats, settings)
    peers = pl.Series(uid, [], pl.Utf8)
    if peer_cols and peers_before.width == len(peer_cols) + 1 and peers_before.height:
        after = feats.select(uid, *peer_cols).join(peers_before.select(uid), on=uid, how="semi")
        peers = after.join(peers_before, on=[uid, *peer_cols], how="anti")[uid]
    del peers_before
    t["prepare"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    codes: dict = {}
    n = feats.height
    moved = np.zeros(n, dtype=bool)                 # features changed: their blocks are built again
    moved[_positions(feats, redone, uid)] = True
    touched = moved.copy()                          # pairs touching these are compared again
    touched[_positions(feats, peers, uid)] = True
    rule_keys, fresh_pairs, block_counts = [], [], {}
    for rule in settings.blocking_rules:
        k = record_key(feats, rule.on, codes).copy()
        sizes = block_sizes(feats, rule.on, codes) if rule.max_block or settings.link_type == "dedupe_only" else None
        if rule.max_block:
            k[sizes > rule.max_block] = -1
        keys = pl.DataFrame({"_i": np.arange(n, dtype=np.uint32), "_k": k}).filter(pl.col("_k") >= 0)
        block_counts[rule.name] = _pair_count(k, sizes, settings.link_type, keys)
        if block_counts[rule.name] > settings.max_pairs_per_rule:
            raise BlockingRuleTooBroad(rule.name, block_counts[rule.name], settings.max_pairs_per_rule)
        was = record_key(before, rule.on, {}) if before.height else np.zeros(0, dtype=np.int64)
        affected = np.unique(np.concatenate([record_key(feats, rule.on, codes)[moved], was]))
        inside = keys.filter(pl.col("_k").is_in(pl.Series(affected[affected >= 0]).implode()))
        p = key_pairs(inside, settings.link_type)
        fresh_pairs.append(_packed(p["l"].to_numpy(), p["r"].to_numpy()))
        rule_keys.append(k)
        for key in [c for c in codes if isinstance(c, tuple) and c[0] in ("__key__", "__sizes__")]:
            del codes[key]
    ids = feats[uid]
    at = _id_positions(ids)
    pl_, pr_ = (_positions_in(at, state.pairs[c]) for c in ("id_l", "id_r"))
    del at
    alive = (pl_ >= 0) & (pr_ >= 0)             # both records still there
    alive[alive] &= ~(moved[pl_[alive]] | moved[pr_[alive]])
    old_pairs = state.pairs.height
    dropped = state.pairs.filter(~pl.Series(alive)).select("id_l", "id_r")   # a record moved or gone
    prev = state.pairs.filter(pl.Series(alive)).with_columns(
        _l=pl.Series(pl_[alive]), _r=pl.Series(pr_[alive]), _row=pl.Series(np.flatnonzero(alive)))
    prev = prev.with_columns(pair=pl.Series(_packed(prev["_l"].to_numpy(), prev["_r"].to_numpy())))
    del before
    if release:
        state.pairs = None
    cand = _sorted_unique(np.concatenate([prev["pair"].to_numpy(), *fresh_pairs]))
    left = (cand // np.uint64(PAIR_SHIFT)).astype(np.int64)
    right = (cand % np.uint64(PAIR_SHIFT)).astype(np.int64)
    first = np.full(len(cand), -1, dtype=np.int64)
    for i in reversed(range(len(rule_keys))):   # the first rule that finds a pair names it
        k = rule_keys[i]
        first[(k[left] >= 0) & (k[left] == k[right])] = i
    found = first >= 0
    cand, left, right, first = cand[found], left[found], right[found], first[found]
    del rule_keys, fresh_pairs
    t["block"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    names = [c.name for c in settings.comparisons]
    g_all = {name: np.empty(len(cand), dtype=np.int8) for name in names}
    stored = pl.DataFrame({"pair": cand}).with_row_index("_at").join(
        prev.filter(~pl.Series(touched[prev["_l"].to_numpy()] | touched[prev["_r"].to_numpy()])), on="pair")
    rule_names = pl.Series([r.name for r in settings.blocking_rules], dtype=pl.Utf8)
    delta = (_pairs_delta(stored, prev, dropped, old_pairs, ids, left, right, rule_names.gather(first)) if old_pairs
             else (None, None))   # from nothing: every pair is new, the caller writes them all
    del dropped
    reuse = np.zeros(len(cand), dtype=bool)
    at = stored["_at"].to_numpy()
    reuse[at] = True
    for name in names:
        g_all[name][at] = stored[f"gamma_{name}"].to_numpy()
    todo = np.flatnonzero(~reuse)
    pc = None
    for start in range(0, len(todo), chunk_pairs):
        idx = todo[start:start + chunk_pairs]
        pc = PairColumns(feats, left[idx], right[idx], codes)
        for name, gv in gammas(pc, settings).items():
            g_all[name][idx] = gv
    del stored, prev, pc
    t["compare"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if model is None:
        model = train(feats, settings, candidates=PairColumns(feats, left, right, codes), candidate_gammas=g_all,
                      codes=codes)
    else:
        model.check(settings)
    total = np.empty(len(cand))
    parts = []
    for start in range(0, max(len(cand), 1), chunk_pairs):   # an empty chunk gives the columns
        sl = slice(start, min(start + chunk_pairs, len(cand)))
        pc = PairColumns(feats, left[sl], right[sl], codes)
        bf = weights(model, settings, pc, {k: v[sl] for k, v in g_all.items()})
        total[sl] = match_weights(model, bf, sl.stop - sl.start)
        parts.append(pl.DataFrame({
            "id_l": ids.gather(left[sl]), "id_r": ids.gather(right[sl]),
            "rule": rule_names.gather(first[sl]), "match_weight": total[sl],
            "match_probability": probability(model, total[sl]),
            **{f"gamma_{name}": g_all[name][sl] for name in names}, **{f"bf_{k}": v for k, v in bf.items()}}))
    scored = pl.concat(parts)
    t["score"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    sp = pl.DataFrame({"match_weight": total, "match_probability": probability(model, total),
                       **{f"gamma_{name}": g_all[name] for name in names}, "l": left, "r": right})
    del g_all
    gc.collect()
    clusters = label_frame(feats, cluster_labels(feats, sp, settings, model=model, codes=codes,
                                                 chunk_pairs=chunk_pairs), uid)
    t["cluster"] = time.perf_counter() - t0
    new_state = MatchState(feats, scored.select(MatchState.empty(settings).pairs.columns))
    return IncrementalResult(
        clusters=clusters, pairs=scored, model=model, state=new_state, blocking_counts=block_counts,
        pairs_gone=delta[0], pairs_added=delta[1],
        changed=changed, deleted=gone, restated=pl.concat([changed, flips, peers]).unique().sort(),
        counts={"records": n, "records_changed": changed.len(), "records_deleted": gone.len(),
                "records_reoriented": flips.len(), "records_peer_changed": peers.len(),
                "pairs": len(cand), "pairs_compared": len(todo), "pairs_reused": int(reuse.sum())},
        timings=t)
