"""ShopServer over real HTTP: pagination by Link header, filters by instant, errors, test hooks."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from connectors.shop import ShopServer

API = "/admin/api/2024-01"


def customer(cid: int, updated_at: str) -> dict:
    return {"id": cid, "email": f"c{cid}@example.com", "created_at": updated_at, "updated_at": updated_at}


@pytest.fixture
def tiny_shop(shop_dir_factory):
    # 02:00Z, 03:00Z, 03:00Z, 01:00Z: string order differs from instant order
    return shop_dir_factory({
        "customers": [
            [customer(1, "2020-01-01T10:00:00+08:00"), customer(2, "2020-01-01T03:00:00+00:00")],
            [customer(3, "2019-12-31T22:00:00-05:00")],
            [customer(4, "2020-01-01T01:00:00Z")],
        ],
        "orders": [[{"id": 9, "customer": {"id": 1}, "created_at": "2020-01-02T00:00:00+00:00"}]],
    })


def follow(url: str, **kwargs) -> tuple[list[dict], list[requests.Response]]:
    """GET ``url`` and every rel=next link; objects of all pages and the responses."""
    objects, responses = [], []
    while url:
        response = requests.get(url, timeout=10, **kwargs)
        response.raise_for_status()
        responses.append(response)
        objects += next(v for k, v in response.json().items() if k != "next_page_info")
        url = response.links.get("next", {}).get("url")
        kwargs.pop("params", None)
    return objects, responses


def test_link_header_walks_every_page(tiny_shop):
    with ShopServer(tiny_shop) as server:
        objects, responses = follow(f"{server.url}{API}/customers.json", params={"limit": 250})
    assert [o["id"] for o in objects] == [1, 2, 3, 4]
    assert [("next" in r.links) for r in responses] == [True, True, False]
    assert "limit=250" in responses[0].links["next"]["url"]


def test_crm_synth_pages_are_all_served(synth_2k_clean):
    shop = synth_2k_clean / "shop"
    expected = sum(
        len(json.loads(p.read_text(encoding="utf-8"))["customers"]) for p in (shop / "customers").glob("page-*.json")
    )
    with ShopServer(synth_2k_clean) as server:  # the dataset root works as well as shop/
        objects, responses = follow(f"{server.url}{API}/customers.json")
    assert len(objects) == expected == len({o["id"] for o in objects})
    assert len(responses) == len(list((shop / "customers").glob("page-*.json")))


def test_updated_at_min_compares_instants_and_survives_paging(tiny_shop):
    with ShopServer(tiny_shop) as server:
        objects, responses = follow(
            f"{server.url}{API}/customers.json", params={"updated_at_min": "2020-01-01T02:30:00+00:00"}
        )
    # 2 (03:00Z) and 3 (03:00Z, written as 22:00-05:00) match; 1 (02:00Z) and 4 (01:00Z) do not
    assert [o["id"] for o in objects] == [2, 3]
    assert "updated_at_min" not in responses[0].links["next"]["url"]  # carried inside page_info


def test_a_page_wholly_inside_the_filter_is_sent_as_its_file(tiny_shop):
    """Only pages with an object outside the bounds are parsed and written again; the others go
    out byte for byte (the first run of an incremental load asks for everything since 1970)."""
    files = sorted((Path(tiny_shop) / "customers").glob("page-*.json"))
    with ShopServer(tiny_shop) as server:
        objects, responses = follow(f"{server.url}{API}/customers.json",
                                    params={"updated_at_min": "1970-01-01T00:00:00+00:00"})
        _, later = follow(f"{server.url}{API}/customers.json",
                          params={"updated_at_max": "2020-01-01T02:30:00+00:00"})
    assert [o["id"] for o in objects] == [1, 2, 3, 4]
    assert [r.content for r in responses] == [f.read_bytes() for f in files]
    # page 1 holds 02:00Z and 03:00Z: filtered (and re-encoded); pages 2 and 3 are outside/inside
    assert later[0].json() == {"customers": [customer(1, "2020-01-01T10:00:00+08:00")]}
    assert later[-1].content == files[-1].read_bytes()


def test_filter_skips_pages_left_empty(tiny_shop):
    with ShopServer(tiny_shop) as server:
        objects, responses = follow(
            f"{server.url}{API}/customers.json", params={"updated_at_min": "2019-12-31T23:00:00-05:00"}
        )
    assert objects == [] and len(responses) == 1


def test_pages_before_the_cursor_are_skipped_unparsed(tiny_shop, monkeypatch):
    """An incremental read passes over the pages whose every instant lies before its cursor without
    parsing their JSON (at 1M customers that is thousands of pages a run); the answer is the same."""
    from connectors.shop import server as module

    parsed: list[int] = []
    objects_of = module._Resource.objects
    monkeypatch.setattr(module._Resource, "objects", lambda self, page: parsed.append(page) or objects_of(self, page))
    with ShopServer(tiny_shop) as server:
        objects, responses = follow(f"{server.url}{API}/customers.json", params={"updated_at_min": "2020-01-01T03:30Z"})
        assert objects == [] and len(responses) == 1
        assert parsed == [2]   # pages 0 and 1 (up to 03:00Z) passed over; the last one, parsed once, answers empty
        parsed.clear()
        objects, _ = follow(f"{server.url}{API}/customers.json", params={"updated_at_min": "2020-01-01T02:30Z"})
    assert [o["id"] for o in objects] == [2, 3]
    assert 0 in parsed   # page 0 holds 02:00Z and 03:00Z: parsed and filtered


def test_access_token_is_checked(tiny_shop):
    with ShopServer(tiny_shop, access_token="s3cret") as server:
        url = f"{server.url}{API}/customers.json"
        wrong = requests.get(url, headers={"X-Shopify-Access-Token": "nope"}, timeout=10)
        missing = requests.get(url, timeout=10)
        right = requests.get(url, headers={"X-Shopify-Access-Token": "s3cret"}, timeout=10)
    assert wrong.status_code == missing.status_code == 401
    assert "access token" in wrong.json()["errors"]
    assert right.status_code == 200


@pytest.mark.parametrize(
    "path, params, status",
    [
        (f"{API}/products.json", {}, 404),
        ("/admin/customers", {}, 404),
        (f"{API}/customers.json", {"page_info": "no-such-token"}, 404),
        (f"{API}/customers.json", {"updated_at_min": "yesterday"}, 400),
    ],
)
def test_errors_are_json(tiny_shop, path, params, status):
    with ShopServer(tiny_shop) as server:
        response = requests.get(server.url + path, params=params, timeout=10)
    assert response.status_code == status
    assert "errors" in response.json()


def test_fail_first_then_serve(tiny_shop):
    with ShopServer(tiny_shop, fail_first=2, fail_status=429, retry_after=3) as server:
        url = f"{server.url}{API}/orders.json"
        statuses = [requests.get(url, timeout=10) for _ in range(3)]
    assert [r.status_code for r in statuses] == [429, 429, 200]
    assert statuses[0].headers["Retry-After"] == "3"
    assert statuses[2].json()["orders"][0]["id"] == 9
    assert [s for _, s in server.requests] == [429, 429, 200]


def test_truncated_page_is_passed_through(tiny_shop):
    with ShopServer(tiny_shop, truncate_pages={"customers/page-0002.json": 0.5}) as server:
        first = requests.get(f"{server.url}{API}/customers.json", timeout=10)
        second = requests.get(first.links["next"]["url"], timeout=10)
    assert second.status_code == 200
    with pytest.raises(ValueError):
        second.json()
    assert "next" in second.links  # the next token comes from the index, not the broken body


def test_not_a_shop_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        ShopServer(tmp_path)


def test_serve_forever_runs_until_terminated(tiny_shop):
    code = "import sys; from connectors.shop.server import serve_forever; serve_forever(sys.argv[1], port=0)"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(tiny_shop.parent)], stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        line = proc.stdout.readline()
        base = re.search(r"at (http://[\d.]+:\d+)/", line).group(1)
        assert requests.get(f"{base}{API}/orders.json", timeout=10).json()["orders"][0]["id"] == 9
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
