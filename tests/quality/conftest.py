"""Fixtures for the data-quality gate: isolated dlt/Dagster environments and run event readers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True, scope="module")
def _isolated_env(tmp_path_factory) -> Iterator[Path]:
    """No telemetry, no dlt config or ERP credentials from outside, Dagster runs in tmp."""
    root = tmp_path_factory.mktemp("quality_env")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
        mp.setenv("DLT_PROJECT_DIR", str(root / "dlt_project"))
        mp.setenv("DLT_DATA_DIR", str(root / "dlt_data"))
        mp.setenv("DAGSTER_HOME", str(root / "dagster_home"))
        for name in ("SOURCES__ERP__CREDENTIALS", "SOURCES__ERP__INCLUDE_DIRTY", "SOURCES__SHOP__ON_INVALID_PAGE",
                     "CRM_GOLDEN_THRESHOLDS"):
            mp.delenv(name, raising=False)
        yield root


@dataclass
class RunEvents:
    """Check evaluations and materialisation metadata of one Dagster run."""

    checks: dict[tuple[str, str], Any] = field(default_factory=dict)
    materializations: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps_succeeded: set[str] = field(default_factory=set)

    def check(self, asset: str, name: str) -> Any:
        return self.checks[(asset, name)]

    def meta(self, asset: str) -> dict[str, Any]:
        return self.materializations[asset]


def run_events(run_id: str, instance: Any = None) -> RunEvents:
    """Read the run's events from the Dagster instance (``$DAGSTER_HOME`` unless one is given)."""
    import dagster as dg

    def collect(inst: Any) -> RunEvents:
        out = RunEvents()
        for rec in inst.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
            ev = rec.dagster_event.event_specific_data
            out.checks[(ev.asset_key.to_user_string(), ev.check_name)] = ev
        for rec in inst.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
            mat = rec.dagster_event.event_specific_data.materialization
            out.materializations[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
        for rec in inst.all_logs(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS):
            out.steps_succeeded.add(rec.dagster_event.step_key)
        return out

    if instance is not None:
        return collect(instance)
    with dg.DagsterInstance.get() as inst:
        return collect(inst)
