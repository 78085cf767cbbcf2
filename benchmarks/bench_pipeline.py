"""The whole pipeline on a crm_synth dataset: stage times, peak memory, match accuracy, engine ratio.

    .venv/bin/python benchmarks/bench_pipeline.py --entities 20000 [--seed 202] [--workdir DIR] [--reuse]

Generates the dataset with ../shared/bench/crm_synth.py (``--reuse`` keeps one already in the
work dir), runs ``crm-golden run`` on it in a fresh warehouse and Dagster instance in its own
process (so its peak RSS is the run's alone, from ``wait4``), reads every step's duration from the
run's event log and the ``stage_seconds`` / ``peak_rss_mb`` the assets report, scores the published
crosswalk with ../shared/bench/score.py, then times ``crm-golden dedupe`` on the same run's
``staging.customers`` (exported to Parquet) and reports pipeline time / engine time.
Prints progress on stderr and ONE JSON line on stdout.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BENCH_KIT = REPO.parent / "shared" / "bench"
CLI = Path(sys.executable).with_name("crm-golden")
#: the pipeline names a sheet source by its file stem; crm_synth's truth by its kind
TRUTH_SOURCE = {"sales_contacts": "sales_csv", "trade_show_leads": "leads_xlsx", "legacy_export": "legacy_csv"}
SOURCE_SQL = "case source " + " ".join(f"when '{k}' then '{v}'" for k, v in TRUTH_SOURCE.items()) \
    + " else source end as source"


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def timed_process(cmd: list[str], *, env: dict | None = None, log: Path | None = None) -> dict:
    """Run ``cmd`` to completion; wall seconds, CPU seconds and peak RSS of that process (wait4)."""
    t0 = time.perf_counter()
    with open(log or os.devnull, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log else []
        raise SystemExit(f"{' '.join(cmd[:3])} failed with exit code {proc.returncode}: {' | '.join(tail)}")
    return {"seconds": round(wall, 1), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_gb": round(usage.ru_maxrss / 1024 ** 2, 3)}


def dataset(work: Path, entities: int, seed: int, reuse: bool) -> Path:
    out = work / "sources"
    if reuse and (out / "manifest.json").exists():
        _note(f"reusing {out}")
        return out
    shutil.rmtree(out, ignore_errors=True)
    _note(f"generating crm_synth {entities} entities, seed {seed} ...")
    subprocess.run([sys.executable, str(BENCH_KIT / "crm_synth.py"), "--entities", str(entities), "--seed",
                    str(seed), "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    return out


def run_stages(dagster_home: Path) -> tuple[str, dict, dict]:
    """(run status, seconds per step from the event log, stage metadata per asset) of the one run."""
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))) as instance:
        [record] = instance.get_run_records(limit=1)
        run_id = record.dagster_run.run_id
        steps: dict[str, float] = {}
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS):
            event = entry.dagster_event
            steps[event.step_key] = round(event.event_specific_data.duration_ms / 1000, 2)
        assets: dict[str, dict] = {}
        seen_stages: list = []
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
            meta = entry.dagster_event.event_specific_data.materialization.metadata
            if "stage_seconds" in meta:
                key = entry.dagster_event.event_specific_data.materialization.asset_key.to_user_string()
                info = {"seconds": meta["stage_seconds"].value, "peak_rss_mb": meta["peak_rss_mb"].value}
                if "stages" in meta and meta["stages"].value not in seen_stages:  # a multi-asset's: once
                    info["stages"] = meta["stages"].value
                    seen_stages.append(info["stages"])
                assets[key] = info
        return record.dagster_run.status.value, steps, assets


def _scorer():
    spec = importlib.util.spec_from_file_location("crm_bench_score", BENCH_KIT / "score.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def accuracy(score_mod, sources: Path, crosswalk: Path) -> dict:
    res = score_mod.score(str(sources), str(crosswalk))
    if res["coverage"]["missing_from_crosswalk"]:
        _note(f"warning: {res['coverage']['missing_from_crosswalk']} truth records not in {crosswalk.name}")
    return {"pairwise_f1": round(res["pairwise"]["f1"], 4), "pairwise_precision": round(res["pairwise"]["precision"], 4),
            "pairwise_recall": round(res["pairwise"]["recall"], 4), "bcubed_f1": round(res["bcubed"]["f1"], 4)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entities", type=int, required=True)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--workdir", type=Path, default=None,
                    help="dataset, warehouse and Dagster instance go here (default: a folder in the temp dir)")
    ap.add_argument("--reuse", action="store_true", help="reuse the dataset already in --workdir")
    a = ap.parse_args(argv)
    work = (a.workdir or Path(tempfile.gettempdir()) / f"crm_bench_pipeline_{a.entities}_{a.seed}").absolute()
    work.mkdir(parents=True, exist_ok=True)
    load_start = [round(x, 2) for x in os.getloadavg()]
    sources = dataset(work, a.entities, a.seed, a.reuse)

    for stale in ("warehouse", "dagster_home", "engine"):
        shutil.rmtree(work / stale, ignore_errors=True)
    warehouse = work / "warehouse" / "warehouse.duckdb"
    env = {**os.environ, "DAGSTER_HOME": str(work / "dagster_home")}
    _note(f"crm-golden run on {sources} ...")
    pipeline = timed_process([str(CLI), "run", "--sources", str(sources), "--warehouse", str(warehouse)],
                             env=env, log=work / "run.log")
    status, steps, assets = run_stages(work / "dagster_home")

    import duckdb

    engine_dir = work / "engine"
    engine_dir.mkdir()
    staged, xw = engine_dir / "staged_customers.parquet", work / "golden_crosswalk.parquet"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        records = con.execute("select count(*) from staging.customers").fetchone()[0]
        golden = con.execute("select count(*) from golden.customers").fetchone()[0]
        con.execute(f"copy staging.customers to '{staged}' (format parquet)")
        con.execute(f"copy (select {SOURCE_SQL}, source_record_id, golden_id from golden.crosswalk) to '{xw}' "
                    "(format parquet)")
    _note("crm-golden dedupe on the staged records ...")
    clusters = engine_dir / "clusters.parquet"
    engine = timed_process([str(CLI), "dedupe", str(staged), "--out", str(clusters)], log=engine_dir / "dedupe.log")
    with duckdb.connect() as con:
        engine_xw = engine_dir / "crosswalk.parquet"
        con.execute(f"copy (select {SOURCE_SQL}, s.source_record_id, c.cluster_id::varchar as golden_id "
                    f"from '{staged}' s join '{clusters}' c using (record_id)) to '{engine_xw}' (format parquet)")

    score_mod = _scorer()
    line = {
        "bench": "pipeline", "entities": a.entities, "seed": a.seed, "records": records, "golden_customers": golden,
        "run_status": status,
        "pipeline_seconds": pipeline["seconds"], "pipeline_cpu_seconds": pipeline["cpu_seconds"],
        "pipeline_peak_rss_gb": pipeline["peak_rss_gb"],
        **accuracy(score_mod, sources, xw),
        "step_seconds": steps,
        "asset_stages": assets,
        "engine_seconds": engine["seconds"], "engine_peak_rss_gb": engine["peak_rss_gb"],
        "engine": accuracy(score_mod, sources, engine_xw),
        "pipeline_engine_ratio": round(pipeline["seconds"] / engine["seconds"], 1) if engine["seconds"] else None,
        "load_average_start": load_start,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
