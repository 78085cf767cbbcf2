"""Sensors: start the full flow when someone drops a new or changed spreadsheet into the sheets folder.

The cursor is a JSON object ``{file name: [mtime_ns, size]}`` of the CSV/XLSX files seen on the
last tick, so a file counts as changed when it is new or its modification time or size moved.
A deleted file only leaves the cursor: the sheets load is incremental and keeps its rows anyway.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dagster as dg

from connectors.sheets.settings import CSV_SUFFIXES, XLSX_SUFFIXES
from pipelines.job import JOB_NAME
from pipelines.resources import SourcesResource

__all__ = ["changed_sheets", "sheets_folder_sensor", "snapshot_sheets"]

SHEET_SUFFIXES = (*CSV_SUFFIXES, *XLSX_SUFFIXES)
Snapshot = dict[str, list[int]]


def snapshot_sheets(folder: Path) -> Snapshot:
    """``{name: [mtime_ns, size]}`` of the sheet files directly in ``folder`` (the loader's glob),
    without Excel lock files and hidden files, which the loader skips too."""
    if not folder.is_dir():
        return {}
    snapshot: Snapshot = {}
    for path in folder.iterdir():
        if path.name.startswith(("~$", ".")) or path.suffix.lower() not in SHEET_SUFFIXES:
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed between listing and stat
            continue
        if path.is_file():
            snapshot[path.name] = [stat.st_mtime_ns, stat.st_size]
    return dict(sorted(snapshot.items()))


def changed_sheets(previous: Snapshot, current: Snapshot) -> list[str]:
    """Names in ``current`` that are new or differ from ``previous``, sorted."""
    return sorted(name for name, state in current.items() if previous.get(name) != state)


def _read_cursor(cursor: str | None) -> Snapshot:
    if not cursor:
        return {}
    try:
        value = json.loads(cursor)
    except json.JSONDecodeError:
        return {}  # unreadable cursor: treat every file as new rather than never firing again
    return value if isinstance(value, dict) else {}


def _run_key(changed: list[str], current: Snapshot) -> str:
    """Same changed files in the same state -> same key, so Dagster never starts a duplicate run."""
    payload = json.dumps({name: current[name] for name in changed}, sort_keys=True)
    return "sheets-" + hashlib.sha256(payload.encode()).hexdigest()[:24]


@dg.sensor(
    job_name=JOB_NAME,
    name="sheets_folder_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Runs the full flow when a CSV/XLSX file in the sheets folder is added or changed "
                "(stopped by default: start it in the UI).",
)
def sheets_folder_sensor(context: dg.SensorEvaluationContext, sources: SourcesResource):
    """Compare the sheets folder with the cursor; request one run for everything that changed."""
    location = sources.sheets()
    if "://" in location:
        return dg.SkipReason(f"sheets location {location} is not a local folder: not watched")
    folder = Path(location)
    if not folder.is_dir():
        return dg.SkipReason(f"sheets folder {folder} does not exist")
    previous = _read_cursor(context.cursor)
    current = snapshot_sheets(folder)
    changed = changed_sheets(previous, current)
    if current != previous:
        context.update_cursor(json.dumps(current, sort_keys=True))
    if not changed:
        return dg.SkipReason(f"no new or changed CSV/XLSX files in {folder} ({len(current)} watched)")
    context.log.info(f"sheets folder {folder}: {len(changed)} new or changed file(s): {', '.join(changed)}")
    return dg.RunRequest(
        run_key=_run_key(changed, current),
        tags={"crm_golden/trigger": "sheets_folder_sensor",
              "crm_golden/changed_sheets": ", ".join(changed)[:200]},
    )
