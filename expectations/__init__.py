"""Data-quality suites (Great Expectations) for staged, golden and crosswalk tables.

``run_suite`` validates a frame, ``run_suite_on_table`` a DuckDB table in bounded batches; both
return masked, plain outcomes; ``expectations.dagster_checks``
turns them into Dagster asset checks. Great Expectations is imported only when a suite runs.
"""

from expectations.data_docs import (
    build_data_docs,
    latest_validation_page,
    prune_validations,
    write_docs_index,
)
from expectations.definitions import CheckDef, SuiteSpec
from expectations.masking import mask_email, mask_phone, mask_value
from expectations.outcomes import (
    ExpectationOutcome,
    SuiteExecutionError,
    SuiteInputError,
    SuiteOutcome,
)
from expectations.raw_suites import RAW_SUITE_TABLES
from expectations.reconcile import rows_reconcile, staged_records_appear_once
from expectations.runner import SuiteValidation, run_suite, run_suite_on_table
from expectations.suites import SUITES, build_suite, suite_spec
from expectations.thresholds import Thresholds, ThresholdsError, load_thresholds

__all__ = [
    "RAW_SUITE_TABLES",
    "SUITES",
    "CheckDef",
    "ExpectationOutcome",
    "SuiteExecutionError",
    "SuiteInputError",
    "SuiteOutcome",
    "SuiteSpec",
    "SuiteValidation",
    "Thresholds",
    "ThresholdsError",
    "build_data_docs",
    "build_suite",
    "latest_validation_page",
    "load_thresholds",
    "mask_email",
    "mask_phone",
    "mask_value",
    "prune_validations",
    "rows_reconcile",
    "run_suite",
    "run_suite_on_table",
    "staged_records_appear_once",
    "suite_spec",
    "write_docs_index",
]
