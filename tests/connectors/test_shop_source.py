"""Shop source through dlt over real HTTP (ShopServer): pages, incremental merge, retries, errors."""

from __future__ import annotations

import json
import time

import pytest

from connectors import ShopServer, loaded_rows, shop_source
from connectors.shop.helpers import latest_instant

from .conftest import Warehouse, root_message, truth_counts

TOKEN = "shpat_test_token_0123"


def page_objects(folder, key):
    return [o for p in sorted(folder.glob("page-*.json")) for o in json.loads(p.read_text(encoding="utf-8"))[key]]


@pytest.fixture(scope="module")
def shop_loaded(synth_2k_clean, module_warehouse):
    """The clean 2k shop loaded twice over HTTP; row counts of both runs and the requests made."""
    pipeline = module_warehouse.pipeline("shop")
    runs, first_run_requests = [], []
    with ShopServer(synth_2k_clean, access_token=TOKEN) as server:
        for _ in range(2):
            pipeline.run(shop_source(server.url, TOKEN))
            runs.append(loaded_rows(pipeline))
            first_run_requests = first_run_requests or list(server.requests)
    return module_warehouse, runs, first_run_requests


def test_every_page_is_loaded_once(shop_loaded, synth_2k_clean):
    wh, (first, second), first_run_requests = shop_loaded
    shop = synth_2k_clean / "shop"
    customers = page_objects(shop / "customers", "customers")
    orders = page_objects(shop / "orders", "orders")
    assert len(customers) == truth_counts(synth_2k_clean)["shop"]
    assert first["customers"] == len(customers)
    assert first["orders"] == len(orders)
    [(items,)] = wh.sql("select sum(json_array_length(line_items)) from raw_shop.orders")
    assert items == sum(len(o["line_items"]) for o in orders)  # line items kept on the order, as JSON
    n_pages = len(list(shop.glob("*/page-*.json")))
    assert [s for _, s in first_run_requests] == [200] * n_pages
    assert second == {}  # nothing changed: nothing new loaded
    assert wh.sql("select count(*), count(distinct id) from raw_shop.customers") == [(len(customers),) * 2]
    assert wh.sql("select count(*), count(distinct id) from raw_shop.orders") == [(len(orders),) * 2]


def test_types_and_raw_values(shop_loaded, synth_2k_clean):
    wh, _, _ = shop_loaded
    types = wh.column_types("raw_shop", "customers")
    assert types["id"] == "BIGINT"
    assert types["created_at"] == types["updated_at"] == types["total_spent"] == "VARCHAR"
    assert "default_address__city" in types
    sample = page_objects(synth_2k_clean / "shop" / "customers", "customers")[:50]
    loaded = dict(wh.sql("select id, updated_at from raw_shop.customers"))
    assert all(loaded[o["id"]] == o["updated_at"] for o in sample)  # offsets kept as sent
    orders = page_objects(synth_2k_clean / "shop" / "orders", "orders")
    linked = dict(wh.sql("select id, customer__id from raw_shop.orders"))
    assert all(linked[o["id"]] == o["customer"]["id"] for o in orders)
    items = dict(wh.sql("select id, line_items from raw_shop.orders"))
    assert all(json.loads(items[o["id"]]) == o["line_items"] for o in orders[:50])


def customer(cid, updated_at, **extra):
    return {"id": cid, "email": f"c{cid}@example.com", "first_name": "A", "created_at": updated_at,
            "updated_at": updated_at, **extra}


def test_changed_customer_is_merged_by_instant(warehouse: Warehouse, shop_dir_factory):
    pages = {
        "customers": [[customer(1, "2024-05-01T12:00:00+08:00"), customer(2, "2024-05-01T01:00:00-05:00")],
                      [customer(3, "2024-04-30T09:00:00+00:00")]],
        "orders": [[{"id": 7, "customer": {"id": 1}, "created_at": "2024-05-01T12:00:00+08:00",
                     "line_items": [{"sku": "S1", "quantity": 1, "price": "9.99"}]}]],
    }
    pipeline = warehouse.pipeline("shop")
    with ShopServer(shop_dir_factory(pages)) as server:
        pipeline.run(shop_source(server.url, TOKEN))
    assert loaded_rows(pipeline) == {"customers": 3, "orders": 1}
    state = pipeline.state["sources"]["shop"]["resources"]["customers"]["incremental"]["updated_at"]
    assert state["last_value"] == "2024-05-01T06:00:00+00:00"  # customer 2 is latest (06:00Z), not 1

    # customer 3 edited at 05:00-05:00 (10:00Z): later than every stored instant although its
    # string sorts before them; customer 4 is new
    pages["customers"][1] = [customer(3, "2024-05-01T05:00:00-05:00", first_name="B"),
                             customer(4, "2024-05-01T07:00:00+00:00")]
    with ShopServer(shop_dir_factory(pages, name="shop_v2")) as server:
        pipeline.run(shop_source(server.url, TOKEN))
    assert loaded_rows(pipeline) == {"customers": 2}
    assert warehouse.sql("select id, first_name, updated_at from raw_shop.customers order by id") == [
        (1, "A", "2024-05-01T12:00:00+08:00"),
        (2, "A", "2024-05-01T01:00:00-05:00"),
        (3, "B", "2024-05-01T05:00:00-05:00"),
        (4, "A", "2024-05-01T07:00:00+00:00"),
    ]


@pytest.fixture
def tiny_shop(shop_dir_factory):
    return shop_dir_factory({
        "customers": [[customer(1, "2024-05-01T12:00:00+08:00")], [customer(2, "2024-05-02T12:00:00+08:00")]],
        "orders": [[{"id": 7, "customer": {"id": 1}, "created_at": "2024-05-01T12:00:00+08:00"}]],
    })


@pytest.mark.parametrize("status, retry_after, min_seconds", [(429, 1, 1.0), (503, None, 0.0)])
def test_retries_then_succeeds(warehouse: Warehouse, tiny_shop, status, retry_after, min_seconds):
    pipeline = warehouse.pipeline("shop")
    failures = 1 if retry_after else 2
    with ShopServer(tiny_shop, fail_first=failures, fail_status=status, retry_after=retry_after) as server:
        started = time.perf_counter()
        pipeline.extract(shop_source(server.url, TOKEN, request_backoff_factor=0.01))
        elapsed = time.perf_counter() - started
    assert [s for _, s in server.requests] == [status] * failures + [200] * 3
    pipeline.normalize()
    assert pipeline.last_trace.last_normalize_info.row_counts["customers"] == 2
    assert elapsed >= min_seconds  # Retry-After: 1 was honoured (the backoff alone is 0.01 s)


def test_gives_up_after_max_attempts(warehouse: Warehouse, tiny_shop):
    server = ShopServer(tiny_shop, fail_first=50, fail_status=503, retry_after=None)
    with server, pytest.raises(Exception) as info:
        warehouse.pipeline("shop").extract(
            shop_source(server.url, TOKEN, request_max_attempts=3, request_backoff_factor=0.01)
        )
    assert "503" in root_message(info.value)
    assert 3 <= len(server.requests) <= 6  # 3 attempts per resource, at most both resources


def test_wrong_token_is_a_clear_401(warehouse: Warehouse, tiny_shop):
    with ShopServer(tiny_shop, access_token=TOKEN) as server, pytest.raises(Exception) as info:
        warehouse.pipeline("shop").extract(shop_source(server.url, "shpat_wrong_token_999"))
    message = root_message(info.value)
    assert "401" in message and "Unauthorized" in message
    assert "shpat_wrong_token_999" not in message and TOKEN not in message
    assert {s for _, s in server.requests} == {401}  # a 401 is not retried


def test_truncated_page_fails_naming_the_request(warehouse: Warehouse, synth_2k):
    # the generator's bad_rows cut one customers page
    with ShopServer(synth_2k) as server, pytest.raises(Exception) as info:
        warehouse.pipeline("shop").extract(shop_source(server.url, TOKEN))
    message = root_message(info.value)
    assert "ShopResponseError" in message and "not valid JSON" in message
    assert "/admin/api/2024-01/customers.json" in message and "@" not in message.split("ShopResponseError")[1]


def test_latest_instant_is_by_time_not_by_text():
    values = ("2025-06-30T23:00:00+08:00", "2025-06-30T22:00:00-05:00", "2025-06-30T12:00:00Z")
    assert max(values) == values[0]
    assert latest_instant(values) == "2025-07-01T03:00:00+00:00"
    with pytest.raises(ValueError, match="not an ISO 8601"):
        latest_instant(("2022-04-31T01:08:18+00:00",))
