"""Matching with the polars engine inside the pipeline: the first (or a full) run, and every later run
incrementally from the state the last one left.

A full run below ``CRM_GOLDEN_LARGE_RECORDS`` staged records (default: the engine's own 1M
threshold) matches in memory (``dedupe.matching.incremental.update`` from an empty state, which
computes what ``deduplicate`` does). Above it, the in-memory matching would hold every record's
features and every scored pair at once (10-12 GB at 1.7M records): the staged records are exported
to Parquet (DuckDB streams them) and the chunked engine runs in a work folder beside the warehouse
(features in 500k-record chunks, pairs in 2M-pair Parquet chunks); its scored pairs are loaded into
the warehouse straight from those Parquet files.

Every later run is incremental, whatever the size: the state (``matching.record_features``: each
record's digest, matching features, name orientation and peer flags; ``matching.scored_pairs``:
each candidate pair's comparison levels) is read back, only the new, changed and affected records
are prepared and only the pairs they touch compared; weights and clusters are computed again over
all pairs (``dedupe.matching.incremental``), so the result equals a full run's. ``--full-rebuild``,
``--retrain``, other settings or another engine version start from nothing again. The state lives in
the warehouse, so erasing a person (``crm-golden erase``) removes them from it too.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import polars as pl

from dedupe import FSModel, deduplicate_large
from dedupe.matching.incremental import DIGEST, MatchState, fingerprint, state_features, update
from dedupe.matching.large import AUTO_LARGE_RECORDS
from pipelines.warehouse import Warehouse

LARGE_ENV = "CRM_GOLDEN_LARGE_RECORDS"
LARGE_MODE = "large"
FEATURES = "matching.record_features"
STATE = "matching.state"
PAIRS = "matching.scored_pairs"
UNCONSTRAINED = "matching.clusters_unconstrained"
"""The engine's clusters before the stewards' decisions (``matching/clusters`` applies them)."""


def large_threshold() -> int:
    """Staged records above which the pipeline matches with the chunked engine."""
    value = os.environ.get(LARGE_ENV, "").strip()
    return int(value) if value.isdigit() else AUTO_LARGE_RECORDS


def staged_count(wh: Warehouse) -> int:
    return int(wh.query("select count(*) as n from staging.customers")["n"][0])


def work_dir(wh: Warehouse) -> Path:
    """The chunked engine's scratch folder beside the warehouse (rebuilt by every large run)."""
    return wh.path.parent / f"{wh.path.stem}_matching_work"


def staged_digests(wh: Warehouse) -> pl.DataFrame:
    """``record_id`` and ``DIGEST`` (a hash of every staged column) of every staged record."""
    with wh.connect() as con:
        cols = [r[0] for r in con.execute("select column_name from information_schema.columns where "
                                          "table_schema = 'staging' and table_name = 'customers' "
                                          "order by ordinal_position").fetchall()]
        args = ", ".join(f'"{c}"' for c in cols)
        return con.sql(f'select record_id, hash({args}) as "{DIGEST}" from staging.customers').pl()


def fetch_staged(wh: Warehouse):
    """``fetch(ids)``: the staged rows of the given record ids (for ``incremental.update``)."""
    def fetch(ids: pl.Series) -> pl.DataFrame:
        with wh.connect() as con:
            con.register("__ids", pl.DataFrame({"record_id": ids.cast(pl.Utf8)}).to_arrow())
            return con.sql("select c.* from staging.customers c semi join __ids using (record_id) "
                           "order by record_id").pl()
    return fetch


def load_state(wh: Warehouse, settings) -> MatchState | None:
    """The last run's state, if it was computed with these settings and this engine version."""
    if not (wh.exists(STATE) and wh.exists(FEATURES) and wh.exists(PAIRS)):
        return None
    if wh.read(STATE)["fingerprint"].to_list() != [fingerprint(settings)]:
        return None
    gamma = ", ".join(f'"gamma_{c.name}"' for c in settings.comparisons)
    return MatchState(wh.read(FEATURES), wh.query(f"select id_l, id_r, rule, {gamma} from {PAIRS}"))


def changes(wh: Warehouse, digests: pl.DataFrame, before: pl.DataFrame | None = None) -> pl.DataFrame:
    """``matching.changed_records``: records new or changed (``changed``) or gone (``deleted``) since the
    last run's digests (``before``, else read from the last run's features; every record ``changed``
    when there are none)."""
    if before is None and wh.exists(FEATURES) and DIGEST in wh.query(f"select * from {FEATURES} limit 0").columns:
        before = wh.query(f'select record_id, "{DIGEST}" from {FEATURES}')
    if before is None:
        return digests.select("record_id", pl.lit("changed").alias("change"))
    changed = digests.join(before, on=["record_id", DIGEST], how="anti").select("record_id")
    gone = before.join(digests, on="record_id", how="anti").select("record_id")
    return pl.concat([changed.with_columns(change=pl.lit("changed")),
                      gone.with_columns(change=pl.lit("deleted"))]).sort("change", "record_id")


def _model_json(model) -> str:
    return json.dumps(model.to_dict(), default=str) if hasattr(model, "to_dict") else "{}"


def match_large(wh: Warehouse, settings, model: FSModel | None, digests: pl.DataFrame) -> dict:
    """Run the chunked engine on ``staging.customers`` and write ``matching.scored_pairs``,
    ``matching.candidate_pairs``, the unconstrained clusters, ``matching.model`` and the state for the
    next run; returns the run's counts and timings for the asset metadata."""
    work = work_dir(wh)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    staged = work / "staged.parquet"
    with wh.connect() as con:
        con.execute(f"copy (select * from staging.customers order by record_id) to '{_sql_path(staged)}' "
                    "(format parquet)")
    result = deduplicate_large(str(staged), settings, workdir=work / "engine", model=model, orientation=True)
    pairs = sorted((work / "engine" / "pairs").glob("part-*.parquet"))
    feats = pl.read_parquet(sorted((work / "engine" / "features").glob("part-*.parquet")))
    features = state_features(feats, digests, settings)   # the pairs' part of the state: scored_pairs below
    del feats
    changed = changes(wh, digests)
    with wh.connect() as con:
        con.execute("begin transaction")
        try:
            con.execute("create schema if not exists matching")
            if pairs:
                files = ", ".join(f"'{_sql_path(p)}'" for p in pairs)
                con.execute(f"create or replace table {PAIRS} as select * from read_parquet([{files}])")
            else:
                con.execute(f"create or replace table {PAIRS} (id_l varchar, id_r varchar, rule varchar, "
                            "match_weight double, match_probability double)")
            _write(con, {FEATURES: features})
            _finish(con, settings, result.clusters, result.model, changed, LARGE_MODE)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return {"records": int(result.clusters.height), "candidate_pairs": int(result.candidate_pairs),
            "pairs_by_rule": {k: int(v) for k, v in result.blocking_counts.items()},
            "engine_seconds": {k: round(v, 2) for k, v in result.timings.items()},
            "records_new_or_changed": int((changed["change"] == "changed").sum()),
            "records_deleted": int((changed["change"] == "deleted").sum())}


def match_incremental(wh: Warehouse, settings, model: FSModel | None, state: MatchState | None,
                      digests: pl.DataFrame) -> dict:
    """``incremental.update`` from ``state`` (None: from nothing, in memory) and the same tables as
    ``match_large``; the record features are rewritten only for the records whose state changed, and the
    candidate pairs only where they changed (the scored pairs are rewritten whole: term frequencies move
    the weights of most of them)."""
    shutil.rmtree(work_dir(wh), ignore_errors=True)   # a large run's scratch files are stale now
    mode = "incremental" if state is not None else "full"
    uid = settings.unique_id
    changed = changes(wh, digests, None if state is None else state.features.select(uid, DIGEST))
    result = update(state or MatchState.empty(settings), digests, fetch_staged(wh), settings, model, release=True)
    restated = result.state.features.join(result.restated.to_frame(uid), on=uid, how="semi")
    with wh.connect() as con:
        con.execute("begin transaction")
        try:
            con.execute("create schema if not exists matching")
            _write(con, {PAIRS: result.pairs})
            if result.counts["records"] == restated.height:   # a first run: every row is new
                _write(con, {FEATURES: result.state.features})
            else:   # only the rows that changed: most of the table stays as it is
                con.register("__gone", pl.concat([restated[uid], result.deleted]).to_frame(uid).to_arrow())
                con.execute(f"delete from {FEATURES} where {uid} in (select {uid} from __gone)")
                con.register("__restated", restated.to_arrow())
                con.execute(f"insert into {FEATURES} by name select * from __restated")
            delta = _candidate_delta(con, result) if state is not None else None
            _finish(con, settings, result.clusters, result.model, changed, mode, candidates=delta is None)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    c = result.counts
    return {"records": c["records"], "candidate_pairs": c["pairs"],
            "pairs_by_rule": {k: int(v) for k, v in result.blocking_counts.items()},
            "engine_seconds": {k: round(v, 2) for k, v in result.timings.items()},
            "records_new_or_changed": c["records_changed"], "records_deleted": c["records_deleted"],
            "records_reoriented": c["records_reoriented"], "records_peer_changed": c["records_peer_changed"],
            "pairs_compared": c["pairs_compared"], "pairs_reused": c["pairs_reused"],
            "records_restated": restated.height,
            "candidate_pairs_rewritten": "all" if delta is None else f"{delta[0]} deleted, {delta[1]} inserted"}


def _candidate_delta(con, result) -> tuple[int, int] | None:
    """Bring ``matching.candidate_pairs`` from the last run's pairs to this run's by deleting the pairs
    gone and inserting the new ones (a few thousand rows instead of millions); None (nothing done) when
    the table does not hold exactly the last run's pairs, which ``_finish`` then rewrites."""
    gone, added = result.pairs_gone, result.pairs_added
    if gone is None or added is None:
        return None
    exists = con.execute("select count(*) from information_schema.tables where table_schema = 'matching' "
                         "and table_name = 'candidate_pairs'").fetchall()[0][0]
    before = result.counts["pairs"] - added.height + gone.height   # the state's pairs
    if not exists or con.execute("select count(*) from matching.candidate_pairs").fetchall()[0][0] != before:
        return None
    con.register("__gone", gone.to_arrow())
    con.execute("delete from matching.candidate_pairs c using __gone g where c.id_l = g.id_l and c.id_r = g.id_r")
    con.unregister("__gone")
    con.register("__added", added.to_arrow())
    con.execute("insert into matching.candidate_pairs by name select id_l, id_r, rule from __added")
    con.unregister("__added")
    return gone.height, added.height


def _write(con, tables: dict[str, pl.DataFrame]) -> None:
    for table, df in tables.items():
        con.register("__frame", df.to_arrow())
        con.execute(f"create or replace table {table} as select * from __frame")
        con.unregister("__frame")


def _finish(con, settings, clusters: pl.DataFrame, model, changed: pl.DataFrame, mode: str, *,
            candidates: bool = True) -> None:
    """The tables every polars matching run writes beside the pairs and the features (the candidate
    pairs too unless ``candidates`` is false: brought up to date already)."""
    if candidates:
        con.execute(f"create or replace table matching.candidate_pairs as select id_l, id_r, rule from {PAIRS}")
    con.execute("drop table if exists matching.record_digests")   # the Spark path's; stale now
    _write(con, {UNCONSTRAINED: clusters, "matching.model": pl.DataFrame({"params_json": [_model_json(model)]}),
                 "matching.run_mode": pl.DataFrame({"mode": [mode]}), "matching.changed_records": changed,
                 STATE: pl.DataFrame({"fingerprint": [fingerprint(settings)]})})


def constrained_pairs(wh: Warehouse, clusters: pl.DataFrame, ids: pl.Series) -> pl.DataFrame:
    """The scored pairs inside the clusters that hold any of ``ids`` (the records a steward decision
    names): all the constraints need, read from DuckDB instead of every pair."""
    touched = clusters.filter(pl.col("cluster_id").is_in(
        clusters.filter(pl.col("record_id").is_in(ids.implode()))["cluster_id"].implode()))["record_id"]
    if touched.len() == 0:
        return wh.query(f"select * from {PAIRS} where false")
    with wh.connect() as con:
        con.register("touched_ids", pl.DataFrame({"record_id": touched}).to_arrow())
        return con.sql(f"select p.* from {PAIRS} p "
                       "join touched_ids a on p.id_l = a.record_id "
                       "join touched_ids b on p.id_r = b.record_id").pl()


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")

