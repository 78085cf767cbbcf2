"""Score a published crosswalk with ../shared/bench/score.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import polars as pl

SHARED_BENCH = Path(__file__).resolve().parents[1].parent / "shared" / "bench"
#: crm_synth names sheet sources by kind; the pipeline by file stem
SYNTH_SOURCE_NAMES = {"trade_show_leads": "leads_xlsx", "sales_contacts": "sales_csv", "legacy_export": "legacy_csv"}


def _score_module():
    spec = importlib.util.spec_from_file_location("crm_bench_score", SHARED_BENCH / "score.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("crm_bench_score", mod)
    spec.loader.exec_module(mod)
    return mod


def score_crosswalk(truth: Path, crosswalk: pl.DataFrame, tmp: Path, golden: pl.DataFrame | None = None) -> dict:
    """The score.py report for ``crosswalk`` (sheet sources renamed to crm_synth's names)."""
    cw = crosswalk.select(pl.col("source").replace(SYNTH_SOURCE_NAMES), "source_record_id", "golden_id")
    path = tmp / "crosswalk.parquet"
    cw.write_parquet(path)
    gpath = None
    if golden is not None:
        gpath = tmp / "golden.parquet"
        golden.write_parquet(gpath)
    return _score_module().score(str(truth), str(path), str(gpath) if gpath else None)
