"""crm_synth benchmark: accuracy, hard negatives, time and memory of normalise -> clusters, one JSON
line per dataset and tool (optionally Splink and GoldenMatch side by side on the same records).

    python benchmarks/bench_crm.py [--sizes 20000,100000,1000000] [--profiles default,messy]
                                   [--work DIR] [--compare splink,goldenmatch --bench-python PATH]

Datasets come from ../shared/bench/crm_synth.py (seed 202 for 20k, 42 otherwise) and are read
once into canonical records (benchmarks/crm_synth_source.py, cached as Parquet, not timed). Each
tool runs in its own process on that Parquet; the scorer is ../shared/bench/score.py.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
BENCH_KIT = HERE.parent.parent / "shared" / "bench"
sys.path.insert(0, str(HERE))

from crm_synth_source import crosswalk, load_crm_synth


def _scorer():
    spec = importlib.util.spec_from_file_location("crm_bench_score", BENCH_KIT / "score.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def dataset(work: Path, entities: int, profile: str) -> Path:
    seed = 202 if entities == 20_000 else 42
    out = work / f"crm_{profile}_{entities}"
    if not (out / "manifest.json").exists():
        subprocess.run([sys.executable, str(BENCH_KIT / "crm_synth.py"), "--entities", str(entities), "--seed",
                        str(seed), "--profile", profile, "--out", str(out)], check=True)
    return out


def run(cmd: list[str]) -> dict:
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def evaluate(score_mod, data: Path, clusters: Path, uid: str = "record_id") -> dict:
    cw = clusters.with_name(clusters.stem + "_crosswalk.parquet")
    crosswalk(pl.read_parquet(clusters).with_columns(pl.col("cluster_id").cast(pl.Utf8)), uid=uid).write_parquet(cw)
    res = score_mod.score(str(data), str(cw))
    hn = res["hard_negatives"]
    return {"pairwise_f1": round(res["pairwise"]["f1"], 4), "pairwise_precision": round(res["pairwise"]["precision"], 4),
            "pairwise_recall": round(res["pairwise"]["recall"], 4), "bcubed_f1": round(res["bcubed"]["f1"], 4),
            "hard_negatives_merged": hn["merged"], "hard_negative_pairs": hn["pairs"],
            "hard_negative_rate": round(hn["merged"] / hn["pairs"], 4) if hn["pairs"] else 0.0,
            "hard_negatives_by_kind": {k: v["merged"] for k, v in hn["by_kind"].items()}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="20000,100000")
    ap.add_argument("--profiles", default="default,messy")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "crm_golden_bench"))
    ap.add_argument("--compare", default="",
                    help="also run splink, goldenmatch (zero-config), goldenmatch-crm (comma-separated)")
    ap.add_argument("--bench-python", default=str(HERE / ".venv" / "bin" / "python"))
    a = ap.parse_args(argv)
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    score_mod = _scorer()
    for profile in a.profiles.split(","):
        for size in (int(x) for x in a.sizes.split(",")):
            data = dataset(work, size, profile)
            records = data / "canonical_records.parquet"
            load_crm_synth(data)              # cached canonical records (not timed)
            times = {}
            for tool in ["crm-golden", *[t for t in a.compare.split(",") if t]]:
                out = work / f"clusters_{profile}_{size}_{tool}.parquet"
                if tool == "crm-golden":
                    info = run([sys.executable, str(HERE / "run_engine.py"), str(records), "--out", str(out)])
                elif tool == "splink":
                    info = run([a.bench_python, str(HERE / "run_splink.py"), str(records), "--kind", "crm",
                                "--id", "record_id", "--out", str(out)])
                else:   # goldenmatch (zero-config) or goldenmatch-crm (customer configuration)
                    info = run([a.bench_python, str(HERE / "run_goldenmatch.py"), str(records), "--id", "record_id",
                                "--out", str(out), "--config", "crm" if tool.endswith("-crm") else "auto"])
                line = {"benchmark": "crm_synth", "profile": profile, "entities": size, "tool": tool, **info}
                if "error" not in info:
                    line.update(evaluate(score_mod, data, out))
                    times[tool] = info["seconds"]
                print(json.dumps(line), flush=True)
            if "crm-golden" in times and len(times) > 1:
                print(json.dumps({"benchmark": "crm_synth", "profile": profile, "entities": size,
                                  "time_ratio_vs_crm_golden": {k: round(v / max(times["crm-golden"], 1e-9), 2)
                                                               for k, v in times.items() if k != "crm-golden"}}),
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
