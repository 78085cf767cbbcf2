"""Optional Great Expectations Data Docs (static HTML) for masked suite outcomes.

Rendering needs Great Expectations itself (2-5 s to import, a fifth of a second per suite), while
the suites are computed without it. A pipeline run therefore queues each suite's validation
(:func:`queue_data_docs`) and one renderer process (``python -m expectations.render_docs DIR``,
started by :func:`render_in_background`) draws every queued page beside the run; the run waits for
it at the end (:func:`wait_for_data_docs`) instead of paying for it step by step.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from expectations.outcomes import SuiteOutcome

SITE_NAME = "crm_golden_docs"  # ``local_site`` is taken in an ephemeral context
#: queued validations, one file per suite (a newer validation of a suite replaces the queued one)
PENDING = ".pending"
RENDER_LOCK = ".render.lock"
RENDER_ERROR = "render-error.txt"
#: written by a run for its length (its PID): the renderer waits for more validations meanwhile
RUN_MARKER = ".run-active"
DEFAULT_RUN_NAME = "crm_golden"


def _run_time_folder(run_time: dt.datetime) -> str:
    """The folder name Great Expectations gives a validation run (``RunIdentifier.to_tuple``)."""
    return run_time.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def page_path(out_dir: str | Path, suite: str, *, run_name: str, run_time: dt.datetime) -> Path:
    """Where the validation page of ``suite`` for that run lands in the site."""
    return Path(out_dir).resolve() / "validations" / suite / run_name / _run_time_folder(run_time) / f"{suite}.html"


def queue_data_docs(outcome: SuiteOutcome, out_dir: str | Path, *, run_name: str | None = None) -> Path:
    """Queue ``outcome``'s masked validation for the renderer; returns the page it will get."""
    if outcome.validation_result is None:
        raise ValueError(f"queue_data_docs: suite {outcome.suite} carries no validation result")
    run_name = run_name or DEFAULT_RUN_NAME
    run_time = dt.datetime.now(dt.UTC)
    pending = Path(out_dir).resolve() / PENDING
    pending.mkdir(parents=True, exist_ok=True)
    tmp = pending / f".{outcome.suite}.{os.getpid()}.tmp"
    tmp.write_bytes(pickle.dumps((outcome, run_name, run_time)))
    os.replace(tmp, pending / f"{outcome.suite}.pkl")
    return page_path(out_dir, outcome.suite, run_name=run_name, run_time=run_time)


@contextlib.contextmanager
def _render_lock(out: Path, *, block: bool) -> Iterator[bool]:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / RENDER_LOCK, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _pending(out: Path) -> list[Path]:
    return sorted((out / PENDING).glob("*.pkl"))


def render_in_background(out_dir: str | Path) -> None:
    """Start the renderer for ``out_dir`` unless one is already running (it picks up this queue).

    The render lock is taken here and handed to the child with its file descriptor, so it is held
    from the start: while the child imports Great Expectations (seconds of CPU), the next suite
    finds it taken and starts no second renderer."""
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    with open(out / RENDER_LOCK, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        try:
            with open(out / "render.log", "ab") as log:
                subprocess.Popen([sys.executable, "-m", "expectations.render_docs", str(out), str(lock.fileno())],
                                 stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True, pass_fds=(lock.fileno(),))
        except BaseException:
            fcntl.flock(lock, fcntl.LOCK_UN)
            raise
    # closing our descriptor keeps the lock: the child's copy of it holds it until the child lets go


@contextlib.contextmanager
def _handed_lock(fd: int) -> Iterator[bool]:
    """The render lock taken by the parent and inherited as descriptor ``fd``."""
    try:
        yield True
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def render_pending(out_dir: str | Path, *, linger: bool = False, lock_fd: int | None = None) -> int:
    """Render every queued validation of ``out_dir`` (the renderer's loop); returns pages drawn.
    Another renderer already at work keeps the queue: this one then returns 0 at once. ``linger``:
    wait for more while a run that started a :func:`data_docs_session` is still going (one renderer,
    one import of Great Expectations, per run). ``lock_fd``: the render lock, already taken by the
    process that started this one."""
    out = Path(out_dir).resolve()
    drawn = 0
    while True:
        lock = _handed_lock(lock_fd) if lock_fd is not None else _render_lock(out, block=False)
        lock_fd = None
        with lock as mine:
            if not mine:
                return drawn
            while True:
                if files := _pending(out):
                    drawn += _render_files(out, files)
                elif linger and _run_active(out):
                    time.sleep(0.2)
                else:
                    break
        if not _pending(out):  # queued while the lock was let go: take it again
            return drawn


def _run_active(out: Path) -> bool:
    """Whether the run named in ``out``'s run marker is still alive."""
    try:
        pid = int((out / RUN_MARKER).read_text(encoding="utf-8").strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return False
    return True


@contextlib.contextmanager
def data_docs_session(out_dir: str | Path) -> Iterator[None]:
    """For the length of a run: start the renderer at once (it imports Great Expectations while the
    run loads its sources) and keep it waiting for the run's suites instead of starting one per
    suite. Await the pages afterwards with :func:`wait_for_data_docs`."""
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    marker = out / RUN_MARKER
    marker.write_text(f"{os.getpid()}\n", encoding="utf-8")
    try:
        render_in_background(out)
        yield
    finally:
        marker.unlink(missing_ok=True)


def warm_up() -> None:
    """Import what drawing needs, before the first validation arrives."""
    import great_expectations  # noqa: F401


def _render_files(out: Path, files: list[Path]) -> int:
    items, stamps = [], {}
    for path in files:
        stamps[path] = path.stat().st_mtime_ns
        items.append(pickle.loads(path.read_bytes()))
    try:
        _render(items, out)
        (out / RENDER_ERROR).unlink(missing_ok=True)
    except Exception as exc:  # noqa: BLE001 - reported beside the site, the queue is dropped
        (out / RENDER_ERROR).write_text(f"{type(exc).__name__}: {exc}\n", encoding="utf-8")
    for path, stamp in stamps.items():
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime_ns == stamp:  # a newer validation of the suite stays queued
                path.unlink()
    return len(items)


def wait_for_data_docs(out_dir: str | Path, *, timeout: float = 300.0) -> str | None:
    """Wait until nothing is queued and no renderer runs for ``out_dir`` (renders here what is left
    when no renderer starts). Returns the renderer's error line, if the last render failed."""
    out = Path(out_dir).resolve()
    if not out.exists():
        return None
    deadline = time.monotonic() + timeout
    idle_since = None
    while True:
        with _render_lock(out, block=False) as free:
            queued = bool(_pending(out))
        if free and not queued:
            break
        if free:  # queued, but no renderer at work: give a starting one a moment, then draw here
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 5:
                render_pending(out)
                continue
        else:
            idle_since = None
        if time.monotonic() > deadline:
            return f"Data Docs still rendering after {timeout:g}s"
        time.sleep(0.05)
    error = out / RENDER_ERROR
    return error.read_text(encoding="utf-8").strip() if error.exists() else None


def build_data_docs(results: Iterable[SuiteOutcome], out_dir: str | Path, *, run_name: str | None = None) -> Path:
    """Write Data Docs for ``results`` (their masked GX validation results) into ``out_dir``.

    ``out_dir`` is one site that successive calls add to: each call replaces the pages of the
    suites it is given (older validations of those suites are removed) and keeps the others;
    ``index.html`` (:func:`write_docs_index`) links the newest page of every suite. Returns its path. Costs roughly a fifth of a
    second per suite on top of the validation.
    """
    run_time = dt.datetime.now(dt.UTC)
    items = [(o, run_name or DEFAULT_RUN_NAME, run_time) for o in results if o.validation_result is not None]
    if not items:
        raise ValueError("build_data_docs: none of the outcomes carries a validation result")
    return _render(items, Path(out_dir))


def _render(items: list[tuple[SuiteOutcome, str, dt.datetime]], out_dir: Path) -> Path:
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    for outcome, run_name, run_time in items:
        result = outcome.validation_result
        if not hasattr(result, "batch_id"):  # plain results from expectations.runner
            result = to_gx_validation(result)
        prune_validations(out, outcome.suite, keep=0)
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=outcome.suite),
            run_id=RunIdentifier(run_name=run_name, run_time=run_time),
            batch_identifier=result.batch_id or outcome.suite,
        )
        ctx.validation_results_store.set(key, result)
    ctx.add_data_docs_site(SITE_NAME, {
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(out)},
        "site_index_builder": {"class_name": "SharedSiteIndexBuilder", "module_name": "expectations.docs_site"},
    })
    # the other suites' pages are kept on purpose; GX warns for each one it cannot re-render
    site_log = logging.getLogger("great_expectations.render.renderer.site_builder")
    level = site_log.level
    site_log.setLevel(logging.ERROR)
    try:
        ctx.build_data_docs(site_names=[SITE_NAME])
    finally:
        site_log.setLevel(level)
    return write_docs_index(out)


def to_gx_validation(validation) -> object:
    """A ``SuiteValidation`` (plain, masked results) as the GX validation result Data Docs render."""
    from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult

    from expectations.suites import to_gx_suite

    configs = {e.meta["check_name"]: e.configuration for e in to_gx_suite(validation.spec).expectations}
    results = [ExpectationValidationResult(success=ok, expectation_config=configs[name], result=result,
                                           exception_info={"raised_exception": False, "exception_traceback": None,
                                                           "exception_message": None})
               for name, ok, result in validation.results]
    passed = sum(ok for _, ok, _ in validation.results)
    total = len(results)
    return ExpectationSuiteValidationResult(
        success=validation.success,
        results=results,
        suite_name=validation.suite_name,
        statistics={"evaluated_expectations": total, "successful_expectations": passed,
                    "unsuccessful_expectations": total - passed,
                    "success_percent": 100.0 * passed / total if total else None},
        meta={"active_batch_definition": {"datasource_name": "crm_golden", "data_asset_name": validation.suite_name,
                                          "batch_definition_name": "whole_table"}},
        batch_id=validation.suite_name,
    )


def latest_validation_page(docs_dir: str | Path, suite: str) -> Path | None:
    """The newest validation page of ``suite`` in a Data Docs site (None when there is none)."""
    pages = sorted(Path(docs_dir).glob(f"validations/{suite}/*/*/*.html"), key=lambda p: p.parent.name)
    return pages[-1] if pages else None


def prune_validations(docs_dir: str | Path, suite: str, *, keep: int = 1) -> int:
    """Delete all but the ``keep`` newest validation pages of ``suite`` (a site built on every
    run would grow without end). Returns how many run folders were removed."""
    if keep < 0:
        raise ValueError("keep must be >= 0")
    import shutil

    runs = sorted(Path(docs_dir).glob(f"validations/{suite}/*/*/"), key=lambda p: p.name)
    stale = runs[:-keep] if keep else runs
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    return len(stale)



def write_docs_index(docs_dir: str | Path, *, title: str = "crm-golden data quality") -> Path:
    """``index.html`` of a shared site: one link per suite to its newest validation page.

    Great Expectations' own index lists only the validations of the context that built it, and
    each suite is validated in its own context (its own pipeline step), so this one replaces it.
    """
    import html

    root = Path(docs_dir)
    root.mkdir(parents=True, exist_ok=True)
    items = []
    for suite in sorted(p.name for p in root.glob("validations/*") if p.is_dir()):
        page = latest_validation_page(root, suite)
        if page is not None:
            href = html.escape(page.relative_to(root).as_posix())
            items.append(f'<li><a href="{href}">{html.escape(suite)}</a> (validated {html.escape(page.parent.name)})</li>')
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    body = "\n".join(items)
    text = (f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<link rel="stylesheet" href="static/styles/data_docs_default_styles.css"></head>'
            f"<body><h1>{html.escape(title)}</h1><p>Great Expectations Data Docs: the newest validation of "
            f"each suite (index written {stamp}).</p><ul>\n{body}\n</ul></body></html>\n")
    index = root / "index.html"
    index.write_text(text, encoding="utf-8")
    return index
