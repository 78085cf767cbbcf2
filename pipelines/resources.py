"""Dagster resources: the warehouse and the location of the source systems.

Credentials never live here: the ERP URL and the shop token come from dlt's secrets
(``.dlt/secrets.toml``) or environment variables (``SOURCES__ERP__CREDENTIALS``,
``SOURCES__SHOP__ACCESS_TOKEN``) unless the built-in demo sources are used.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from connectors.config import SourcesConfig, load_config, resolve_config
from connectors.sheets import split_glob
from pipelines.customer360 import Customer360Config
from pipelines.paths import default_sources, default_warehouse, pipelines_dir
from pipelines.privacy import MASKED_BI_VIEWS, grant_bi_access
from pipelines.publish import postgres_url_from_config, publish
from pipelines.publish.writeback import merge_list_dir
from pipelines.warehouse import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file (default ``data/warehouse.duckdb``)."""

    path: str = Field(default_factory=lambda: str(default_warehouse()),
                      description="DuckDB file the pipeline loads into and publishes from.")

    def get(self) -> Warehouse:
        return Warehouse(self.path)

    def dlt_pipelines_dir(self) -> Path:
        return pipelines_dir(self.path)


class SourcesResource(dg.ConfigurableResource):
    """Which source systems to load: a sources file (``config_path``, else ``$CRM_GOLDEN_SOURCES_CONFIG``),
    or the built-in demo layout pointed at ``directory`` (``erp.sqlite``, ``shop/``, ``sheets/``).

    ``base_urls`` replaces the REST ``base_url`` of named sources (``{"shop": "https://..."}``), as
    ``crm-golden run --base-url shop=URL`` does; dlt's ``sources.<name>.base_url`` works too.
    """

    config_path: str = Field(default="", description="Sources file (YAML); empty: $CRM_GOLDEN_SOURCES_CONFIG, "
                             "else the demo layout in `directory`.")
    directory: str = Field(default_factory=lambda: str(default_sources()),
                           description="Folder in the demo layout, read when no sources file is given.")
    base_dir: str = Field(default="", description="Folder relative paths of the sources file resolve against "
                          "(default: the file's folder).")
    base_urls: dict[str, str] = Field(default_factory=dict, description="source name -> REST base URL.")

    def config(self) -> SourcesConfig:
        if self.config_path:
            config = load_config(self.config_path, base_dir=self.base_dir or None)
        else:
            config = resolve_config(default_dir=self.directory)
        for name, url in self.base_urls.items():
            config = config.with_base_url(name, url)
        return config

    def sheets(self) -> str:
        """The folder of the first enabled files source (watched by the sheets sensor); empty if none."""
        for spec in self.config().enabled:
            if spec.kind == "files":
                return split_glob(spec.paths[0])[0]
        return ""


class PublishResource(dg.ConfigurableResource):
    """Where the golden tables are published besides the DuckDB warehouse, and the settings of the
    customer 360 view (YAML ``customer_360:`` section)."""

    destination: str = Field(default="duckdb", description="duckdb (embedded only), postgres or parquet.")
    parquet_dir: str = Field(default="", description="Folder for destination parquet (default data/published).")
    postgres_url: str = Field(default="", description="Empty: DESTINATION__POSTGRES__CREDENTIALS / secrets.toml.")
    config_path: str = Field(default="", description="YAML with a customer_360 section (rates, day thresholds).")

    def merge_list_dir(self, wh: Warehouse) -> Path:
        """Where the per-source write-back files (merge_list_<source>.csv) go."""
        return merge_list_dir(wh.path)

    def customer_360_config(self):
        if self.config_path:
            return Customer360Config.from_yaml(self.config_path, section="customer_360")
        return Customer360Config()

    def publish_external(self, wh: Warehouse, golden_tables: list[str]) -> dict:
        """Copy the published tables (and the staging/quality/raw layers for postgres) out."""
        names = list(golden_tables)
        if self.destination == "postgres":
            layers = wh.query("select table_schema || '.' || table_name as t from information_schema.tables "
                              "where table_schema like 'raw_%' or table_schema in ('staging', 'quality')")
            names += [t for t in layers["t"].to_list() if "_dlt_" not in t]
        frames = {t: wh.read(t) for t in dict.fromkeys(names) if wh.exists(t)}
        if self.destination == "postgres":
            url = self.postgres_url or postgres_url_from_config()
            result = publish(frames, destination="postgres", url=url, bi_views=MASKED_BI_VIEWS)
            grant_bi_access(url)
            return result
        if self.destination == "parquet":
            out = self.parquet_dir or str(Path(wh.path).parent / "published")
            return publish(frames, destination="parquet", out_dir=out)
        raise ValueError(f"unknown destination {self.destination!r} (duckdb, postgres or parquet)")
