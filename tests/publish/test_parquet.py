"""Parquet publishing: round trip, descriptions in the file metadata, all-or-nothing replace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from pipelines.publish import PublishError, publish, publish_parquet, read_manifest
from pipelines.schema_docs import COLUMN_DOCS, TABLE_DOCS

REPO = Path(__file__).resolve().parents[2]


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_round_trip_layout_and_manifest(tmp_path, sample_tables):
    out = tmp_path / "lake"
    summary = publish_parquet(sample_tables, out)
    for table, df in sample_tables.items():
        schema, name = table.split(".")
        assert_frame_equal(pl.read_parquet(out / schema / f"{name}.parquet"), df)
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest == read_manifest(out)
    entry = manifest["tables"]["golden.customers"]
    assert entry["path"] == "golden/customers.parquet"
    assert entry["rows"] == 3
    assert entry["columns"]["first_seen"] == "Datetime(time_unit='us', time_zone='UTC')"
    assert summary["tables"]["golden.customers"]["sha256"] == entry["sha256"]
    assert sorted(manifest["tables"]) == sorted(sample_tables)
    assert not [p for p in out.rglob("*.tmp")]


def test_descriptions_in_parquet_metadata(tmp_path, sample_tables):
    publish_parquet(sample_tables, tmp_path)
    schema = pq.read_schema(tmp_path / "golden" / "customer_360.parquet")
    for field in schema:
        assert field.metadata[b"description"].decode() == COLUMN_DOCS["golden.customer_360"][field.name]
    assert schema.metadata[b"description"].decode() == TABLE_DOCS["golden.customer_360"]
    raw = pq.read_schema(tmp_path / "raw_erp" / "customers.parquet")
    assert all(not f.metadata for f in raw)


@pytest.mark.parametrize("stage", ["written:golden.customers", "written:golden.customer_360", "before_swap"])
def test_failure_keeps_previous_files(tmp_path, sample_tables, sample_tables_v2, stage):
    publish_parquet(sample_tables, tmp_path)
    before = _files(tmp_path)

    def crash(s):
        if s == stage:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        publish_parquet(sample_tables_v2, tmp_path, hook=crash)
    assert _files(tmp_path) == before


def test_republish_replaces_and_keeps_other_tables(tmp_path, sample_tables, sample_tables_v2):
    publish_parquet(sample_tables, tmp_path)
    old_raw = (tmp_path / "raw_erp" / "customers.parquet").read_bytes()
    publish({"golden.customers": sample_tables_v2["golden.customers"]}, destination="parquet", out_dir=tmp_path)
    assert pl.read_parquet(tmp_path / "golden" / "customers.parquet")["city"].to_list() == ["深圳", "LONDON"]
    assert (tmp_path / "raw_erp" / "customers.parquet").read_bytes() == old_raw
    manifest = read_manifest(tmp_path)
    assert manifest["tables"]["golden.customers"]["rows"] == 2
    assert manifest["tables"]["raw_erp.customers"]["rows"] == 1


def test_bad_input_is_named(tmp_path):
    with pytest.raises(PublishError, match="schema.table"):
        publish_parquet({"golden/../../etc.x": pl.DataFrame({"a": [1]})}, tmp_path)
    with pytest.raises(PublishError, match="golden.t: expected a polars DataFrame"):
        publish_parquet({"golden.t": {"a": [1]}}, tmp_path)
    (tmp_path / "_manifest.json").write_text("{not json")
    with pytest.raises(PublishError, match="_manifest.json: not valid JSON"):
        read_manifest(tmp_path)


_KILLED_PUBLISHER = """
import sys, time
import polars as pl
from pipelines.publish import publish_parquet

def hook(stage):
    if stage == "before_swap":
        print("READY", flush=True)
        time.sleep(60)

frame = pl.DataFrame({"golden_id": ["GC-9"], "city": ["Nowhere"]})
publish_parquet({"golden.customers": frame, "golden.crosswalk": frame}, sys.argv[1], hook=hook)
"""


def test_killed_publisher_leaves_previous_files(tmp_path, sample_tables, sample_tables_v2):
    publish_parquet(sample_tables, tmp_path)
    before = _files(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_PUBLISHER, str(tmp_path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "READY", proc.stderr.read()
    finally:
        proc.kill()
        proc.wait(timeout=30)
    visible = {k: v for k, v in _files(tmp_path).items() if not k.split("/")[-1].startswith(".")}
    assert visible == before
    assert len(_files(tmp_path)) == len(before) + 2  # two orphaned temp files
    publish_parquet({"golden.customers": sample_tables_v2["golden.customers"],
                     "golden.crosswalk": sample_tables_v2["golden.crosswalk"]}, tmp_path)
    assert not list(tmp_path.rglob("*.tmp"))
    assert pl.read_parquet(tmp_path / "golden" / "customers.parquet").height == 2
