"""Small hand-made staged, golden and crosswalk frames with known violations."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from dedupe.canonical import conform

UTC = dt.UTC


def ts(year: int, month: int = 1, day: int = 1) -> dt.datetime:
    return dt.datetime(year, month, day, tzinfo=UTC)


def staged_frame(rows: list[dict]) -> pl.DataFrame:
    """Rows in the canonical staged schema (missing fields null)."""
    return conform(pl.DataFrame(rows, infer_schema_length=None))


CLEAN_STAGED_ROWS = [
    {"record_id": "erp:C100001", "source": "erp", "source_record_id": "C100001", "given_name": "John",
     "surname": "Doe", "full_name": "John Doe", "email": "john.doe@example.com", "phone": "+14155550132",
     "country": "US", "created_at": ts(2020), "updated_at": ts(2021)},
    {"record_id": "shop:4000000000001", "source": "shop", "source_record_id": "4000000000001",
     "given_name": "伟", "surname": "王", "full_name": "王伟", "email": "wangwei@qq.com",
     "phone": "+8613812345678", "country": "CN", "created_at": ts(2019, 5, 2), "updated_at": ts(2024, 2, 29)},
    {"record_id": "sales_csv:3", "source": "sales_csv", "source_record_id": "3", "full_name": "Anna Schmidt",
     "email": "anna.schmidt@beispiel.de", "phone": "+491701234512", "country": "DE",
     "created_at": ts(2015), "updated_at": ts(2015)},
    {"record_id": "leads_xlsx:7", "source": "leads_xlsx", "source_record_id": "7", "given_name": "Marie",
     "country": "FR", "created_at": ts(2023, 7, 14), "updated_at": ts(2023, 7, 14)},
]


@pytest.fixture(scope="session")
def clean_staged() -> pl.DataFrame:
    return staged_frame(CLEAN_STAGED_ROWS)


@pytest.fixture(scope="session")
def dirty_staged() -> pl.DataFrame:
    """Eight rows; the known violations are listed per check in test_staged_suite.py."""
    rows = [
        *CLEAN_STAGED_ROWS,
        # duplicate record id; bad e-mail; national phone; lower-case country; 1899 date
        {"record_id": "erp:C100001", "source": "erp", "source_record_id": "C100001", "given_name": "Jon",
         "email": "jon@@example.com", "phone": "04155550132", "country": "us",
         "created_at": ts(1899, 12, 30), "updated_at": ts(2020)},
        # missing record id and source; e-mail without a dot; too short phone; unknown country; no name
        {"record_id": None, "source": None, "source_record_id": "99", "email": "a@b", "phone": "+4912",
         "country": "XX", "created_at": ts(2099), "updated_at": ts(2099)},
        # missing source_record_id; blank full name and no given name
        {"record_id": "shop:x", "source": "shop", "source_record_id": None, "full_name": "   ",
         "email": "ok@example.org", "phone": "+33612345678", "country": "FR",
         "created_at": ts(2022), "updated_at": ts(2022)},
        # everything null apart from keys
        {"record_id": "erp:C100009", "source": "erp", "source_record_id": "C100009"},
    ]
    return staged_frame(rows)


@pytest.fixture(scope="session")
def golden_frame() -> pl.DataFrame:
    return pl.DataFrame({
        "golden_id": ["G1", "G2", "G2", None, "G5", "G6"],
        "given_name": ["John", None, "Wei", None, None, None],
        "surname": ["Doe", None, "Wang", None, None, None],
        "full_name": ["John Doe", None, "王伟", "Anna Schmidt", None, " "],
        "email": ["john.doe@example.com", "x@y", None, None, None, None],
        "phone": ["+14155550132", None, "+8613812345678", "0049 170 1234512", None, None],
        "country": ["US", "GB", "CN", "Germany", None, None],
    })
