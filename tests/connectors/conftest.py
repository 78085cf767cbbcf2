"""Fixtures for the connector tests: an isolated dlt environment, warehouses in tmp, truth counts."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import dlt
import duckdb
import polars as pl
import pytest

from connectors.common import make_pipeline


@pytest.fixture(autouse=True, scope="module")
def _dlt_env(tmp_path_factory) -> Iterator[None]:
    """No telemetry, no dlt config from the working directory or the home folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
        mp.setenv("DLT_PROJECT_DIR", str(tmp_path_factory.mktemp("dlt_project")))
        mp.setenv("DLT_DATA_DIR", str(tmp_path_factory.mktemp("dlt_data")))
        yield


class Warehouse:
    """A DuckDB file in tmp plus one pipeline per source writing to it."""

    def __init__(self, root: Path) -> None:
        self.path = root / "warehouse.duckdb"
        self.pipelines_dir = root / "dlt_pipelines"

    def pipeline(self, source_name: str) -> dlt.Pipeline:
        return make_pipeline(source_name, self.path, pipelines_dir=self.pipelines_dir)

    def sql(self, query: str, params: Sequence[Any] | None = None) -> list[tuple]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            return con.execute(query, params or []).fetchall()

    def frame(self, query: str) -> pl.DataFrame:
        with duckdb.connect(str(self.path), read_only=True) as con:
            return con.sql(query).pl()

    def column_types(self, schema: str, table: str) -> dict[str, str]:
        rows = self.sql(
            "select column_name, data_type from information_schema.columns"
            " where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, table],
        )
        return dict(rows)


@pytest.fixture
def warehouse(tmp_path) -> Warehouse:
    return Warehouse(tmp_path)


@pytest.fixture(scope="module")
def module_warehouse(tmp_path_factory) -> Warehouse:
    return Warehouse(tmp_path_factory.mktemp("wh"))


def truth_counts(dataset: Path) -> dict[str, int]:
    """Records per source in ``truth/records.csv``."""
    frame = pl.read_csv(dataset / "truth" / "records.csv", infer_schema=False)
    return dict(frame.group_by("source").len().iter_rows())


def truth_ids(dataset: Path, source: str) -> set[str]:
    frame = pl.read_csv(dataset / "truth" / "records.csv", infer_schema=False)
    return set(frame.filter(pl.col("source") == source)["source_record_id"])


def root_message(exc: BaseException) -> str:
    """All messages along an exception chain (dlt wraps the cause several times)."""
    parts, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        parts.append(f"{exc.__class__.__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


def write_shop_dir(root: Path, pages: dict[str, list[list[dict[str, Any]]]]) -> Path:
    """A crm_synth-layout shop folder: ``root/<resource>/page-NNNN.json`` and ``_index.json``."""
    for resource, resource_pages in pages.items():
        folder = root / resource
        folder.mkdir(parents=True, exist_ok=True)
        tokens = [secrets.token_hex(12) for _ in resource_pages[1:]]
        files = [f"page-{i:04d}.json" for i in range(1, len(resource_pages) + 1)]
        for i, objects in enumerate(resource_pages):
            next_token = tokens[i] if i < len(tokens) else None
            body = {resource: objects, "next_page_info": next_token}
            (folder / files[i]).write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
        index = {
            "first_page": files[0],
            "next_page_info_to_file": {tok: files[i + 1] for i, tok in enumerate(tokens)},
            "pages": len(files),
        }
        (folder / "_index.json").write_text(json.dumps(index), encoding="utf-8")
    return root


@pytest.fixture
def shop_dir_factory(tmp_path) -> Callable[[dict[str, list[list[dict[str, Any]]]]], Path]:
    def make(pages: dict[str, list[list[dict[str, Any]]]], name: str = "shop") -> Path:
        return write_shop_dir(tmp_path / name, pages)

    return make
