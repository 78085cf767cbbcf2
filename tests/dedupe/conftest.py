"""Fixtures for the matching engine: a generated dataset's records as canonical rows, and their scores."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import polars as pl
import pytest

from dedupe.evaluation import evaluate

REPO = Path(__file__).resolve().parents[2]
#: benchmarks/crm_synth_source.py names sheet sources by kind; the pipeline and the truth by file stem
SOURCE_NAMES = {"leads_xlsx": "trade_show_leads", "sales_csv": "sales_contacts", "legacy_csv": "legacy_export"}


def _module(name: str, path: Path):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def synth_source():
    """benchmarks/crm_synth_source.py: reads a dataset of that layout into canonical columns."""
    return _module("crm_synth_source", REPO / "benchmarks" / "crm_synth_source.py")


@pytest.fixture(scope="session")
def records_2k(synth_2k, synth_source) -> pl.DataFrame:
    records = synth_source.load_crm_synth(synth_2k, cache=False)
    source = pl.col("source").replace(SOURCE_NAMES)
    return records.with_columns(source=source, record_id=source + ":" + pl.col("source_record_id"))


@pytest.fixture(scope="session")
def result_2k(records_2k):
    from dedupe import deduplicate, default_settings

    return deduplicate(records_2k, default_settings(), keep_features=True)


@pytest.fixture(scope="session")
def scored_2k(result_2k, synth_2k) -> dict:
    """dedupe.evaluation's report for the 2k clustering, with the look-alike pairs merged."""
    truth = synth_2k / "truth"
    return evaluate(result_2k.clusters, pl.read_csv(truth / "records.csv", infer_schema=False),
                    hard_negatives=pl.read_csv(truth / "hard_negatives.csv", infer_schema=False))
