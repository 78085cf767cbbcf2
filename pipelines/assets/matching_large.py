"""Matching above a size threshold: the chunked engine (``dedupe.deduplicate_large``) inside the pipeline.

Above ``CRM_GOLDEN_LARGE_RECORDS`` staged records (default: the engine's own 1M threshold) the
in-memory matching would hold every record's features and every scored pair at once (10-12 GB at
1.7M records). Instead ``matching/candidate_pairs`` exports the staged records to Parquet (DuckDB
streams it), runs the chunked engine in a work folder beside the warehouse (features in 500k-record
chunks, pairs in 2M-pair Parquet chunks, the stored model reused unless a retrain is asked for), and
loads its scored pairs into the warehouse straight from those Parquet files; ``scored_pairs`` and
``clusters`` then only report and apply the steward's constraints. The partition equals the in-memory
one (``tests/dedupe/test_large.py``; ``tests/test_large_pipeline.py`` through the whole pipeline).
Every large run compares every pair again: an incremental large run costs a full one, and gives the
same result as a full rebuild.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import polars as pl

from dedupe import FSModel, deduplicate_large
from dedupe.matching.large import AUTO_LARGE_RECORDS
from pipelines.warehouse import Warehouse

LARGE_ENV = "CRM_GOLDEN_LARGE_RECORDS"
LARGE_MODE = "large"


def large_threshold() -> int:
    """Staged records above which the pipeline matches with the chunked engine."""
    value = os.environ.get(LARGE_ENV, "").strip()
    return int(value) if value.isdigit() else AUTO_LARGE_RECORDS


def staged_count(wh: Warehouse) -> int:
    return int(wh.query("select count(*) as n from staging.customers")["n"][0])


def work_dir(wh: Warehouse) -> Path:
    """The chunked engine's scratch folder beside the warehouse (rebuilt by every large run)."""
    return wh.path.parent / f"{wh.path.stem}_matching_work"


def match_large(wh: Warehouse, settings, model: FSModel | None) -> dict:
    """Run the chunked engine on ``staging.customers`` and write ``matching.scored_pairs``,
    ``matching.candidate_pairs``, ``matching.clusters_large`` and ``matching.model``; returns the
    run's counts and timings for the asset metadata."""
    work = work_dir(wh)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    staged = work / "staged.parquet"
    with wh.connect() as con:
        con.execute(f"copy (select * from staging.customers order by record_id) to '{_sql_path(staged)}' "
                    "(format parquet)")
    result = deduplicate_large(str(staged), settings, workdir=work / "engine", model=model)
    pairs = sorted((work / "engine" / "pairs").glob("part-*.parquet"))
    params = json.dumps(result.model.to_dict(), default=str) if hasattr(result.model, "to_dict") else "{}"
    with wh.connect() as con:
        con.execute("create schema if not exists matching")
        if pairs:
            files = ", ".join(f"'{_sql_path(p)}'" for p in pairs)
            con.execute(f"create or replace table matching.scored_pairs as select * from read_parquet([{files}])")
        else:
            con.execute("create or replace table matching.scored_pairs "
                        "(id_l varchar, id_r varchar, match_probability double)")
        con.execute("create or replace table matching.candidate_pairs as select id_l, id_r from matching.scored_pairs")
        con.execute("drop table if exists matching.record_digests")  # the next run compares everything again
    wh.write_many({
        "matching.clusters_large": result.clusters,
        "matching.model": pl.DataFrame({"params_json": [params]}),
        "matching.run_mode": pl.DataFrame({"mode": [LARGE_MODE]}),
    })
    return {"records": int(result.clusters.height), "candidate_pairs": int(result.candidate_pairs),
            "pairs_by_rule": {k: int(v) for k, v in result.blocking_counts.items()},
            "engine_seconds": {k: round(v, 2) for k, v in result.timings.items()}}


def constrained_pairs(wh: Warehouse, clusters: pl.DataFrame, ids: pl.Series) -> pl.DataFrame:
    """The scored pairs inside the clusters that hold any of ``ids`` (the records a steward decision
    names): all the constraints need, read from DuckDB instead of every pair."""
    touched = clusters.filter(pl.col("cluster_id").is_in(
        clusters.filter(pl.col("record_id").is_in(ids.implode()))["cluster_id"].implode()))["record_id"]
    if touched.len() == 0:
        return wh.query("select * from matching.scored_pairs where false")
    with wh.connect() as con:
        con.register("touched_ids", pl.DataFrame({"record_id": touched}).to_arrow())
        return con.sql("select p.* from matching.scored_pairs p "
                       "join touched_ids a on p.id_l = a.record_id "
                       "join touched_ids b on p.id_r = b.record_id").pl()


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
