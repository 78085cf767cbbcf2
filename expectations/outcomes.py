"""Outcome types of a suite run: plain data, free of Great Expectations and Dagster objects."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

Severity = Literal["error", "warn"]


class SuiteInputError(ValueError):
    """The frame given to a suite cannot be validated (missing column, wrong type, unknown suite)."""


class SuiteExecutionError(RuntimeError):
    """An expectation raised instead of producing a result (a defect, not a data-quality finding)."""


@dataclasses.dataclass(frozen=True)
class ExpectationOutcome:
    """The result of one check; ``sample`` and ``row_keys`` never hold unmasked personal data.

    ``unexpected_percent`` is relative to the non-null values the check looked at, the share
    that ``mostly`` thresholds are compared with. ``row_keys`` names up to ``sample_size`` rows
    that failed (record ids, golden ids or ``source:source_record_id``).
    """

    check_name: str
    expectation_type: str
    column: str | None
    success: bool
    severity: Severity
    blocking: bool
    element_count: int
    unexpected_count: int
    unexpected_percent: float
    sample: list[str] = dataclasses.field(default_factory=list)
    row_keys: list[str] = dataclasses.field(default_factory=list)
    description: str = ""

    def describe(self) -> str:
        """One line for logs and check descriptions (masked sample only)."""
        status = "passed" if self.success else "FAILED"
        where = f" on {self.column}" if self.column else ""
        line = (
            f"{self.check_name} {status}{where}: {self.unexpected_count} of {self.element_count} "
            f"unexpected ({self.unexpected_percent:.2f} %)"
        )
        if not self.success and self.sample:
            line += f"; e.g. {', '.join(self.sample[:3])}"
        if not self.success and self.row_keys:
            line += f"; rows {', '.join(self.row_keys[:3])}"
        return line


@dataclasses.dataclass(frozen=True)
class SuiteOutcome:
    """All check outcomes of one suite run.

    ``success`` is False when any error-severity check failed; failed warnings are reported
    in ``outcomes`` (and ``warnings``) without failing the suite.
    """

    suite: str
    success: bool
    outcomes: list[ExpectationOutcome]
    data_docs_index: str | None = None
    #: The Great Expectations validation result, already masked (used to build Data Docs).
    validation_result: Any = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    @property
    def blocking_failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.blocking]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "warn"]

    def outcome(self, check_name: str) -> ExpectationOutcome:
        """The outcome of ``check_name`` (KeyError naming the suite's checks if absent)."""
        for o in self.outcomes:
            if o.check_name == check_name:
                return o
        raise KeyError(f"suite {self.suite!r} has no check {check_name!r}; "
                       f"checks: {[o.check_name for o in self.outcomes]}")

    def summary(self) -> str:
        """A few lines for logs: one per check, masked."""
        head = f"suite {self.suite}: {'passed' if self.success else 'FAILED'} " \
               f"({len(self.failed)} of {len(self.outcomes)} checks failed)"
        return "\n".join([head, *("  " + o.describe() for o in self.outcomes)])
