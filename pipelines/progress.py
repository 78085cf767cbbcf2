"""Where a run's time and memory go: console progress lines, a stage timer and a loop progress line.

``crm-golden run`` prints one short line per step and check, warnings and errors
(``ProgressHandler``). Any asset can also say where its own time goes:

* ``@timed_stage`` under ``@dg.asset`` / ``@dg.multi_asset`` adds ``stage_seconds`` (wall time of the
  body), ``peak_rss_mb`` (the highest resident memory seen while it ran, sampled from
  ``/proc/self/status``) and ``process_peak_rss_mb`` (VmHWM) to every ``MaterializeResult`` /
  ``Output`` the asset returns or yields, plus ``stages`` (JSON: seconds and peak MB per sub-step)
  when the body uses ``stage``::

      @dg.asset(...)
      @timed_stage
      def customers(context, warehouse):
          with stage("read"):
              raw = ...
          with stage("normalise"):
              ...
          return dg.MaterializeResult(metadata={...})   # stage metadata is added on the way out

* ``mark(name)`` inside such a body ends sub-stage ``name`` where it is called (time and peak since
  the previous mark), for a long body of sequential steps.
* ``stage(name)`` also works alone (a library call, a script): it logs one line when the block
  ends (``[stage] name: 3.2 s, peak 812 MB``) and returns the ``StageTiming``.
* ``LoopProgress(total, "records")`` for a loop that may run longer than ~10 s: call ``advance(n)``
  per batch; after 10 s and then at most every 10 s it logs ``[stage] records: 120,000 / 1,000,000
  (12 %), 45,000/s, ETA 20 s``. Counts only: never put a value from a record in the label.

Lines go to the ``crm_golden.stage`` logger and, inside an asset, to the Dagster log; the console
logger of ``crm-golden run`` shows them.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import ctypes.util
import dataclasses
import functools
import inspect
import logging
import resource
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg
import pyarrow as pa
from dagster._core.log_manager import get_log_record_metadata, has_log_record_metadata

#: Log lines of stages and loops start with this, so the console logger shows them.
STAGE_PREFIX = "[stage] "
_stage_log = logging.getLogger("crm_golden.stage")

_SHOWN = {"STEP_START", "STEP_SUCCESS", "STEP_FAILURE", "ASSET_CHECK_EVALUATION", "STEP_SKIPPED"}


class ProgressHandler(logging.Handler):
    """Turns Dagster events into ``[  12.3s] staging/customers ... done`` lines."""

    def __init__(self, stream=None):
        super().__init__(logging.DEBUG)
        self.stream = stream or sys.stdout
        self.t0 = time.perf_counter()
        self.checks: list[tuple[str, bool, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        event = get_log_record_metadata(record).get("dagster_event") if has_log_record_metadata(record) else None
        elapsed = f"[{time.perf_counter() - self.t0:7.1f}s]"
        if event is None:
            meta = get_log_record_metadata(record) if has_log_record_metadata(record) else {}
            msg = meta.get("orig_message", record.getMessage())
            if isinstance(msg, str) and msg.startswith(STAGE_PREFIX):
                print(f"{elapsed} {meta.get('step_key') or ''} {msg[len(STAGE_PREFIX):]}", file=self.stream, flush=True)
                return
            if record.levelno >= logging.WARNING:
                print(f"{elapsed} {record.levelname.lower()}: {meta.get('step_key') or ''} {msg}",
                      file=self.stream, flush=True)
            return
        kind = event.event_type_value
        if kind not in _SHOWN:
            return
        step = event.step_key or ""
        if kind == "STEP_START":
            print(f"{elapsed} {step} ...", file=self.stream, flush=True)
        elif kind == "STEP_SUCCESS":
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
            print(f"{elapsed} {step} done (peak memory so far {peak:.1f} GB)", file=self.stream, flush=True)
        elif kind == "STEP_SKIPPED":
            print(f"{elapsed} {step} skipped (an upstream step failed or a blocking check failed)",
                  file=self.stream, flush=True)
        elif kind == "STEP_FAILURE":
            err = event.step_failure_data.error if event.step_failure_data else None
            reason = err.message.strip().splitlines()[-1] if err and err.message else "failed"
            print(f"{elapsed} {step} FAILED: {reason}", file=self.stream, flush=True)
        elif kind == "ASSET_CHECK_EVALUATION":
            ev = event.event_specific_data
            name = f"{ev.asset_key.to_user_string()}:{ev.check_name}"
            sev = getattr(getattr(ev, "severity", None), "value", "ERROR")
            self.checks.append((name, ev.passed, sev))


def progress_logger_def(handler: ProgressHandler) -> dg.LoggerDefinition:
    """A Dagster logger definition that forwards records to ``handler``."""

    @dg.logger
    def _progress(_init_context):
        log = logging.getLogger("crm_golden.progress")
        log.handlers = [handler]
        log.setLevel(logging.DEBUG)
        log.propagate = False
        return log

    return _progress


def rss_mb(field: str = "VmRSS") -> float:
    """Resident memory of this process in MB: ``VmRSS`` (now) or ``VmHWM`` (peak since start)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:  # not Linux: the peak is all getrusage knows
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _RssSampler(threading.Thread):
    """Samples VmRSS every ``interval`` seconds: the peak of one stage, which VmHWM (a process-wide
    high-water mark that cannot be reset without corrupting the process's own peak) does not give."""

    def __init__(self, interval: float = 0.05):
        super().__init__(name="rss-sampler", daemon=True)
        self.interval = interval
        self.peak = self.since_mark = rss_mb()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            now = rss_mb()
            self.peak = max(self.peak, now)
            self.since_mark = max(self.since_mark, now)

    def stop(self) -> float:
        self._stop_event.set()
        self.join()
        self.peak = max(self.peak, rss_mb())
        return self.peak


@dataclasses.dataclass
class StageTiming:
    """Wall time and peak memory of one stage, with its sub-stages in the order they ran."""

    name: str
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    start_rss_mb: float = 0.0
    substages: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    context: Any = dataclasses.field(default=None, repr=False)
    _t0: float = dataclasses.field(default=0.0, repr=False)
    _last_mark: float = dataclasses.field(default=0.0, repr=False)
    _sampler: _RssSampler | None = dataclasses.field(default=None, repr=False)

    def mark(self, name: str) -> None:
        """Close the sub-stage that ran since the stage started or since the last mark."""
        now = time.perf_counter()
        peak = rss_mb()
        if self._sampler is not None:
            peak = max(peak, self._sampler.since_mark)
            self._sampler.since_mark = rss_mb()
        self.substages[name if name not in self.substages else f"{name}#{len(self.substages)}"] = {
            "seconds": round(now - (self._last_mark or self._t0), 3), "peak_rss_mb": round(peak, 1)}
        self._last_mark = now

    def snapshot(self) -> None:
        """Bring ``seconds`` and ``peak_rss_mb`` up to now (the stage may still be running)."""
        self.seconds = time.perf_counter() - self._t0
        if self._sampler is not None:
            self.peak_rss_mb = max(self._sampler.peak, rss_mb())

    def metadata(self) -> dict[str, Any]:
        """Dagster metadata: ``stage_seconds``, ``peak_rss_mb``, ``process_peak_rss_mb``, ``stages``."""
        self.snapshot()
        meta: dict[str, Any] = {
            "stage_seconds": dg.MetadataValue.float(round(self.seconds, 3)),
            "peak_rss_mb": dg.MetadataValue.float(round(self.peak_rss_mb, 1)),
            "process_peak_rss_mb": dg.MetadataValue.float(round(rss_mb("VmHWM"), 1)),
        }
        if self.substages:
            meta["stages"] = dg.MetadataValue.json(self.substages)
        return meta

    def line(self) -> str:
        return (f"{STAGE_PREFIX}{self.name}: {self.seconds:.1f} s, peak {self.peak_rss_mb:,.0f} MB "
                f"(started at {self.start_rss_mb:,.0f} MB)")


_current: contextvars.ContextVar[StageTiming | None] = contextvars.ContextVar("crm_golden_stage", default=None)


def _log(message: str, context: Any = None) -> None:
    log = getattr(context, "log", None)
    if log is not None:
        log.info(message)
    else:
        _stage_log.info(message)


@contextlib.contextmanager
def stage(name: str, *, context: Any = None, quiet: bool = False) -> Iterator[StageTiming]:
    """Time the block: wall seconds and the peak resident memory while it ran. Inside another stage
    (e.g. an asset under ``@timed_stage``) it is recorded as a sub-stage of that one as well."""
    parent = _current.get()
    if context is None and parent is not None:
        context = parent.context
    timing = StageTiming(name=name, start_rss_mb=rss_mb(), context=context, _t0=time.perf_counter(),
                         _sampler=_RssSampler())
    timing._sampler.start()
    token = _current.set(timing)
    try:
        yield timing
    finally:
        _current.reset(token)
        timing.seconds = time.perf_counter() - timing._t0
        timing.peak_rss_mb = timing._sampler.stop()
        timing._sampler = None
        if parent is not None:
            parent.substages[name if name not in parent.substages else f"{name}#{len(parent.substages)}"] = {
                "seconds": round(timing.seconds, 3), "peak_rss_mb": round(timing.peak_rss_mb, 1)}
            if parent._sampler is not None:
                parent._sampler.peak = max(parent._sampler.peak, timing.peak_rss_mb)
        if not quiet:
            _log(timing.line(), context)


def mark(name: str) -> None:
    """End sub-stage ``name`` of the current stage: the time and peak memory since the stage began
    or since the previous mark (one line per step of a long body, no re-indenting). No-op outside
    a stage."""
    timing = _current.get()
    if timing is not None:
        timing.mark(name)


def _with_stage(result: Any, timing: StageTiming) -> Any:
    """``result`` with the stage metadata added (materialisations and outputs; anything else as is)."""
    if isinstance(result, dg.MaterializeResult | dg.Output):
        meta = {**timing.metadata(), **(result.metadata or {})}
        return result.with_metadata(meta) if isinstance(result, dg.Output) else result._replace(metadata=meta)
    return result


def timed_stage(fn: Callable) -> Callable:
    """Decorator (under the Dagster decorator) adding stage time and peak memory to an asset's
    results; the body's ``stage(...)`` blocks become the ``stages`` breakdown. Keeps the signature,
    so Dagster still injects context and resources."""
    name = fn.__name__

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                with stage(name, context=_context_of(args, kwargs)) as timing:
                    for item in fn(*args, **kwargs):
                        yield _with_stage(item, timing)
            finally:
                give_back_memory()
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with stage(name, context=_context_of(args, kwargs)) as timing:
                return _with_stage(fn(*args, **kwargs), timing)
        finally:
            give_back_memory()
    return wrapper


def give_back_memory() -> None:
    """Return the memory a finished step freed to the system (the C and Arrow allocators keep it
    otherwise): the next step of an in-process run then starts from its own baseline, and the run's
    peak is its largest step, not the sum of what every step once held. (No ``gc.collect()``: with
    Dagster and dlt loaded a full collection costs half a second.)"""
    pa.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _libc() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc: nothing to trim
        return None


_LIBC = _libc()


def _context_of(args: tuple, kwargs: dict) -> Any:
    """The asset's execution context: an argument, else Dagster's current one (None outside a run)."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, dg.OpExecutionContext | dg.AssetExecutionContext):
            return value
    try:
        return dg.AssetExecutionContext.get()
    except dg.DagsterInvariantViolationError:
        return None


class LoopProgress:
    """A progress line for a long loop: count, rate and ETA, at most every ``every`` seconds and
    only once the loop has run that long (short loops stay silent). Counts only, no values."""

    def __init__(self, total: int | None, label: str, *, every: float = 10.0, context: Any = None):
        self.total, self.label, self.every, self.context = total, label, every, context
        self.done = 0
        self.t0 = self._last = time.perf_counter()

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self._last >= self.every:
            self._last = now
            _log(self.line(now), self.context)

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.perf_counter()) - self.t0, 1e-9)
        rate = self.done / elapsed
        text = f"{STAGE_PREFIX}{self.label}: {self.done:,}"
        if self.total:
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            text += f" / {self.total:,} ({100 * self.done / self.total:.0f} %), {rate:,.0f}/s, ETA {eta:,.0f} s"
        else:
            text += f", {rate:,.0f}/s"
        return text
