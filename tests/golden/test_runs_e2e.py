"""Golden ids across real pipeline runs: incremental batch vs. full rebuild, steward decisions (a run
repeated on unchanged sources is test_deletions.py::test_rerun_without_changes_changes_nothing)."""

from __future__ import annotations

import csv
import os
import shutil
import sqlite3

import polars as pl
import pytest

from pipelines.demo import generate
from pipelines.review import decide
from pipelines.runner import run_pipeline
from pipelines.warehouse import Warehouse

pytestmark = pytest.mark.slow


def run(sources, warehouse, **kw):
    check_run(run_pipeline(sources=sources, warehouse=warehouse, **kw))
    return Warehouse(warehouse)


def check_run(summary):
    assert summary.success and summary.published, summary.render()
    failed = [name for name, passed, sev in summary.checks if not passed and sev == "ERROR"]
    assert not failed, failed  # includes golden/customers:golden_ids_are_stable
    assert any(name.endswith(":golden_ids_are_stable") for name, _, _ in summary.checks)
    assert any(name.endswith(":review_queue_is_not_growing_unbounded") for name, _, _ in summary.checks)


def ids(wh: Warehouse) -> pl.DataFrame:
    return wh.read("golden.crosswalk").select("record_id", "golden_id").sort("record_id")


@pytest.fixture(scope="module")
def batches(tmp_path_factory, shared_demo_run):
    """Batch A (demo sources, run once: a copy of the session's run) and batch B = A + new sales rows
    + a changed ERP customer."""
    tmp = tmp_path_factory.mktemp("runs")
    os.environ["DAGSTER_HOME"] = str(tmp / "dagster_home")
    first = shared_demo_run(150, 3)
    check_run(first.summary)
    a, extra, b = first.copy(tmp, "base", sources="a").sources, tmp / "extra", tmp / "b"
    generate(extra, entities=60, seed=4)
    shutil.copytree(a, b)
    with open(extra / "sheets" / "sales_contacts.csv", encoding="utf-8-sig", newline="") as fh:
        new_rows = list(csv.reader(fh, delimiter=";"))[1:]
    with open(b / "sheets" / "sales_contacts.csv", "a", encoding="utf-8", newline="") as fh:
        csv.writer(fh, delimiter=";", lineterminator="\r\n").writerows(new_rows)
    with sqlite3.connect(b / "erp.sqlite") as con:  # one ERP customer moves
        con.execute("update customers set street = '1 Moved Street', updated_at = '2026-01-01 00:00:00' "
                    "where customer_no = (select min(customer_no) from customers)")
    return tmp, a, b


def copy_base(tmp, name):
    """A copy of the warehouse (and dlt state) after one run on batch A."""
    shutil.copy(tmp / "base.duckdb", tmp / f"{name}.duckdb")
    shutil.copytree(tmp / "base_dlt_pipelines", tmp / f"{name}_dlt_pipelines")
    return tmp / f"{name}.duckdb"


def test_incremental_equals_full_rebuild_and_keeps_unaffected_ids(batches):
    tmp, _, b = batches
    before = ids(Warehouse(tmp / "base.duckdb"))
    inc = run(b, copy_base(tmp, "inc"))
    full = run(b, copy_base(tmp, "full"), full_rebuild=True)
    mode = inc.read("matching.run_mode")["mode"][0]
    assert mode == "incremental"
    assert full.read("matching.run_mode")["mode"][0] == "full"
    assert ids(inc).equals(ids(full))
    cols = ["golden_id", "given_name", "surname", "email", "phone", "street", "city"]
    assert inc.read("golden.customers").select(cols).sort("golden_id").equals(
        full.read("golden.customers").select(cols).sort("golden_id"))
    after = ids(inc)
    assert after.height > before.height  # the new sales rows are in
    # every previous id either survives or is explained in id_history
    kept = set(after["golden_id"])
    retired = set(before["golden_id"]) - kept
    history = inc.read("golden.id_history")
    assert retired == set(history["retired_id"])
    # records whose golden customer gained no new record keep their id
    unchanged = before.join(after, on="record_id", suffix="_after")
    assert (unchanged["golden_id"] == unchanged["golden_id_after"]).mean() > 0.97
    moved = inc.read("golden.customers_history").filter(pl.col("street") == "1 Moved Street")
    assert moved.height == 1 and moved["is_current"][0]


def test_steward_reject_splits_and_survives_full_rebuild(batches):
    tmp, a, _ = batches
    w = copy_base(tmp, "steward")
    wh = Warehouse(w)
    cw = wh.read("golden.crosswalk")
    multi = cw.group_by("golden_id").agg(pl.col("record_id").sort()).filter(pl.col("record_id").list.len() == 2)
    pair = multi["record_id"][0].to_list()
    other = multi["record_id"][1].to_list()
    decide(wh, "reject", pair[0], pair[1], note="different people")
    # accept two singletons: they merge and stay merged (decided together with the reject: one
    # incremental run and one full rebuild carry both)
    singles = cw.group_by("golden_id").agg(pl.col("record_id").first(), pl.len()).filter(pl.col("len") == 1)
    x, y = sorted(singles["record_id"].head(2).to_list())
    decide(wh, "accept", x, y)
    run(a, w)
    got = dict(ids(wh).iter_rows())
    assert got[pair[0]] != got[pair[1]]
    assert got[x] == got[y]
    run(a, w, full_rebuild=True, retrain=True)
    got = dict(ids(wh).iter_rows())
    assert got[pair[0]] != got[pair[1]]
    assert got[other[0]] == got[other[1]]  # untouched pair still merged
    assert got[x] == got[y]
