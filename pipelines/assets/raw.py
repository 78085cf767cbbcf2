"""Raw layer: each source system loaded by dlt into its own dataset (``raw_erp``, ``raw_shop``,
``raw_sheets``), one Dagster asset per table keyed ``raw/<source>/<table>``."""


import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData
from dlt.extract.source import DltSource

from connectors import erp_source, make_pipeline, sheets_source, shop_source
from pipelines.paths import default_warehouse, pipelines_dir
from pipelines.resources import SourcesResource, WarehouseResource

DESCRIPTIONS = {
    ("erp", "customers"): "ERP customer master (SQL database), merged on customer_no, incremental on updated_at.",
    ("erp", "invoices"): "ERP invoices (SQL database), merged on invoice_no.",
    ("shop", "customers"): "Web shop customers from the Shopify-style Admin API, merged on id, "
    "incremental on updated_at.",
    ("shop", "orders"): "Web shop orders from the Admin API, merged on id, incremental on updated_at.",
    ("sheets", "contacts"): "Rows of every CSV/XLSX sheet (sales lists, trade-show leads), headers "
    "mapped to canonical names, keyed by file stem and data row number.",
}


@dataclass
class RawTranslator(DagsterDltTranslator):
    """Keys dlt resources as ``raw/<source>/<table>`` with no phantom upstream assets."""

    source: str = ""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        table = data.resource.name
        return super().get_asset_spec(data).replace_attributes(
            key=dg.AssetKey(["raw", self.source, table]),
            deps=[],
            group_name="sources",
            description=DESCRIPTIONS.get((self.source, table), f"{self.source} table {table}"),
            owners=["team:data-engineering"],
        )


def _definition_pipeline(source: str):
    wh = default_warehouse()
    return make_pipeline(source, wh, pipelines_dir=pipelines_dir(wh))


@contextlib.contextmanager
def runtime_source(source: str, sources: SourcesResource) -> Iterator[DltSource]:
    """The dlt source for one load; for the shop, the built-in server stays up meanwhile."""
    if source == "erp":
        url = sources.erp()
        yield erp_source(credentials=url) if url else erp_source()
    elif source == "shop":
        with sources.shop() as (url, token):
            yield shop_source(base_url=url, access_token=token) if token else shop_source(base_url=url)
    elif source == "sheets":
        yield sheets_source(bucket_url=sources.sheets())
    else:
        raise ValueError(f"unknown source {source!r}")


def _raw_assets(source: str, definition_source: DltSource):
    @dlt_assets(
        dlt_source=definition_source,
        dlt_pipeline=_definition_pipeline(source),
        name=f"raw_{source}",
        dagster_dlt_translator=RawTranslator(source=source),
    )
    def _assets(context: AssetExecutionContext, dlt: DagsterDltResource,
                warehouse: WarehouseResource, sources: SourcesResource):
        pipeline = make_pipeline(source, warehouse.path, pipelines_dir=warehouse.dlt_pipelines_dir())
        with runtime_source(source, sources) as dlt_source:
            results = list(dlt.run(context=context, dlt_source=dlt_source, dlt_pipeline=pipeline))
        wh = warehouse.get()
        for result in results:
            table = f"raw_{source}.{result.asset_key.path[-1]}"
            total = wh.query(f"select count(*) as n from {table}")["n"][0] if wh.exists(table) else 0
            yield dg.MaterializeResult(asset_key=result.asset_key, metadata={
                **(result.metadata or {}), "dagster/row_count": int(total), "table": table})

    return _assets


# Definition-time sources only name the tables; real locations are resolved at run time.
raw_erp = _raw_assets("erp", erp_source(credentials="sqlite:///:memory:"))
raw_shop = _raw_assets("shop", shop_source(base_url="http://127.0.0.1:9", access_token="-"))
raw_sheets = _raw_assets("sheets", sheets_source(bucket_url="."))

RAW_ASSETS = [raw_erp, raw_shop, raw_sheets]
