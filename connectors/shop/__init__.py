"""Shop source: customers and orders from a Shopify-style Admin REST API.

Configuration (dlt): ``SOURCES__SHOP__BASE_URL`` (e.g. ``https://example.myshopify.com``) and the
secret ``SOURCES__SHOP__ACCESS_TOKEN`` (sent as ``X-Shopify-Access-Token``, never logged).

* ``GET {base_url}/admin/api/{api_version}/customers.json?limit=..&updated_at_min=..``, data under
  ``customers``; orders likewise with ``created_at_min`` (``settings.CURSORS``).
* pages follow the ``Link: <..page_info=..>; rel="next"`` header; each page is parsed once into
  Arrow (``arrow_pages.py``), so the load's memory stays flat however many customers there are.
* incremental: the cursor's start value is sent as the ``*_min`` parameter; the latest value is
  chosen by instant, not by string (offsets differ per city); merge on ``id``. A run that had to
  salvage a cut page does not move the cursor (the lost objects come next run).
* retries: dlt's client retries 429 and 5xx with exponential backoff, honouring ``Retry-After``
  (``request_max_attempts``, ``request_backoff_factor``, ``request_timeout`` set them).
* a 2xx body that is not JSON (a page cut mid-body) is fetched again (``invalid_page_attempts`` in
  all); if it stays invalid, ``on_invalid_page="fail"`` stops with ``ShopResponseError`` naming the
  resource, the page (``page:<page_info>``), the request path and the position, and ``"salvage"``
  keeps the complete objects before the cut (marked in column ``_recovered_from_page``), appends an
  ``InvalidPage`` to ``invalid_pages`` and goes on with the next page (see ``pages.py``).

* deletions: with ``key_scan=True`` the source also loads ``customers_keys`` (every id the API
  serves now, ``?fields=id``, replace, see ``keyscan.py``); a merged raw customer missing from the
  latest complete scan was deleted at the shop and staging leaves it out. Without a scan, a
  customer deleted at the shop stays in ``raw_shop.customers`` and in the golden tables: the
  ``updated_at_min`` API cannot show deletions. The pipeline runs the scan at most every
  ``sources.shop.key_scan_hours`` hours (0, the default, never).

Tables in ``raw_shop``: ``customers`` (``default_address`` flattened to ``default_address__*``) and
``orders`` (``customer__id``; ``line_items`` as one JSON text column). Types: ``id``/``orders_count``
bigint, ``accepts_marketing`` bool, everything else text as the API sent it (money strings,
``created_at``/``updated_at`` with their UTC offset).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import dlt
from dlt.sources.helpers.requests import Client

from .arrow_pages import paged_resource
from .helpers import ShopResponseError
from .keyscan import KEYS_RESOURCE, customer_keys_resource
from .pages import RECOVERED_COLUMN, InvalidPage, OnInvalidPage, invalid_page_hook
from .server import ShopServer, serve_forever
from .settings import API_VERSION, CURSORS, INITIAL_UPDATED_AT, PAGE_SIZE, TEXT_COLUMNS, TOKEN_HEADER

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

__all__ = ["KEYS_RESOURCE", "RECOVERED_COLUMN", "InvalidPage", "ShopResponseError", "ShopServer", "serve_forever", "shop_source"]


@dlt.source(name="shop")
def shop_source(
    base_url: str = dlt.config.value,
    access_token: str = dlt.secrets.value,
    api_version: str = API_VERSION,
    page_size: int = PAGE_SIZE,
    initial_updated_at: str = INITIAL_UPDATED_AT,
    *,
    request_max_attempts: int = 5,
    request_backoff_factor: float = 1.0,
    request_timeout: float = 60.0,
    on_invalid_page: OnInvalidPage = "fail",
    invalid_page_attempts: int = 3,
    invalid_pages: list[InvalidPage] | None = None,
    key_scan: bool = False,
) -> Any:
    """Shop customers and orders as dlt resources (see the module docstring)."""
    dlt.current.source_schema().remove_type_detection("iso_timestamp")
    session = Client(
        raise_for_status=False,
        request_max_attempts=request_max_attempts,
        request_backoff_factor=request_backoff_factor,
        request_timeout=request_timeout,
    ).session
    if urlsplit(base_url).hostname in _LOOPBACK:
        # a server on this machine is never reached through a proxy; requests would otherwise scan
        # the environment for proxy settings on every page
        session.trust_env = False
    pages_seen: list[InvalidPage] = invalid_pages if invalid_pages is not None else []
    root = base_url.rstrip("/") + f"/admin/api/{api_version}/"
    loaded = []
    for name, (cursor, param) in CURSORS.items():
        sizes: list[int] = []
        on_page = invalid_page_hook(
            name, session=session, on_invalid_page=on_invalid_page, attempts=invalid_page_attempts,
            timeout=request_timeout, record=pages_seen.append,
            page_size=lambda sizes=sizes: max(sizes, default=None),
        )
        loaded.append(paged_resource(
            name, session=session, url=f"{root}{name}.json", headers={TOKEN_HEADER: access_token},
            cursor=cursor, param=param, initial_value=initial_updated_at, page_size=page_size,
            timeout=request_timeout, on_page=on_page, invalid_pages=pages_seen,
            text_columns=TEXT_COLUMNS.get(name, ()), page_sizes=sizes,
        ))
    if key_scan:
        loaded.append(customer_keys_resource(session, base_url, access_token, api_version=api_version,
                                             page_size=page_size, timeout=request_timeout,
                                             attempts=invalid_page_attempts))
    return loaded
