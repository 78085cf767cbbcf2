"""A console logger for ``crm-golden run``: one short line per step and check, warnings and errors."""

from __future__ import annotations

import logging
import resource
import sys
import time

import dagster as dg
from dagster._core.log_manager import get_log_record_metadata, has_log_record_metadata

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
            if record.levelno >= logging.WARNING:
                meta = get_log_record_metadata(record) if has_log_record_metadata(record) else {}
                msg = meta.get("orig_message", record.getMessage())
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
