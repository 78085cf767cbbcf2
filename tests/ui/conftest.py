"""Fixtures for the UI tests: the demo flow materialised into a tmp Dagster instance, ``dagster dev``
serving it from the repo's ``workspace.yaml``, and a headless Chromium driven by selenium."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "ui"
READY_TIMEOUT = 300.0  # dagster dev loads the code location slowly on a busy 2-core machine
INSTANCE_YAML = "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"


@dataclass
class DagsterUI:
    """A running ``dagster dev`` over an instance that already holds one full demo run."""

    url: str
    log: Path
    run_success: bool
    failed_steps: list[str]

    def graphql(self, query: str) -> dict:
        request = urllib.request.Request(f"{self.url}/graphql", data=json.dumps({"query": query}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:  # slow on a loaded machine
            body = json.load(response)
        assert "errors" not in body, body["errors"]
        return body["data"]

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else "(no log)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _default_signals() -> None:
    """In the child: a shell that started pytest in the background may have left SIGINT/SIGTERM
    ignored, and ``dagster dev`` would then never stop."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_process_group(proc: subprocess.Popen, *, grace: float = 10.0) -> None:
    """SIGTERM the whole group (webserver, daemon, code servers), then SIGKILL what is left."""
    pgid = proc.pid  # start_new_session: the child leads its own group
    if _group_alive(pgid):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _group_alive(pgid):
        os.killpg(pgid, signal.SIGKILL)
    proc.wait(timeout=10)


def _wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    """Until the webserver answers and the code location from workspace.yaml is loaded."""
    query = json.dumps({"query": "{ workspaceOrError { __typename ... on Workspace { locationEntries "
                                 "{ name loadStatus locationOrLoadError { __typename "
                                 "... on PythonError { message } } } } } }"}).encode()
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dagster dev exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=5):
                pass
            request = urllib.request.Request(f"{url}/graphql", data=query,
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as response:
                entries = json.load(response)["data"]["workspaceOrError"]["locationEntries"]
            last = json.dumps(entries)
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                errors = [e for e in entries if e["locationOrLoadError"]["__typename"] != "RepositoryLocation"]
                assert not errors, f"code location failed to load in dagster dev: {errors}"
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last = repr(exc)
        time.sleep(1.0)
    pytest.fail(f"dagster dev did not become ready within {timeout:.0f}s ({last}):\n"
                f"{log.read_text(errors='replace')[-3000:]}")


def _create_instance_storage(home: Path) -> None:
    """Create the instance's SQLite tables before ``dagster dev`` and the in-process run open them:
    two processes creating them at once fail with "table alembic_version already exists"."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.event_log_storage.get_asset_records()  # the event log's index is created on first use


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory) -> Iterator[DagsterUI]:
    """Demo sources -> full job in-process -> ``dagster dev`` on a free port, all under tmp.

    The server starts first so its start-up overlaps the run; both share the instance folder, whose
    storage exists before either starts.
    """
    from pipelines import demo_data
    from pipelines.runner import run_pipeline

    tmp = tmp_path_factory.mktemp("ui")
    home, sources, warehouse, log = tmp / "dagster_home", tmp / "sources", tmp / "warehouse.duckdb", tmp / "dev.log"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    _create_instance_storage(home)
    demo_data.generate(sources)

    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "CRM_GOLDEN_WAREHOUSE": str(warehouse),
           "CRM_GOLDEN_SOURCES": str(sources), "CRM_GOLDEN_DATA": str(tmp / "data"),
           "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=_default_signals,  # noqa: PLW1509 (before any thread)
        )
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("DAGSTER_HOME", str(home))
            mp.setenv("CRM_GOLDEN_DATA", str(tmp / "data"))
            summary = run_pipeline(sources=sources, warehouse=warehouse)
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, proc, log, READY_TIMEOUT)
        yield DagsterUI(url=url, log=log, run_success=summary.success, failed_steps=summary.failed_steps)
    finally:
        stop_process_group(proc)


@pytest.fixture(scope="module")
def browser(headless_chromium):
    """Headless Chromium through chromedriver, with a fresh profile; skipped when either is absent."""
    return headless_chromium(window="1600,1000")


@pytest.fixture(scope="module")
def artifacts() -> Path:
    """``test-artifacts/ui/`` in the repo (git-ignored), emptied of old screenshots."""
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS
