"""Dagster resources: the warehouse and the location of the source systems.

Credentials never live here: the ERP URL and the shop token come from dlt's secrets
(``.dlt/secrets.toml``) or environment variables (``SOURCES__ERP__CREDENTIALS``,
``SOURCES__SHOP__ACCESS_TOKEN``) unless the built-in demo sources are used.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from pydantic import Field

from pipelines.paths import default_sources, default_warehouse, pipelines_dir
from pipelines.warehouse import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file (default ``data/warehouse.duckdb``)."""

    path: str = Field(default_factory=lambda: str(default_warehouse()),
                      description="DuckDB file the pipeline loads into and publishes from.")

    def get(self) -> Warehouse:
        return Warehouse(self.path)

    def dlt_pipelines_dir(self) -> Path:
        return pipelines_dir(self.path)


@dataclass(frozen=True)
class SourceEndpoints:
    """Resolved addresses of the three source systems for one load."""

    erp_url: str | None
    shop_url: str | None
    shop_token: str | None
    sheets_url: str | None


class SourcesResource(dg.ConfigurableResource):
    """Where the source systems are.

    ``directory`` is a folder in the crm_synth layout (``erp.sqlite``, ``shop/``, ``sheets/``);
    each explicit URL overrides its part. With no shop URL the folder's ``shop/`` pages are
    served by the built-in shop server on 127.0.0.1 for the duration of the load.
    """

    directory: str = Field(default_factory=lambda: str(default_sources()),
                           description="Folder holding erp.sqlite, shop/ and sheets/.")
    erp_url: str = Field(default="", description="SQLAlchemy URL of the ERP; empty: dlt secrets, "
                         "then DIR/erp.sqlite.")
    shop_url: str = Field(default="", description="Base URL of the shop Admin API; empty: serve DIR/shop.")
    sheets_url: str = Field(default="", description="Folder or fsspec URL of the sheets; empty: DIR/sheets.")

    def erp(self) -> str | None:
        if self.erp_url:
            return self.erp_url
        if os.environ.get("SOURCES__ERP__CREDENTIALS"):
            return None  # dlt resolves it from the environment
        path = Path(self.directory) / "erp.sqlite"
        return f"sqlite:///{path.absolute()}"

    def sheets(self) -> str:
        return self.sheets_url or str((Path(self.directory) / "sheets").absolute())

    @contextlib.contextmanager
    def shop(self) -> Iterator[tuple[str, str | None]]:
        """Yield (base_url, token): the configured API, or the built-in server over DIR/shop."""
        if self.shop_url:
            yield self.shop_url, None  # token from dlt secrets
            return
        from connectors.shop.server import ShopServer

        token = secrets.token_urlsafe(16)
        with ShopServer(Path(self.directory) / "shop", access_token=token) as server:
            yield server.url, token


class PublishResource(dg.ConfigurableResource):
    """Where the golden tables are published besides the DuckDB warehouse, and the settings of the
    customer 360 view (YAML ``customer_360:`` section)."""

    destination: str = Field(default="duckdb", description="duckdb (embedded only), postgres or parquet.")
    parquet_dir: str = Field(default="", description="Folder for destination parquet (default data/published).")
    postgres_url: str = Field(default="", description="Empty: DESTINATION__POSTGRES__CREDENTIALS / secrets.toml.")
    config_path: str = Field(default="", description="YAML with a customer_360 section (rates, day thresholds).")

    def merge_list_dir(self, wh: Warehouse) -> Path:
        """Where the per-source write-back files (merge_list_<source>.csv) go."""
        return Path(wh.path).parent / "merge_lists"

    def customer_360_config(self):
        from pipelines.customer360 import Customer360Config

        if self.config_path:
            return Customer360Config.from_yaml(self.config_path, section="customer_360")
        return Customer360Config()

    def publish_external(self, wh: Warehouse, golden_tables: list[str]) -> dict:
        """Copy the published tables (and the staging/quality/raw layers for postgres) out."""
        from pipelines.publish import publish

        names = list(golden_tables)
        if self.destination == "postgres":
            layers = wh.query("select table_schema || '.' || table_name as t from information_schema.tables "
                              "where table_schema like 'raw_%' or table_schema in ('staging', 'quality')")
            names += [t for t in layers["t"].to_list() if "_dlt_" not in t]
        frames = {t: wh.read(t) for t in dict.fromkeys(names) if wh.exists(t)}
        if self.destination == "postgres":
            from pipelines.privacy import MASKED_BI_VIEWS, grant_bi_access
            from pipelines.publish import postgres_url_from_config

            url = self.postgres_url or postgres_url_from_config()
            result = publish(frames, destination="postgres", url=url, bi_views=MASKED_BI_VIEWS)
            grant_bi_access(url)
            return result
        if self.destination == "parquet":
            out = self.parquet_dir or str(Path(wh.path).parent / "published")
            return publish(frames, destination="parquet", out_dir=out)
        raise ValueError(f"unknown destination {self.destination!r} (duckdb, postgres or parquet)")
