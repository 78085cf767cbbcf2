"""Fixtures for the privacy tests: one real pipeline run over small demo sources (through the
CLI, with its own Dagster instance), copies of its warehouse per test, and the throwaway
PostgreSQL server of the publish tests."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).with_name("crm-golden")

_pg = importlib.util.spec_from_file_location("_privacy_pg_fixtures", REPO / "tests" / "publish" / "conftest.py")
_pg_module = importlib.util.module_from_spec(_pg)
sys.modules[_pg.name] = _pg_module
_pg.loader.exec_module(_pg_module)
pg_server = _pg_module.pg_server
pg_url = _pg_module.pg_url


@dataclass(frozen=True)
class DemoRun:
    """A finished ``crm-golden run``: its inputs, warehouse, Dagster home and console output."""

    sources: Path
    warehouse: Path
    dagster_home: Path
    stdout: str
    stderr: str

    @property
    def pipelines_dir(self) -> Path:
        return self.warehouse.parent / f"{self.warehouse.stem}_dlt_pipelines"


def cli_env(base: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "DAGSTER_HOME": str(base / "dagster_home"), "CRM_GOLDEN_DATA": str(base / "data"),
           "RUNTIME__DLTHUB_TELEMETRY": "false", "PYTHONWARNINGS": "ignore"}
    env.pop("CRM_GOLDEN_WAREHOUSE", None)
    env.pop("CRM_GOLDEN_HASH_KEY", None)
    return {**env, **extra}


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> DemoRun:
    """Demo sources (40 people, seed 3) loaded end to end by ``crm-golden run``."""
    from pipelines.demo import generate

    base = tmp_path_factory.mktemp("privacy_demo")
    sources = base / "sources"
    generate(sources, entities=40, seed=3)
    warehouse = base / "wh" / "warehouse.duckdb"
    (base / "dagster_home").mkdir()
    (base / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    cmd = [str(CLI), "run", "--sources", str(sources), "--warehouse", str(warehouse)]
    proc = subprocess.run(cmd, check=False, cwd=base, env=cli_env(base), capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise AssertionError(f"crm-golden run failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return DemoRun(sources, warehouse, base / "dagster_home", proc.stdout, proc.stderr)


@pytest.fixture
def wh_copy(demo_run, tmp_path):
    """A private copy of the demo warehouse and its dlt pipeline folder."""
    from pipelines.warehouse import Warehouse

    target = tmp_path / "wh" / "warehouse.duckdb"
    target.parent.mkdir()
    shutil.copy2(demo_run.warehouse, target)
    shutil.copytree(demo_run.pipelines_dir, target.parent / demo_run.pipelines_dir.name)
    return Warehouse(target)


@pytest.fixture(autouse=True)
def _no_configured_key(monkeypatch):
    """Tests choose their hashing key explicitly."""
    monkeypatch.delenv("CRM_GOLDEN_HASH_KEY", raising=False)
