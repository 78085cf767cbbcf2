"""load_all over a generated dataset folder: every source runs, one failure does not stop the others."""

from __future__ import annotations

import duckdb

from connectors import load_all, make_pipeline

from .conftest import truth_counts


def test_load_all_reports_each_source(synth_2k, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    report = load_all(synth_2k, warehouse, pipelines_dir=tmp_path / "dlt", include_dirty=True)
    counts = truth_counts(synth_2k)
    assert report["erp"]["ok"] and report["erp"]["rows"]["customers"] == counts["erp"]
    assert report["erp"]["rows"]["customers_dirty"] > counts["erp"]
    assert report["erp"]["rows"]["customers_keys"] == counts["erp"]
    assert report["sheets"] == {
        "ok": True,
        "rows": {"contacts": counts["trade_show_leads"] + counts["sales_contacts"] + counts["legacy_export"], "file_inventory": 3},
        "error": None,
    }
    # --bad-rows cut one shop page: the shop fails with a named cause, the others are loaded
    assert not report["shop"]["ok"] and report["shop"]["error"].startswith("ShopResponseError")
    assert "customers.json" in report["shop"]["error"]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        schemas = {s for (s,) in con.execute("select distinct table_schema from information_schema.tables").fetchall()}
    assert {"raw_erp", "raw_sheets"} <= schemas


def test_load_all_names_missing_inputs(tmp_path):
    report = load_all(tmp_path / "nothing", tmp_path / "w.duckdb", pipelines_dir=tmp_path / "dlt")
    assert not any(r["ok"] for r in report.values())
    assert "erp.sqlite" in report["erp"]["error"] and "sheets" in report["sheets"]["error"]
    assert "_index.json" in report["shop"]["error"]


def test_make_pipeline_keeps_state_in_the_given_folder(tmp_path):
    pipeline = make_pipeline("erp", tmp_path / "w.duckdb", pipelines_dir=tmp_path / "state")
    assert pipeline.pipeline_name == "crm_golden_erp" and pipeline.dataset_name == "raw_erp"
    assert str(pipeline.working_dir).startswith(str(tmp_path / "state"))
