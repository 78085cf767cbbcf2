"""REST sources other than the Shopify preset, over real HTTP: the WooCommerce preset and a plain dlt
``rest_api`` configuration, both against a small WooCommerce-style server on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pytest

from connectors.common import make_pipeline
from connectors.config import parse_config
from connectors.config.build import build_source
from pipelines.staging.mapping import map_customers
from pipelines.staging.stage import stage_source

CUSTOMERS = [
    {"id": i, "email": f"kunde{i}@example.de", "first_name": f"Vor{i}", "last_name": f"Nach{i}",
     "date_created_gmt": f"2024-01-{i:02d}T10:00:00", "date_modified_gmt": f"2024-02-{i:02d}T10:00:00",
     "billing": {"first_name": f"Vor{i}", "last_name": f"Nach{i}", "company": "Muster GmbH" if i % 2 else "",
                 "address_1": f"Hauptstr. {i}", "postcode": "10115", "city": "Berlin", "country": "DE",
                 "email": f"kunde{i}@example.de", "phone": f"030 1234{i:03d}"}}
    for i in range(1, 8)
]
ORDERS = [{"id": 100 + i, "customer_id": i, "date_created_gmt": f"2024-03-{i:02d}T09:00:00",
           "date_modified_gmt": f"2024-03-{i:02d}T09:00:00", "total": f"{10 * i}.50", "currency": "EUR",
           "line_items": [{"sku": "A", "quantity": 1}]} for i in range(1, 8)]
KEY, SECRET = "ck_test", "cs_test"


class WooHandler(BaseHTTPRequestHandler):
    """``/wp-json/wc/v3/{customers,orders}`` with ``page``/``per_page``, ``modified_after`` on orders,
    ``Link: rel="next"`` headers and HTTP basic auth."""

    requests: ClassVar[list[str]] = []

    def do_GET(self):
        url = urlsplit(self.path)
        type(self).requests.append(self.path)
        auth = self.headers.get("Authorization", "")
        if auth != "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode():
            self.send_response(401)
            self.end_headers()
            return
        name = url.path.rsplit("/", 1)[-1]
        rows = {"customers": CUSTOMERS, "orders": ORDERS}.get(name)
        if rows is None:
            self.send_response(404)
            self.end_headers()
            return
        query = parse_qs(url.query)
        after = query.get("modified_after", [""])[0]
        if after and name == "orders":
            rows = [r for r in rows if r["date_modified_gmt"] > after]
        page, size = int(query.get("page", ["1"])[0]), int(query.get("per_page", ["10"])[0])
        size = min(size, 3)  # the server pages by 3 whatever is asked
        body = json.dumps(rows[(page - 1) * size: page * size]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if page * size < len(rows):
            nxt = f"http://{self.headers['Host']}{url.path}?" + "&".join(
                f"{k}={v[0]}" for k, v in {**query, "page": [str(page + 1)]}.items())
            self.send_header("Link", f'<{nxt}>; rel="next"')
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture
def woo_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), WooHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    WooHandler.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _load(spec, tmp_path, monkeypatch):
    monkeypatch.setenv(f"SOURCES__{spec.name.upper()}__CONSUMER_KEY", KEY)
    monkeypatch.setenv(f"SOURCES__{spec.name.upper()}__CONSUMER_SECRET", SECRET)
    pipeline = make_pipeline(spec.name, tmp_path / "wh.duckdb", pipelines_dir=tmp_path / "pl")
    with build_source(spec) as source:
        pipeline.run(source)
    return pipeline


def _table(pipeline, table: str) -> pl.DataFrame:
    with pipeline.sql_client() as client, client.execute_query(f"select * from {table}") as cursor:
        cols = [d[0] for d in cursor.description]
        return pl.DataFrame(cursor.fetchall(), schema=cols, orient="row")


def test_woocommerce_preset_loads_pages_maps_billing_fields_and_reads_orders_incrementally(
        woo_server, tmp_path, monkeypatch):
    spec = parse_config({"sources": [{"name": "woo", "kind": "rest", "preset": "woocommerce",
                                      "base_url": woo_server}]}).get("woo")
    pipeline = _load(spec, tmp_path, monkeypatch)
    customers = _table(pipeline, "customers")
    assert customers.height == len(CUSTOMERS)  # three pages of 3, 3 and 1
    staged = stage_source(map_customers(customers.drop([c for c in customers.columns if c.startswith("_dlt")]),
                                        spec)).customers.sort("source_record_id")
    first = staged.row(0, named=True)
    assert (first["source"], first["source_record_id"], first["given_name"], first["surname"]) == \
        ("woo", "1", "Vor1", "Nach1")
    assert (first["city"], first["country"], first["postal_code"]) == ("Berlin", "DE", "10115")
    assert first["phone"] == "+4930123400" + "1" and first["company_name"] is not None
    assert _table(pipeline, "orders").height == len(ORDERS)

    ORDERS.append({**ORDERS[0], "id": 200, "date_created_gmt": "2024-04-01T09:00:00",
                   "date_modified_gmt": "2024-04-01T09:00:00"})
    try:
        WooHandler.requests = []
        pipeline = _load(spec, tmp_path, monkeypatch)
        asked = [r for r in WooHandler.requests if "/orders" in r]
        assert any("modified_after=2024-03-07T09" in r for r in asked), asked
        orders = _table(pipeline, "orders")
        assert orders.height == len(ORDERS) and orders["id"].n_unique() == len(ORDERS)
    finally:
        ORDERS.pop()


def test_plain_rest_api_configuration_with_its_secret_from_the_environment(woo_server, tmp_path, monkeypatch):
    config = parse_config({"sources": [{
        "name": "crm_api", "kind": "rest", "id": "id", "base_url": woo_server + "/wp-json/wc/v3/",
        "rest_api": {"client": {"auth": {"type": "http_basic", "username": KEY},
                                "paginator": {"type": "header_link"}},
                     "resources": [{"name": "customers", "primary_key": "id", "write_disposition": "merge",
                                    "endpoint": {"path": "customers", "params": {"per_page": 3}}}]},
        "fields": {"email": "email", "given_name": "first_name", "surname": "last_name", "city": "billing.city"},
    }]})
    spec = config.get("crm_api")
    monkeypatch.setenv("SOURCES__CRM_API__PASSWORD", SECRET)
    pipeline = make_pipeline(spec.name, tmp_path / "wh.duckdb", pipelines_dir=tmp_path / "pl")
    with build_source(spec) as source:
        pipeline.run(source)
    customers = _table(pipeline, "customers")
    assert customers.height == len(CUSTOMERS)
    mapped = map_customers(customers.drop([c for c in customers.columns if c.startswith("_dlt")]), spec)
    assert mapped.filter(pl.col("source_record_id") == "3")["city"].to_list() == ["Berlin"]


def test_a_wrong_consumer_secret_is_a_clear_401(woo_server, tmp_path, monkeypatch):
    spec = parse_config({"sources": [{"name": "woo", "kind": "rest", "preset": "woocommerce",
                                      "base_url": woo_server}]}).get("woo")
    monkeypatch.setenv("SOURCES__WOO__CONSUMER_KEY", KEY)
    monkeypatch.setenv("SOURCES__WOO__CONSUMER_SECRET", "wrong")
    pipeline = make_pipeline(spec.name, tmp_path / "wh.duckdb", pipelines_dir=tmp_path / "pl")
    with pytest.raises(Exception) as err, build_source(spec) as source:
        pipeline.run(source)
    from connectors.common import describe_load_error

    message = describe_load_error(err.value)
    assert "401" in message and "wrong" not in message
