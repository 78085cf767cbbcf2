"""Run the crm-golden matching engine on one table in a fresh process and report wall time and
peak memory as one JSON line (the unit every benchmark here measures).

    python benchmarks/run_engine.py INPUT.parquet --out CLUSTERS.parquet [--settings FILE]
                                    [--link-with OTHER] [--threshold P]

Timed: normalise (prepare) -> block -> score (incl. training) -> cluster, as wall and CPU seconds
(CPU time is the steadier figure on a shared machine). Reading the input is reported separately;
peak RSS covers the whole process.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import polars as pl

from dedupe import deduplicate, default_settings, load_settings


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
    a = ap.parse_args(argv)
    settings = load_settings(a.settings) if a.settings else default_settings()
    if a.threshold is not None:
        settings = settings.replace(threshold=a.threshold)
    if a.link_with and settings.link_type == "dedupe_only":
        settings = settings.replace(link_type="link_only")
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


if __name__ == "__main__":
    sys.exit(main())
