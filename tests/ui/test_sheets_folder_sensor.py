"""The sheets-folder sensor, evaluated tick by tick on a real folder with real CSV/XLSX files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import pytest
from openpyxl import Workbook

from pipelines.build import JOB_NAME, build_definitions
from pipelines.resources import SourcesResource
from pipelines.sensors import sheets_folder_sensor


def _tick(sources: Path, cursor: str | None = None, **resource) -> dg.SensorExecutionData:
    context = dg.build_sensor_context(
        cursor=cursor, resources={"sources": SourcesResource(directory=str(sources), **resource)})
    return sheets_folder_sensor.evaluate_tick(context)


def _write_csv(path: Path, rows: int) -> None:
    lines = ["full_name;email"] + [f"Person {i};p{i}@example.com" for i in range(rows)]
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8-sig")


def _write_xlsx(path: Path) -> None:
    wb = Workbook()
    wb.active.append(["Name", "E-mail"])
    wb.active.append(["Anna Schmidt", "anna@example.com"])
    wb.save(path)


@pytest.fixture
def sources(tmp_path) -> Path:
    (tmp_path / "src" / "sheets").mkdir(parents=True)
    return tmp_path / "src"


def test_is_stopped_by_default_and_targets_the_job():
    assert sheets_folder_sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert sheets_folder_sensor.job_name == JOB_NAME
    assert 30 <= sheets_folder_sensor.minimum_interval_seconds <= 300


def test_missing_folder_is_a_skip_naming_it(tmp_path):
    data = _tick(tmp_path / "nowhere")
    assert not data.run_requests
    assert "does not exist" in data.skip_message and "nowhere" in data.skip_message


def test_empty_folder_skips(sources):
    data = _tick(sources)
    assert not data.run_requests
    assert "no new or changed" in data.skip_message


def test_new_same_modified_new_again(sources):
    sheets = sources / "sheets"
    _write_csv(sheets / "sales_contacts.csv", 3)

    first = _tick(sources)
    assert [r.run_key for r in first.run_requests] and first.skip_message is None
    (request,) = first.run_requests
    assert request.tags["crm_golden/changed_sheets"] == "sales_contacts.csv"
    assert request.run_key.startswith("sheets-")
    cursor = json.loads(first.cursor)
    assert set(cursor) == {"sales_contacts.csv"}
    assert cursor["sales_contacts.csv"][1] == (sheets / "sales_contacts.csv").stat().st_size

    again = _tick(sources, first.cursor)
    assert not again.run_requests and "no new or changed" in again.skip_message

    _write_csv(sheets / "sales_contacts.csv", 5)  # grows: size and mtime move
    modified = _tick(sources, again.cursor or first.cursor)
    (request2,) = modified.run_requests
    assert request2.run_key != request.run_key
    assert request2.tags["crm_golden/changed_sheets"] == "sales_contacts.csv"

    _write_xlsx(sheets / "trade_show_leads.xlsx")
    added = _tick(sources, modified.cursor)
    (request3,) = added.run_requests
    assert request3.tags["crm_golden/changed_sheets"] == "trade_show_leads.xlsx"
    assert set(json.loads(added.cursor)) == {"sales_contacts.csv", "trade_show_leads.xlsx"}
    assert len({request.run_key, request2.run_key, request3.run_key}) == 3


def test_same_size_touch_counts_as_modified(sources):
    path = sources / "sheets" / "sales_contacts.csv"
    _write_csv(path, 2)
    first = _tick(sources)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    second = _tick(sources, first.cursor)
    assert len(second.run_requests) == 1
    assert second.run_requests[0].run_key != first.run_requests[0].run_key


def test_same_state_gives_same_run_key(sources):
    """Two evaluations that see the same change agree on the key, so Dagster dedupes the run."""
    _write_csv(sources / "sheets" / "a.csv", 2)
    assert _tick(sources).run_requests[0].run_key == _tick(sources).run_requests[0].run_key


def test_ignores_lock_hidden_and_other_files(sources):
    sheets = sources / "sheets"
    (sheets / "~$leads.xlsx").write_bytes(b"lock")
    (sheets / ".hidden.csv").write_text("x\n")
    (sheets / "notes.pdf").write_bytes(b"%PDF")
    (sheets / "sub").mkdir()
    _write_csv(sheets / "sub" / "nested.csv", 1)
    data = _tick(sources)
    assert not data.run_requests


def test_deleted_file_updates_cursor_without_a_run(sources):
    sheets = sources / "sheets"
    _write_csv(sheets / "a.csv", 1)
    _write_csv(sheets / "b.csv", 1)
    first = _tick(sources)
    assert first.run_requests[0].tags["crm_golden/changed_sheets"] == "a.csv, b.csv"
    (sheets / "b.csv").unlink()
    second = _tick(sources, first.cursor)
    assert not second.run_requests
    assert set(json.loads(second.cursor)) == {"a.csv"}


def test_unreadable_cursor_treats_files_as_new(sources):
    _write_csv(sources / "sheets" / "a.csv", 1)
    assert len(_tick(sources, "not json").run_requests) == 1


def test_the_files_source_of_a_sources_file_and_remote_location(tmp_path, sources):
    other = tmp_path / "elsewhere"
    other.mkdir()
    _write_csv(other / "x.csv", 1)

    def config(path: str) -> str:
        file = tmp_path / f"sources_{abs(hash(path))}.yaml"
        file.write_text(f"sources:\n  - name: leads\n    kind: files\n    path: '{path}'\n")
        return str(file)

    assert len(_tick(sources, config_path=config(str(other / "*.csv"))).run_requests) == 1
    remote = _tick(sources, config_path=config("s3://bucket/crm/*.csv"))
    assert not remote.run_requests and "not a local folder" in remote.skip_message


def test_registered_and_follows_crm_golden_sources(sources, monkeypatch):
    """Through the project's definitions: the default sources resource reads CRM_GOLDEN_SOURCES."""
    monkeypatch.setenv("CRM_GOLDEN_SOURCES", str(sources))
    _write_csv(sources / "sheets" / "sales_contacts.csv", 2)
    defs = build_definitions()
    sensor = defs.resolve_sensor_def("sheets_folder_sensor")
    with dg.build_sensor_context(resources=dict(defs.resources)) as context:  # some resources tear down
        data = sensor.evaluate_tick(context)
    assert len(data.run_requests) == 1
    assert defs.resolve_job_def(sensor.job_name).name == JOB_NAME
