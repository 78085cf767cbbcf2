"""Other processes on the warehouse: BI readers on the read copy, a tool holding the warehouse,
and two runs at once. Every reader and run here is a real separate process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main
from pipelines.demo_data import generate
from pipelines.warehouse import WarehouseBusy, lock_path, read_copy_path, run_lock

REPO = Path(__file__).resolve().parents[2]

READER = textwrap.dedent("""
    import sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "count":
            print(con.execute("select count(*) from golden.customers").fetchone()[0], flush=True)
""")

LOCKER = textwrap.dedent("""
    import sys, time
    from pipelines.warehouse import run_lock
    with run_lock(sys.argv[1], wait=0):
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
""")


class Reader:
    """A BI tool: another process with a read-only DuckDB connection open on ``path``."""

    def __init__(self, path: Path):
        self.proc = subprocess.Popen([sys.executable, "-c", READER, str(path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def count(self) -> int:
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def _env(tmp: Path) -> dict:
    return {**os.environ, "DAGSTER_HOME": str(tmp / "dagster_home"), "PYTHONPATH": str(REPO)}


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_warehouse_open_elsewhere_fails_fast_in_one_line(tmp_path, capsys):
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema golden; create table golden.customers as select 1 as n")
    (tmp_path / "sheets").mkdir()
    reader = Reader(warehouse)
    try:
        t0 = time.perf_counter()
        code = main(["run", "--sources", str(tmp_path), "--warehouse", str(warehouse)])
        seconds = time.perf_counter() - t0
    finally:
        reader.close()
    assert code == 4
    err = one_line_error(capsys)
    assert f"warehouse {warehouse} is open in another process (PID {reader.proc.pid})" in err
    assert str(read_copy_path(warehouse)) in err
    assert seconds < 5  # no waiting, no pipeline started


def test_second_run_waits_for_the_first(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", LOCKER, str(warehouse), "1.5"], stdout=subprocess.PIPE,
                              text=True, env=_env(tmp_path))
    assert holder.stdout.readline().strip() == "locked"
    t0 = time.perf_counter()
    with run_lock(warehouse, wait=20):
        waited = time.perf_counter() - t0
        assert lock_path(warehouse).read_text().strip() == str(os.getpid())
    holder.wait(timeout=10)
    assert 0.5 < waited < 15


def test_lock_wait_comes_from_the_environment(tmp_path, monkeypatch):
    warehouse = tmp_path / "w.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", LOCKER, str(warehouse), "10"], stdout=subprocess.PIPE,
                              text=True, env=_env(tmp_path))
    try:
        assert holder.stdout.readline().strip() == "locked"
        monkeypatch.setenv("CRM_GOLDEN_LOCK_WAIT", "0.5")
        t0 = time.perf_counter()
        busy = pytest.raises(WarehouseBusy, match=rf"another run \(PID {holder.pid}\); waited 0.5s")
        with busy, run_lock(warehouse):
            pass
        assert 0.4 < time.perf_counter() - t0 < 5
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_run_with_a_reader_on_the_read_copy_and_a_second_run(tmp_path, capsys, monkeypatch):
    """A notebook holds the read copy through a whole run: the run publishes, the notebook keeps
    its snapshot, a new reader sees the new tables; a second run meanwhile refuses in one line."""
    sources, warehouse = tmp_path / "src", tmp_path / "w.duckdb"
    generate(sources, entities=40, seed=5)
    copy = read_copy_path(warehouse)
    assert copy.parent == warehouse.parent and copy != warehouse
    with duckdb.connect(str(copy)) as con:  # the snapshot an earlier publish left
        con.execute("create schema golden; create table golden.customers as select 1 as n")
    reader = Reader(copy)
    try:
        assert reader.count() == 1
        run = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run", "--sources", str(sources),
                                "--warehouse", str(warehouse)], env=_env(tmp_path), cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while not (lock_path(warehouse).exists() and lock_path(warehouse).read_text().strip() == str(run.pid)):
            assert run.poll() is None and time.monotonic() < deadline, "first run never took the lock"
            time.sleep(0.1)
        monkeypatch.setenv("CRM_GOLDEN_LOCK_WAIT", "1")
        code = main(["run", "--sources", str(sources), "--warehouse", str(warehouse)])
        assert code == 4
        err = one_line_error(capsys)
        assert f"warehouse {warehouse} is being updated by another run (PID {run.pid})" in err
        out, _ = run.communicate(timeout=600)
        assert run.returncode == 0, out[-3000:]
        assert reader.count() == 1  # the open snapshot is untouched
    finally:
        reader.close()
    with duckdb.connect(str(copy), read_only=True) as con:
        published = con.execute("select count(*) from golden.customers").fetchone()[0]
        tables = {r[0] for r in con.execute("select table_name from duckdb_tables() where schema_name='golden'").fetchall()}
        comment = con.execute("select comment from duckdb_tables() where table_name='customers'").fetchone()[0]
        schemas = {r[0] for r in con.execute("select distinct schema_name from duckdb_tables()").fetchall()}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert published == con.execute("select count(*) from golden.customers").fetchone()[0] > 1
    assert {"customers", "crosswalk", "customer_360", "customers_masked"} <= tables
    assert schemas == {"golden"} and comment
    assert not list(tmp_path.glob("w.tmp-*"))  # no temporary copy left behind
