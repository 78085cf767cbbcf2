"""Spark engine vs. polars engine on a crm_synth dataset: wall time of each and whether both
produce the same partition of records. Prints one JSON line.

    python benchmarks/spark_equivalence.py --entities 20000 [--seed 7] [--data DIR] [--master local[2]]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED_BENCH = REPO.parent / "shared" / "bench"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))


def partition(clusters: pl.DataFrame, uid: str = "record_id") -> set[frozenset]:
    """The clustering as a set of record-id sets (cluster ids themselves do not matter)."""
    groups = clusters.group_by("cluster_id").agg(pl.col(uid))[uid].to_list()
    return {frozenset(g) for g in groups}


def model_difference(a, b) -> float:
    """Largest absolute difference of any m, u or the prior between two models."""
    diff = abs(a.prior - b.prior)
    for name, p in a.comparisons.items():
        q = b.comparisons[name]
        diff = max(diff, *(abs(x - y) for x, y in zip(p.m + p.u, q.m + q.u, strict=True)))
    return diff


def dataset(entities: int, seed: int, data: Path | None) -> Path:
    out = data or Path(tempfile.gettempdir()) / f"crm_synth_{entities}_{seed}"
    if not (out / "manifest.json").exists():
        subprocess.run([sys.executable, str(SHARED_BENCH / "crm_synth.py"), "--entities", str(entities),
                        "--seed", str(seed), "--out", str(out), "--workers", "2"], check=True)
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entities", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--data", type=Path, help="crm_synth output folder (generated when missing)")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="6g")
    ap.add_argument("--shuffle-partitions", type=int, default=8)
    ap.add_argument("--skip-polars", action="store_true", help="only time the Spark engine")
    args = ap.parse_args(argv)

    from crm_synth_source import load_crm_synth

    from dedupe import deduplicate, default_settings
    from dedupe.spark import deduplicate as spark_deduplicate
    from dedupe.spark import local_session

    settings = default_settings()
    root = dataset(args.entities, args.seed, args.data)
    records = load_crm_synth(root)
    out: dict = {"entities": args.entities, "seed": args.seed, "records": records.height, "master": args.master}

    polars_result = None
    if not args.skip_polars:
        t0 = time.perf_counter()
        polars_result = deduplicate(records, settings)
        out["polars_wall_s"] = round(time.perf_counter() - t0, 2)
        out["polars_timings"] = {k: round(v, 2) for k, v in polars_result.timings.items()}

    t0 = time.perf_counter()
    spark = local_session(master=args.master, driver_memory=args.driver_memory,
                          shuffle_partitions=args.shuffle_partitions)
    out["spark_startup_s"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    result = spark_deduplicate(records, settings, spark=spark)
    clusters = result.to_polars(pairs=False).clusters
    out["spark_wall_s"] = round(time.perf_counter() - t0, 2)
    out["spark_timings"] = {k: round(v, 2) for k, v in result.timings.items()}
    out["candidate_pairs"] = int(result.pairs.count())

    if polars_result is not None:
        out["ratio_spark_to_polars"] = round(out["spark_wall_s"] / out["polars_wall_s"], 2)
        out["model_max_abs_diff"] = model_difference(polars_result.model, result.model)
        a, b = partition(polars_result.clusters), partition(clusters)
        out["clusters_polars"], out["clusters_spark"] = len(a), len(b)
        out["identical_partition"] = a == b
        out["clusters_only_in_one"] = len(a ^ b)
    spark.stop()
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
