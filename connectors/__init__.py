"""dlt connectors for the raw layer: ERP (SQL), shop (Shopify-style REST) and sheets (CSV/XLSX).

Each source loads into dataset ``raw_<source>`` of the DuckDB warehouse via ``make_pipeline``;
``load_all`` runs the three over a crm_synth-layout folder.
"""

from __future__ import annotations

from .common import load_all, loaded_rows, make_pipeline
from .erp import erp_source
from .sheets import sheets_source
from .shop import ShopServer, shop_source

__all__ = ["ShopServer", "erp_source", "load_all", "loaded_rows", "make_pipeline", "sheets_source", "shop_source"]
