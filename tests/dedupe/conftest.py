"""Fixtures for the matching engine: crm_synth records as canonical rows, and the scorer."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import polars as pl
import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_BENCH = REPO.parent / "shared" / "bench"


def _module(name: str, path: Path):
    if name in sys.modules:
        return sys.modules[name]
    if not path.exists():
        pytest.skip(f"{path.name} is not available")
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def synth_source():
    """benchmarks/crm_synth_source.py: reads a crm_synth dataset into canonical columns."""
    return _module("crm_synth_source", REPO / "benchmarks" / "crm_synth_source.py")


@pytest.fixture(scope="session")
def bench_score():
    """../shared/bench/score.py (the benchmark scorer)."""
    return _module("crm_bench_score", SHARED_BENCH / "score.py")


@pytest.fixture(scope="session")
def records_2k(synth_2k, synth_source) -> pl.DataFrame:
    return synth_source.load_crm_synth(synth_2k, cache=False)


@pytest.fixture(scope="session")
def result_2k(records_2k):
    from dedupe import deduplicate, default_settings

    return deduplicate(records_2k, default_settings(), keep_features=True)


@pytest.fixture(scope="session")
def scored_2k(result_2k, synth_2k, synth_source, bench_score, tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("crosswalk") / "crosswalk.parquet"
    synth_source.crosswalk(result_2k.clusters).write_parquet(path)
    return bench_score.score(str(synth_2k), str(path))
