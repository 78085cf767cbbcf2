"""The chunked engine inside the pipeline (above CRM_GOLDEN_LARGE_RECORDS staged records) publishes the
same partition as the in-memory matching, and steward decisions still act on it."""

from __future__ import annotations

import os

import polars as pl
import pytest

from pipelines.review import decide
from pipelines.runner import run_pipeline
from pipelines.warehouse import Warehouse

pytestmark = pytest.mark.slow


def partition(wh: Warehouse) -> set[frozenset[str]]:
    cw = wh.read("golden.crosswalk")
    return {frozenset(g) for g in cw.group_by("golden_id").agg("record_id")["record_id"].to_list()}


def test_large_mode_publishes_the_in_memory_partition_and_keeps_decisions(tmp_path, monkeypatch, shared_demo_run):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    in_memory = shared_demo_run(150, 3).copy(tmp_path, "memory")  # the session's in-memory run
    sources, small = in_memory.sources, in_memory.summary
    assert small.published, small.render()
    assert Warehouse(in_memory.warehouse).read("matching.run_mode")["mode"][0] != "large"
    monkeypatch.setenv("CRM_GOLDEN_LARGE_RECORDS", "50")  # 150 people give ~250 records: above it
    large = run_pipeline(sources=sources, warehouse=tmp_path / "large.duckdb")
    assert large.published, large.render()
    wh = Warehouse(tmp_path / "large.duckdb")
    assert wh.read("matching.run_mode")["mode"][0] == "large"
    assert partition(wh) == partition(Warehouse(tmp_path / "memory.duckdb"))
    assert wh.query("select count(*) as n from matching.scored_pairs")["n"][0] > 0

    # a steward splits a merged pair: the next large run obeys
    cw = wh.read("golden.crosswalk")
    merged = cw.group_by("golden_id").agg("record_id").filter(pl.col("record_id").list.len() == 2)
    a, b = sorted(merged["record_id"][0])
    decide(wh, "reject", a, b, note="not the same person")
    again = run_pipeline(sources=sources, warehouse=tmp_path / "large.duckdb")
    assert again.published, again.render()
    ids = Warehouse(tmp_path / "large.duckdb").read("golden.crosswalk").filter(pl.col("record_id").is_in([a, b]))
    assert ids["golden_id"].n_unique() == 2
    assert os.environ["CRM_GOLDEN_LARGE_RECORDS"] == "50"
