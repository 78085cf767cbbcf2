"""A source that cannot be read says which one, and where, in one masked line."""

from __future__ import annotations

import dagster as dg
import yaml
from dagster_dlt import DagsterDltResource

from connectors.config import load_config
from pipelines.assets.raw import raw_assets
from pipelines.resources import SourcesResource, WarehouseResource
from pipelines.warehouse import Warehouse


def _load(tmp_path, sources: list[dict]) -> dict[str, str]:
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"sources": sources}))
    warehouse = tmp_path / "w.duckdb"
    with dg.instance_for_test() as instance:
        dg.materialize(raw_assets(load_config(path)), instance=instance, resources={
            "dlt": DagsterDltResource(), "warehouse": WarehouseResource(path=str(warehouse)),
            "sources": SourcesResource(config_path=str(path))})
    failures = Warehouse(warehouse).read("quality.load_failures")
    return dict(failures.select("source", "error").iter_rows())


def test_a_corrupted_database_and_a_server_that_is_down_are_named(tmp_path, monkeypatch):
    (tmp_path / "erp.sqlite").write_bytes(b"this is not a database file, just some bytes " * 200)
    monkeypatch.setenv("SOURCES__SHOP__ACCESS_TOKEN", "tok-123456")
    monkeypatch.setenv("SOURCES__SHOP__REQUEST_MAX_ATTEMPTS", "1")
    errors = _load(tmp_path, [
        {"name": "erp", "kind": "sql", "url": "sqlite:///erp.sqlite", "table": "customers", "id": "no",
         "fields": {"email": "email"}},
        {"name": "shop", "kind": "rest", "preset": "shopify", "base_url": "http://127.0.0.1:9"},
    ])
    assert set(errors) == {"erp", "shop"}
    assert "erp.sqlite" in errors["erp"] and "source erp" in errors["erp"]
    assert "127.0.0.1:9" in errors["shop"] and "tok-123456" not in errors["shop"]
    assert all("\n" not in e and "Traceback" not in e for e in errors.values())
