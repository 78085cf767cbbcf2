"""Run the crm-golden matching engine on one table in a fresh process and report wall time and
peak memory as one JSON line (the unit every benchmark here measures).

    python benchmarks/run_engine.py INPUT.parquet --out CLUSTERS.parquet [--settings FILE]
                                    [--link-with OTHER] [--threshold P]
                                    [--large --workdir DIR [--chunk-records N] [--chunk-pairs N]]

Timed: normalise (prepare) -> block -> score (incl. training) -> cluster, as wall and CPU seconds
(CPU time is the steadier figure on a shared machine). Reading the input is reported separately;
peak RSS covers the whole process. ``--large`` runs ``deduplicate_large`` instead: the input is
scanned in record chunks (so reading it is part of the timed run), features and scored pairs go to
Parquet under ``--workdir``, and a progress line per chunk goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import polars as pl

from dedupe import deduplicate, deduplicate_large, default_settings, load_settings


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _read(path: str) -> pl.DataFrame:
    return pl.read_parquet(path) if path.endswith(".parquet") else pl.read_csv(path, infer_schema=False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input")
    ap.add_argument("--out", required=True)
    ap.add_argument("--settings")
    ap.add_argument("--link-with")
    ap.add_argument("--threshold", type=float)
    ap.add_argument("--max-pairs-per-rule", type=int, help="override the settings' limit (10M+ records)")
    ap.add_argument("--large", action="store_true", help="chunked engine (deduplicate_large)")
    ap.add_argument("--workdir", help="folder for the chunked engine's Parquet files (with --large)")
    ap.add_argument("--chunk-records", type=int, default=500_000)
    ap.add_argument("--chunk-pairs", type=int, default=2_000_000)
    a = ap.parse_args(argv)
    if a.large and (a.link_with or not a.workdir):
        ap.error("--large needs --workdir and matches one table (no --link-with)")
    settings = load_settings(a.settings) if a.settings else default_settings()
    if a.threshold is not None:
        settings = settings.replace(threshold=a.threshold)
    if a.max_pairs_per_rule is not None:
        settings = settings.replace(max_pairs_per_rule=a.max_pairs_per_rule)
    if a.link_with and settings.link_type == "dedupe_only":
        settings = settings.replace(link_type="link_only")
    if a.large:
        return _large(a, settings)
    t0 = time.perf_counter()
    frames = [_read(a.input)] + ([_read(a.link_with)] if a.link_with else [])
    t_read = time.perf_counter() - t0
    t1 = time.perf_counter()
    c1 = _cpu()
    res = deduplicate(frames.pop(0), settings, link_with=frames.pop() if frames else None)
    wall = time.perf_counter() - t1
    cpu = _cpu() - c1
    res.clusters.select(settings.unique_id, "cluster_id").write_parquet(a.out)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024   # KiB -> GiB
    print(json.dumps({"tool": "crm-golden", "records": res.clusters.height,
                      "read_seconds": round(t_read, 2), "seconds": round(wall, 2),
                      "cpu_seconds": round(cpu, 1),
                      "stages": {k: round(v, 2) for k, v in res.timings.items()},
                      "candidate_pairs": res.pairs.height, "peak_rss_gb": round(peak, 3)}))
    return 0


def _large(a, settings) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    t1 = time.perf_counter()
    c1 = _cpu()
    res = deduplicate_large(a.input, settings, workdir=a.workdir, chunk_records=a.chunk_records,
                            chunk_pairs=a.chunk_pairs)
    wall = time.perf_counter() - t1
    cpu = _cpu() - c1
    res.clusters.select(settings.unique_id, "cluster_id").write_parquet(a.out)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024   # KiB -> GiB
    print(json.dumps({"tool": "crm-golden", "engine": "large", "records": res.clusters.height,
                      "read_seconds": 0.0, "seconds": round(wall, 2), "cpu_seconds": round(cpu, 1),
                      "stages": {k: round(v, 2) for k, v in res.timings.items()},
                      "candidate_pairs": res.candidate_pairs, "peak_rss_gb": round(peak, 3),
                      "chunk_records": a.chunk_records, "chunk_pairs": a.chunk_pairs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
