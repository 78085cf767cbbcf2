"""Cursor ordering and the error type of the shop source."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any


class ShopResponseError(ValueError):
    """A shop API response that cannot be used (e.g. a page cut mid-body)."""


def instant(value: Any) -> datetime:
    """An ISO 8601 cursor value as an aware datetime (naive means UTC)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"cursor value {str(value)[:40]!r} is not an ISO 8601 timestamp") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def latest_instant(values: Sequence[Any]) -> str:
    """``last_value_func`` for ISO strings with mixed UTC offsets: the latest instant, in UTC.

    Plain ``max`` compares the strings, so ``2025-06-30T23:00:00+08:00`` would beat the later
    ``2025-06-30T22:00:00-05:00`` and the next run would drop the latter as already loaded.
    Returning one canonical form (``2025-07-01T03:00:00+00:00``) also makes equal instants
    written with different offsets compare equal, so dlt's boundary de-duplication sees them.
    """
    return max(instant(v) for v in values).astimezone(UTC).isoformat()
