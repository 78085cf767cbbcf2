"""Where the project keeps its files: everything under one data folder, never the home directory.

Relative defaults resolve against the working directory, so a checkout run from its root keeps
its warehouse in ``data/``. Each can be moved with an environment variable.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "CRM_GOLDEN_DATA"
WAREHOUSE_ENV = "CRM_GOLDEN_WAREHOUSE"
SOURCES_ENV = "CRM_GOLDEN_SOURCES"


def data_dir() -> Path:
    """The project's data folder (``$CRM_GOLDEN_DATA`` or ``./data``)."""
    return Path(os.environ.get(DATA_DIR_ENV, "data")).absolute()


def default_warehouse() -> Path:
    """The embedded DuckDB warehouse (``$CRM_GOLDEN_WAREHOUSE`` or ``data/warehouse.duckdb``)."""
    return Path(os.environ.get(WAREHOUSE_ENV) or data_dir() / "warehouse.duckdb").absolute()


def default_sources() -> Path:
    """The folder of source files (``$CRM_GOLDEN_SOURCES`` or ``data/demo_sources``)."""
    return Path(os.environ.get(SOURCES_ENV) or data_dir() / "demo_sources").absolute()


def pipelines_dir(warehouse: str | Path) -> Path:
    """dlt pipeline state, kept beside the warehouse it loads into."""
    w = Path(warehouse)
    return w.parent / f"{w.stem}_dlt_pipelines"


def dagster_home() -> Path:
    """The Dagster instance folder (``$DAGSTER_HOME`` or ``data/dagster_home``), created on demand
    with telemetry off."""
    home = Path(os.environ.get("DAGSTER_HOME") or data_dir() / "dagster_home").absolute()
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    if not cfg.exists():
        cfg.write_text("telemetry:\n  enabled: false\n")
    return home
