"""``crm-golden sources check`` and where a REST source's URL comes from (CLI, environment, file)."""

from __future__ import annotations

import secrets

import pytest
import yaml

from connectors import ShopServer, make_pipeline
from connectors.config import demo_layout
from connectors.config.build import build_source
from pipelines.cli import main
from pipelines.demo import generate


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "sources"
    generate(out, entities=60, seed=3)
    return out


def test_sources_check_lists_columns_and_stages_a_sample_without_loading(demo, tmp_path, capsys):
    assert main(["sources", "check", "--sources", str(demo)]) == 0
    out = capsys.readouterr().out
    assert "erp (sql): ok" in out and "shop (rest, shopify): ok" in out and "sheets (files): ok" in out
    assert "customer_no" in out and "nothing was loaded" in out
    assert not list(tmp_path.iterdir()) and not (demo / "warehouse.duckdb").exists()


def test_sources_check_names_the_source_field_and_column_and_masks_secrets(demo, tmp_path, capsys, monkeypatch):
    config = {"sources": [
        {"name": "erp", "kind": "sql", "url": f"sqlite:///{demo / 'erp.sqlite'}", "table": "customers",
         "id": "customer_no", "fields": {"full_name": "contact_name", "email": "e_mail"}},
        {"name": "crm", "kind": "sql", "table": "contacts", "id": "id", "fields": {"email": "email"}},
    ]}
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("SOURCES__CRM__CREDENTIALS", "postgresql+psycopg://crm:s3cret-pw@127.0.0.1:9/crm")
    assert main(["sources", "check", "--config", str(tmp_path / "sources.yaml")]) == 1
    out = capsys.readouterr().out
    assert "source 'erp': field 'email' maps column 'e_mail'" in out
    assert "crm (sql): PROBLEM" in out and "cannot read contacts" in out and "s3cret-pw" not in out


def test_a_bad_sources_file_is_one_line_with_exit_2(tmp_path, capsys):
    (tmp_path / "sources.yaml").write_text("sources:\n  - name: erp\n    kind: sql\n    table: t\n")
    assert main(["run", "--config", str(tmp_path / "sources.yaml"), "--warehouse", str(tmp_path / "w.duckdb")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "source 'erp'" in err and "Traceback" not in err


@pytest.mark.parametrize("how", ["environment", "cli"])
def test_the_shop_url_comes_from_the_environment_or_the_command_line(demo, tmp_path, monkeypatch, how):
    token = secrets.token_hex(8)
    spec = demo_layout(demo).get("shop")
    with ShopServer(demo / "shop", access_token=token) as server:
        monkeypatch.setenv("SOURCES__SHOP__ACCESS_TOKEN", token)
        if how == "environment":
            monkeypatch.setenv("SOURCES__SHOP__BASE_URL", server.url)
        else:
            spec = demo_layout(demo).with_base_url("shop", server.url).get("shop")
        pipeline = make_pipeline("shop", tmp_path / "w.duckdb", pipelines_dir=tmp_path / "pl")
        with build_source(spec, key_scan=False) as source:
            pipeline.run(source)
        assert server.requests  # the configured server was asked, not a built-in one
    with pipeline.sql_client() as client:
        assert client.execute_sql("select count(*) from customers")[0][0] > 0
