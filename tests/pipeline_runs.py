"""Demo pipeline runs shared by the test session (fixture ``shared_demo_run`` in tests/conftest.py).

A full run costs seconds of fixed overhead whatever the data size, and several modules start from
the same kind of run. Each generated dataset is run once per session; every module gets its own
copy of the sources, the warehouse and its dlt state, so it may read, mutate or run again on its
copy as if it had made the first run itself.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.paths import pipelines_dir

#: variables that change what a run does; a shared run starts without any of them
RUN_ENV_PREFIXES = ("CRM_GOLDEN_", "SOURCES__", "DESTINATION__")


def clean_run_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default ``os.environ``) without the variables that change a run."""
    env = dict(os.environ if env is None else env)
    return {k: v for k, v in env.items() if not k.startswith(RUN_ENV_PREFIXES)}


@dataclass(frozen=True)
class DemoRun:
    """A finished, published ``run_pipeline`` over generated demo sources."""

    sources: Path
    warehouse: Path
    summary: object  # pipelines.runner.RunSummary

    def copy(self, folder: Path, name: str = "warehouse", *, sources: str = "sources") -> DemoRun:
        """Sources, warehouse (``<name>.duckdb``) and dlt state copied into ``folder``. Modification
        times are kept, so a later run on the copy reads what a run in place would read."""
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{name}.duckdb"
        shutil.copy2(self.warehouse, target)
        shutil.copytree(pipelines_dir(self.warehouse), pipelines_dir(target))
        copied_sources = folder / sources
        if not copied_sources.exists():
            shutil.copytree(self.sources, copied_sources)
        return DemoRun(copied_sources, target, self.summary)


def make_demo_run(base: Path, *, entities: int, seed: int) -> DemoRun:
    """Generate demo sources (``pipelines.demo.generate`` defaults otherwise) into ``base`` and run
    the whole pipeline on them in-process, with its own Dagster home and a clean environment."""
    from pipelines.demo import generate
    from pipelines.runner import run_pipeline

    sources, warehouse = base / "sources", base / "warehouse.duckdb"
    generate(sources, entities=entities, seed=seed)
    with pytest.MonkeyPatch.context() as mp:
        for name in os.environ:
            if name.startswith(RUN_ENV_PREFIXES):
                mp.delenv(name)
        mp.setenv("DAGSTER_HOME", str(base / "dagster_home"))
        mp.setenv("CRM_GOLDEN_DATA", str(base / "data"))
        summary = run_pipeline(sources=sources, warehouse=warehouse)
    assert summary.success and summary.published, summary.render()
    return DemoRun(sources, warehouse, summary)
