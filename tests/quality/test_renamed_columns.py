"""A source column renamed at the source stops that source, in one line naming it, and blocks the
publish; the last published tables stay as they were."""

from __future__ import annotations

import os
import shutil
import sqlite3

import pytest

from pipelines.runner import EXIT_NOT_PUBLISHED, run_pipeline
from pipelines.warehouse import Warehouse

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def published(tmp_path_factory, shared_demo_run):
    """A published demo run (a copy of the session's run)."""
    tmp = tmp_path_factory.mktemp("renamed")
    os.environ["DAGSTER_HOME"] = str(tmp / "dagster_home")
    first = shared_demo_run(150, 3)
    assert first.summary.published, first.summary.render()
    return tmp, first.copy(tmp, "wh").sources


@pytest.mark.parametrize(("old", "new"), [("email", "email_address"), ("updated_at", "last_change")])
def test_a_renamed_erp_column_fails_its_source_in_one_line_and_blocks_publishing(published, tmp_path, old, new):
    tmp, sources = published
    copy, warehouse = tmp_path / "sources", tmp_path / "wh.duckdb"
    shutil.copytree(sources, copy)
    shutil.copy(tmp / "wh.duckdb", warehouse)
    before = Warehouse(warehouse).read("golden.customers")
    con = sqlite3.connect(copy / "erp.sqlite")
    con.execute(f"alter table customers rename column {old} to {new}")
    con.commit()
    con.close()

    summary = run_pipeline(sources=copy, warehouse=warehouse)

    assert summary.failed_sources == ["erp"]
    line = summary.errors["source erp"]
    assert f"'{old}'" in line and "customers has no column" in line and "Traceback" not in line
    failed = {name for name, passed, _ in summary.checks if not passed}
    assert "staging/customers:erp_columns_are_mapped" in failed
    assert not summary.published and summary.exit_code == EXIT_NOT_PUBLISHED
    assert Warehouse(warehouse).read("golden.customers").equals(before)  # the last good tables stay
