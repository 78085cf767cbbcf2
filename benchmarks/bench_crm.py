"""crm_synth benchmark: accuracy, hard negatives, time and memory of normalise -> clusters, one JSON
line per dataset and tool (optionally Splink and GoldenMatch side by side on the same records).

    python benchmarks/bench_crm.py [--sizes 20000,100000,1000000] [--profiles default,messy]
                                   [--work DIR] [--compare splink,goldenmatch,goldenmatch-crm]
                                   [--splink-thresholds 0.5,0.99] [--splink-memory-limit 5GB]
                                   [--goldenmatch-backend bucket]
                                   [--max-rss-gb 8] [--min-available-gb 8] [--bench-python PATH]

Datasets come from ../shared/bench/crm_synth.py (seed 202 for 20k, 42 otherwise; an existing
WORK/crm_<profile>_<size> folder, or a link to one, is used as it is) and are read once into
canonical records (benchmarks/crm_synth_source.py, cached as Parquet, not timed). Each tool runs
in its own process on that Parquet; the scorer is ../shared/bench/score.py. Splink's one
prediction is clustered at every threshold of ``--splink-thresholds`` and each is scored as its own
line (``splink@0.99``). A competitor whose process tree grows past ``--max-rss-gb`` is stopped and
reported as an error, and ``--min-available-gb`` holds each run back until that much memory is
free, so a shared machine is not pushed into swapping.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
BENCH_KIT = HERE.parent.parent / "shared" / "bench"
sys.path.insert(0, str(HERE))

from crm_synth_source import crosswalk, load_crm_synth

from dedupe.matching.large import AUTO_LARGE_RECORDS


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


def tree_rss_gb(pid: int) -> float:
    """Resident memory of a process and all its descendants (Linux /proc), in GiB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                total += next((int(line.split()[1]) for line in fh if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total / 1024 / 1024


def available_gb() -> float:
    """MemAvailable from /proc/meminfo, in GiB (inf where there is no /proc)."""
    try:
        with open("/proc/meminfo") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("MemAvailable:")) / 1024 / 1024
    except (FileNotFoundError, StopIteration):
        return float("inf")


def wait_for_memory(min_gb: float, poll: float = 30.0) -> None:
    """Hold a run back until the machine has ``min_gb`` available (other jobs may share it)."""
    while (free := available_gb()) < min_gb:
        print(f"waiting: {free:.1f} GB available < {min_gb} GB", file=sys.stderr, flush=True)
        time.sleep(poll)


def run(cmd: list[str], max_rss_gb: float | None = None) -> dict:
    """Run one tool; its last stdout line is its JSON. Adds the peak RSS of its whole process tree."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, start_new_session=True)
        peak, killed = 0.0, False
        while proc.poll() is None:
            peak = max(peak, tree_rss_gb(proc.pid))
            if max_rss_gb and peak > max_rss_gb:
                os.killpg(proc.pid, signal.SIGKILL)   # its own session: only this tool's processes
                proc.wait()
                killed = True
                break
            time.sleep(0.5)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if killed:
        return {"error": f"stopped after {time.perf_counter() - t0:.0f} s: process tree RSS {peak:.2f} GB "
                         f"> --max-rss-gb {max_rss_gb}",
                "peak_rss_tree_gb": round(peak, 3)}
    if proc.returncode != 0:
        return {"error": (stderr or stdout).strip().splitlines()[-1:], "peak_rss_tree_gb": round(peak, 3)}
    return {**json.loads(stdout.strip().splitlines()[-1]), "peak_rss_tree_gb": round(peak, 3)}


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


def tool_command(tool: str, a, records: Path, out: Path) -> list[str]:
    if tool == "crm-golden":
        cmd = [sys.executable, str(HERE / "run_engine.py"), str(records), "--out", str(out)]
        if pl.scan_parquet(records).select(pl.len()).collect().item() > AUTO_LARGE_RECORDS:
            # what `crm-golden dedupe` picks for a table this size: the chunked engine
            cmd += ["--large", "--workdir", str(out.with_suffix("")) + "_work"]
        return cmd
    if tool == "splink":
        return [a.bench_python, str(HERE / "run_splink.py"), str(records), "--kind", "crm", "--id", "record_id",
                "--out", str(out), "--thresholds", a.splink_thresholds,
                *(["--memory-limit", a.splink_memory_limit] if a.splink_memory_limit else [])]
    if tool in ("goldenmatch", "goldenmatch-crm"):   # zero-config, or the explicit customer configuration
        return [a.bench_python, str(HERE / "run_goldenmatch.py"), str(records), "--id", "record_id", "--out", str(out),
                "--config", "crm" if tool.endswith("-crm") else "auto",
                *(["--backend", a.goldenmatch_backend] if a.goldenmatch_backend else [])]
    raise SystemExit(f"unknown tool {tool!r} (crm-golden, splink, goldenmatch, goldenmatch-crm)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="20000,100000")
    ap.add_argument("--profiles", default="default,messy")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "crm_golden_bench"))
    ap.add_argument("--compare", default="",
                    help="also run splink, goldenmatch (zero-config), goldenmatch-crm (comma-separated)")
    ap.add_argument("--splink-thresholds", default="0.5,0.99",
                    help="match probabilities Splink's clusters are cut at (each scored separately)")
    ap.add_argument("--splink-memory-limit", help="DuckDB memory_limit for Splink, e.g. 5GB")
    ap.add_argument("--goldenmatch-backend", help="GoldenMatch execution backend, e.g. bucket (default: its own)")
    ap.add_argument("--max-rss-gb", type=float, default=8.0,
                    help="stop a competitor whose process tree exceeds this resident memory (0 = no limit)")
    ap.add_argument("--min-available-gb", type=float, default=0.0,
                    help="wait before each run until this much memory is available")
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
                limit = a.max_rss_gb if tool != "crm-golden" and a.max_rss_gb > 0 else None
                wait_for_memory(a.min_available_gb)
                info = run(tool_command(tool, a, records, out), limit)
                runs = info.pop("thresholds", None)
                if "error" in info or not runs:
                    runs = {None: {"out": str(out), "seconds": info.get("seconds")}}
                for thr, r in runs.items():   # Splink: one line per clustering threshold
                    label = f"{tool}@{thr}" if thr is not None else tool
                    line = {"benchmark": "crm_synth", "profile": profile, "entities": size, **info, "tool": label,
                            **({"threshold": float(thr), "seconds": r["seconds"]} if thr is not None else {})}
                    if "error" not in info:
                        line.update(evaluate(score_mod, data, Path(r["out"])))
                        times[label] = (line["seconds"], line.get("cpu_seconds"))
                    print(json.dumps(line), flush=True)
            if "crm-golden" in times and len(times) > 1:   # wall and CPU seconds (CPU is steadier under load)
                base = times.pop("crm-golden")
                print(json.dumps({"benchmark": "crm_synth", "profile": profile, "entities": size,
                                  "time_ratio_vs_crm_golden": {k: round(w / max(base[0], 1e-9), 2)
                                                               for k, (w, _) in times.items()},
                                  "cpu_ratio_vs_crm_golden": {k: round(c / max(base[1], 1e-9), 2)
                                                              for k, (_, c) in times.items() if c and base[1]}}),
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
