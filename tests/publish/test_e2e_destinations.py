"""The whole pipeline published to a real PostgreSQL (through the CLI) and to Parquet."""

from __future__ import annotations

import os
import subprocess
import sys

import polars as pl
import psycopg
import pytest

from pipelines.demo import generate
from pipelines.publish import read_manifest
from pipelines.runner import run_pipeline

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_sources(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "sources"
    generate(out, entities=120, seed=5)
    return out


def test_cli_run_publishes_to_postgres_with_masked_and_full_bi_roles(demo_sources, pg_url, pg_server, tmp_path):
    env = {**os.environ, "DESTINATION__POSTGRES__CREDENTIALS": pg_url,
           "DAGSTER_HOME": str(tmp_path / "dagster_home"), "RUNTIME__DLTHUB_TELEMETRY": "false"}
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", "--sources", str(demo_sources),
         "--warehouse", str(tmp_path / "wh.duckdb"), "--destination", "postgres"],
        env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "also to postgres" in proc.stdout
    assert pg_server.password not in proc.stdout + proc.stderr

    with psycopg.connect(pg_url, autocommit=True) as con:
        n_golden = con.execute("select count(*) from golden.customers").fetchone()[0]
        n_360 = con.execute("select count(*) from golden.customer_360").fetchone()[0]
        n_staged = con.execute("select count(*) from staging.customers").fetchone()[0]
        assert n_golden == n_360 > 0 and n_staged > n_golden
        con.execute("alter role bi_reader login password 'bi-reader-test'")
        con.execute("alter role bi_full login password 'bi-full-test'")
    creds = f"{pg_server.user}:{pg_server.password}@"
    full = pg_url.replace(creds, "bi_full:bi-full-test@")
    with psycopg.connect(full, autocommit=True) as con:  # analysts who need contact data
        assert con.execute("select count(*) from golden.customers").fetchone()[0] == n_golden
        assert con.execute("select count(*) from golden.customer_360 where rfm_segment is not null"
                           ).fetchone()[0] > 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            con.execute("select count(*) from raw_erp.customers")
    bi = pg_url.replace(creds, "bi_reader:bi-reader-test@")
    with psycopg.connect(bi, autocommit=True) as con:  # everyone else: masked tables only
        assert con.execute("select count(*) from golden.customers_masked").fetchone()[0] == n_golden
        assert con.execute("select count(*) from golden.customer_360_masked").fetchone()[0] == n_golden
        for table in ("golden.customers", "raw_erp.customers", "staging.customers", "quality.quarantine"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                con.execute(f"select count(*) from {table}")
    if pg_server.psql:
        out = subprocess.run([pg_server.psql, bi, "-At", "-c", "select count(*) from golden.customer_360_masked"],
                             capture_output=True, text=True, timeout=60, check=False)
        assert out.stdout.strip() == str(n_golden), out.stderr
        denied = subprocess.run([pg_server.psql, bi, "-At", "-c", "select count(*) from raw_erp.customers"],
                                capture_output=True, text=True, timeout=60, check=False)
        assert denied.returncode != 0 and "permission denied" in denied.stderr


def test_run_publishes_to_parquet(demo_sources, tmp_path):
    os.environ["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
    out = tmp_path / "lake"
    summary = run_pipeline(sources=demo_sources, warehouse=tmp_path / "wh.duckdb", destination="parquet",
                           parquet_dir=str(out))
    assert summary.success and summary.published
    golden = pl.read_parquet(out / "golden" / "customers.parquet")
    assert golden.height == summary.golden_customers
    assert golden["golden_id"].is_unique().all()
    manifest = read_manifest(out)
    assert "golden.customer_360" in str(manifest)
