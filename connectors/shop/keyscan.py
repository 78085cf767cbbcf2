"""The optional full key scan of the shop's customers: every id the API serves now.

An ``updated_at_min`` incremental read never sees a deleted customer, so deletions show only in a
full listing. The scan pages through ``customers.json?fields=id`` (Shopify returns just the ids;
a server that ignores ``fields`` still works) and is loaded as ``raw_shop.customers_keys``
(replace) with ``scan_load_id``. The ids are held in memory until the last page (8 bytes each):
a scan cut short by a page that stays invalid after the retries is not written at all, and the
table is left empty, which staging reads as "no evidence" rather than "everything deleted".
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import dlt
import pyarrow as pa
import requests

from .pages import page_label
from .settings import API_VERSION, TOKEN_HEADER

log = logging.getLogger(__name__)

KEYS_RESOURCE = "customers_keys"
SCAN_LOAD_COLUMN = "scan_load_id"


def customer_keys_resource(
    session: requests.Session, base_url: str, access_token: str, *, api_version: str = API_VERSION,
    page_size: int, timeout: float, attempts: int,
) -> Any:
    """A dlt resource (``customers_keys``, replace) with every customer id the shop serves now."""

    @dlt.resource(name=KEYS_RESOURCE, write_disposition="replace",
                  columns={"id": {"data_type": "bigint"}, SCAN_LOAD_COLUMN: {"data_type": "text"}})
    def customers_keys() -> Iterator[pa.Table]:
        load_id = dlt.current.load_package_state()["load_id"]
        ids = scan_ids(session, f"{base_url.rstrip('/')}/admin/api/{api_version}/customers.json",
                       access_token, page_size=page_size, timeout=timeout, attempts=attempts)
        if ids is None:
            return
        log.info("shop key scan: %d customer ids", len(ids))
        yield pa.table({"id": pa.array(ids, pa.int64()), SCAN_LOAD_COLUMN: pa.array([load_id] * len(ids), pa.string())})

    return customers_keys


def scan_ids(session: requests.Session, url: str, access_token: str, *, page_size: int, timeout: float,
             attempts: int) -> list[int] | None:
    """All customer ids, following the ``Link: rel="next"`` header; None when a page stays invalid.

    HTTP errors raise (the session's client already retried 429/5xx): the shop load then fails
    as a whole and keeps its earlier tables.
    """
    ids: list[int] = []
    params: dict[str, Any] | None = {"limit": page_size, "fields": "id"}
    headers = {TOKEN_HEADER: access_token}
    while url:
        for _ in range(max(attempts, 1)):
            response = session.get(url, params=params, headers=headers, timeout=timeout)
            response.raise_for_status()
            try:
                objects = json.loads(response.content)["customers"]
                break
            except (ValueError, KeyError, TypeError):
                objects = None
        if objects is None:
            log.warning("shop key scan: %s stayed invalid after %d attempts; scan skipped this run "
                        "(no deletions judged)", page_label(response.url), attempts)
            return None
        ids.extend(int(o["id"]) for o in objects if isinstance(o, dict) and o.get("id") is not None)
        url = response.links.get("next", {}).get("url")
        params = None  # the next link carries its own query
    return ids
