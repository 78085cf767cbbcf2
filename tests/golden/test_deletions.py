"""Records deleted at the source, across real pipeline runs on the demo data.

Run 1 loads the demo sources. Between run 1 and run 2 an ERP customer that is a golden customer on
its own, an ERP customer that shares a golden customer with one other record, and the last row of
the sales sheet are deleted from the SQLite file and the CSV file. Run 2 must drop exactly those
records, retire the lone customer's golden id (``no_sources``), keep every other golden id, record
the deletions and reconcile. Run 3 on unchanged sources must change nothing.
"""

from __future__ import annotations

import os
import sqlite3

import polars as pl
import pytest

from pipelines.runner import run_pipeline
from pipelines.warehouse import Warehouse

pytestmark = pytest.mark.slow

RECONCILE = [f"{system}_rows_reconcile" for system in ("erp", "shop", "sheets")]


def run(sources, warehouse):
    return check_run(run_pipeline(sources=sources, warehouse=warehouse))


def check_run(summary):
    assert summary.success and summary.published, summary.render()
    failed = [name for name, passed, sev in summary.checks if not passed and sev == "ERROR"]
    assert not failed, failed
    return summary


def check_events(run_id: str) -> dict[str, object]:
    """``{check_name: evaluation}`` of the reconciliation checks of one run."""
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        records = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        return {r.dagster_event.event_specific_data.check_name: r.dagster_event.event_specific_data
                for r in records if r.dagster_event.event_specific_data.check_name in RECONCILE}


def staging_meta(run_id: str) -> dict[str, object]:
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        for rec in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
            mat = rec.dagster_event.event_specific_data.materialization
            if mat.asset_key.to_user_string() == "staging/customers":
                return {k: v.value for k, v in mat.metadata.items()}
    raise AssertionError("staging/customers was not materialised")


def crosswalk(wh: Warehouse) -> pl.DataFrame:
    return wh.read("golden.crosswalk").select("record_id", "golden_id").sort("record_id")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, shared_demo_run):
    tmp = tmp_path_factory.mktemp("deletions")
    os.environ["DAGSTER_HOME"] = str(tmp / "dagster_home")
    first = shared_demo_run(150, 3)  # run 1: a copy of the session's run on these sources
    check_run(first.summary)
    copy = first.copy(tmp, sources="src")
    src, wh = copy.sources, Warehouse(copy.warehouse)
    before = crosswalk(wh)
    sizes = before.group_by("golden_id").agg(pl.col("record_id"), pl.len().alias("n"))
    erp = pl.col("record_id").list.first().str.starts_with("erp:")
    lone = sizes.filter((pl.col("n") == 1) & erp).sort("golden_id")["record_id"][0][0]
    pair = (sizes.filter(pl.col("n") == 2).explode("record_id")
            .filter(pl.col("record_id").str.starts_with("erp:")).sort("golden_id"))
    paired = pair["record_id"][0]
    with sqlite3.connect(src / "erp.sqlite") as con:
        for record in (lone, paired):
            assert con.execute("delete from customers where customer_no = ?", [record.removeprefix("erp:")]).rowcount == 1
    sheet = src / "sheets" / "sales_contacts.csv"
    lines = sheet.read_bytes().split(b"\r\n")
    assert lines[-1] == b""
    last_row = len(lines) - 2  # data rows after the header
    sheet.write_bytes(b"\r\n".join(lines[:-2] + [b""]))
    later = sheet.stat().st_mtime + 5
    os.utime(sheet, (later, later))
    second = run(src, wh.path)
    after = crosswalk(wh)
    snapshot = {t: wh.read(t) for t in ("golden.customers", "golden.crosswalk", "golden.id_history",
                                         "quality.source_deletions")}
    third = run(src, wh.path)
    deleted = {lone, paired, f"sales_contacts:{last_row}"}
    return {"wh": wh, "src": src, "before": before, "after": after, "lone": lone, "paired": paired, "deleted": deleted,
            "second": second, "third": third, "snapshot": snapshot}


def test_deleted_records_leave_the_crosswalk_and_others_keep_their_ids(runs):
    before, after, deleted = runs["before"], runs["after"], runs["deleted"]
    assert deleted <= set(before["record_id"])
    assert not deleted & set(after["record_id"])
    assert set(after["record_id"]) == set(before["record_id"]) - deleted
    kept = before.filter(~pl.col("record_id").is_in(list(deleted))).join(after, on="record_id", suffix="_after")
    assert kept.height == after.height
    assert (kept["golden_id"] == kept["golden_id_after"]).all()


def test_golden_customer_with_no_source_left_is_retired(runs):
    wh, before = runs["wh"], runs["before"]
    gid = dict(before.iter_rows())
    lone_id, paired_id = gid[runs["lone"]], gid[runs["paired"]]
    history = wh.read("golden.id_history")
    assert history.filter(pl.col("retired_id") == lone_id).select("reason", "surviving_id").rows() == [
        ("no_sources", None)]
    customers = set(wh.read("golden.customers")["golden_id"])
    assert lone_id not in customers
    # the other record of the pair keeps the golden customer alive
    assert paired_id in customers and paired_id not in set(history["retired_id"])


def test_deletions_are_recorded_and_reconciled(runs):
    wh, second = runs["wh"], runs["second"]
    ledger = wh.read("quality.source_deletions")
    got = {(s, f"{src}:{k}", r) for s, src, k, r in
           ledger.select("source_system", "source", "source_record_id", "reason").iter_rows()}
    sheet = next(r for r in runs["deleted"] if r.startswith("sales_contacts:"))
    assert got == {("erp", runs["lone"], "key_not_in_source"), ("erp", runs["paired"], "key_not_in_source"),
                   ("sheets", sheet, "row_beyond_file_end")}
    assert set(ledger["run_id"]) == {second.run_id}
    checks = check_events(second.run_id)
    assert set(checks) == set(RECONCILE)
    for name, check in checks.items():
        assert check.passed, (name, check.description)
        meta = {k: v.value for k, v in check.metadata.items()}
        expected = {"erp_rows_reconcile": 2, "sheets_rows_reconcile": 1}.get(name, 0)
        assert meta["rows_deleted_at_source"] == expected, name
        assert meta["rows_read"] == meta["rows_in_crosswalk"] + meta["rows_quarantined"] + expected
    # the raw rows are still loaded: nothing was dropped silently
    assert wh.query("select count(*) as n from raw_erp.customers where customer_no = ?",
                    [runs["lone"].removeprefix("erp:")])["n"][0] == 1
    meta = staging_meta(second.run_id)
    assert meta["deleted_at_source"] == 3 and meta["deleted_at_source_this_run"] == 3
    assert meta["deleted_at_source_by_system"] == {"erp": 2, "sheets": 1}
    assert second.deleted_at_source == 3
    assert "deleted at the source           3" in second.render()


def test_rerun_without_changes_changes_nothing(runs):
    wh, snapshot, third = runs["wh"], runs["snapshot"], runs["third"]
    for table, frame in snapshot.items():
        now = wh.read(table)
        assert now.sort(now.columns).equals(frame.sort(frame.columns)), table
    meta = staging_meta(third.run_id)
    assert meta["deleted_at_source"] == 3 and meta["deleted_at_source_this_run"] == 0
    assert all(c.passed for c in check_events(third.run_id).values())


def test_reconciliation_reads_the_same_keys_from_fewer_columns(runs):
    """The check reads each raw row's key and e-mail alone; keys, deletions and mapping errors are those of
    the whole read staging does."""
    from pipelines.assets.staging import read_raw_customers
    from pipelines.resources import SourcesResource

    config = SourcesResource(directory=str(runs["src"])).config()
    whole, keys = read_raw_customers(runs["wh"], config), read_raw_customers(runs["wh"], config, keys_only=True)
    assert keys.keys().equals(whole.keys()) and keys.keys().height > 0
    assert keys.deleted.equals(whole.deleted) and keys.deleted.height == 3
    assert (keys.failed, keys.missing) == (whole.failed, whole.missing) == ({}, [])
    assert all(df.width == 3 for df in keys.mapped.values())   # source, source_record_id, email
