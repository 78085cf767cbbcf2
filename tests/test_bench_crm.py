"""The side-by-side runner's guards: a competitor's JSON is read from its last line, its whole
process tree is measured, and one that outgrows the memory limit is stopped instead of swapping."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_crm.py"
pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")


def _bench():
    spec = importlib.util.spec_from_file_location("bench_crm_under_test", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_run_reads_last_json_line_and_measures_the_child_tree():
    bench = _bench()
    # the parent holds ~150 MB only inside a child process: the tree peak must see it
    code = ("import subprocess, sys, json; "
            "subprocess.run([sys.executable, '-c', 'b = bytearray(150_000_000); import time; time.sleep(1.5)']); "
            "print('noise'); print(json.dumps({'seconds': 1.0}))")
    info = bench.run([sys.executable, "-c", code])
    assert info["seconds"] == 1.0
    assert info["peak_rss_tree_gb"] > 0.14


def test_run_stops_a_tool_over_the_memory_limit():
    bench = _bench()
    code = "b = bytearray(400_000_000); import time; time.sleep(30); print('{}')"
    info = bench.run([sys.executable, "-c", code], max_rss_gb=0.2)
    assert "error" in info and info["error"].startswith("stopped after")
    assert info["peak_rss_tree_gb"] > 0.2


def test_run_reports_a_failing_tool_by_its_last_error_line():
    bench = _bench()
    info = bench.run([sys.executable, "-c", "raise SystemExit('config is RED')"])
    assert info["error"] == ["config is RED"]
