"""Shop resources read page by page into Arrow tables: no per-row Python objects in dlt's normaliser.

Each page's JSON is parsed once, flattened by polars (``default_address.city`` ->
``default_address__city``) and buffered until ``batch_rows`` rows, then handed to dlt as one Arrow
table (Parquet load files). Types are fixed per column, so every batch has the same schema: ids and
counts ``bigint``, flags ``bool``, everything else text as the API sent it (timestamps with their
offsets, money strings). Order line items are kept on the order as one JSON text column
(``line_items``): nothing downstream reads them row by row, and a child table would need a
per-item Python pass.

The change cursor is kept in the resource state as ``incremental.<cursor>.last_value`` (the latest
instant seen, in UTC; see ``helpers.latest_instant``) with the ids read at that instant, which the
next run skips if unchanged. It does not move when a page of the run had to be salvaged: the
objects after a cut are unknown, so the next run asks from the same point again and they arrive
once the page is whole (merge on ``id`` keeps the rest from being duplicated).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC
from typing import Any

import dlt
import orjson
import polars as pl
import pyarrow as pa
import requests

from connectors.frames import flatten_structs

from .helpers import ShopResponseError, instant
from .pages import InvalidPage, parsed_body

log = logging.getLogger(__name__)

#: Columns typed as integers / booleans; every other column is text.
INT_COLUMNS = frozenset({"id", "orders_count", "customer__id", "quantity"})
BOOL_COLUMNS = frozenset({"accepts_marketing", "verified_email", "tax_exempt"})
BATCH_ROWS = 50_000


def lists_as_json(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with its list values (order line items, addresses) as JSON text, changed in place."""
    for key, value in obj.items():
        if type(value) is list:
            obj[key] = orjson.dumps(value).decode()
    return obj


def objects_table(objects: list[dict[str, Any]]) -> pa.Table:
    """Page objects as one Arrow table of fixed column types (see the module docstring); list values
    must be JSON text already (:func:`lists_as_json`)."""
    frame = flatten_structs(pl.from_dicts(objects, infer_schema_length=None))
    out = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if name in INT_COLUMNS:
            out.append(col.cast(pl.Utf8, strict=False).cast(pl.Int64, strict=False))
        elif name in BOOL_COLUMNS and dtype == pl.Boolean:
            out.append(col)
        elif dtype == pl.Boolean:
            out.append(col.cast(pl.Utf8).str.to_lowercase())
        else:
            out.append(col.cast(pl.Utf8, strict=False))
    table = frame.select(out).to_arrow()
    fields = [f.with_type(pa.string()) if pa.types.is_large_string(f.type) else f for f in table.schema]
    return table.cast(pa.schema([f.with_nullable(False) if f.name == "id" else f for f in fields]))


def paged_resource(
    name: str,
    *,
    session: requests.Session,
    url: str,
    headers: dict[str, str],
    cursor: str,
    param: str,
    initial_value: str,
    page_size: int,
    timeout: float,
    on_page: Callable[[requests.Response], requests.Response],
    invalid_pages: list[InvalidPage] | None,
    text_columns: tuple[str, ...] = (),
    batch_rows: int = BATCH_ROWS,
    page_sizes: list[int] | None = None,
) -> Any:
    """A merge-on-``id`` resource over ``GET url?limit=..&<param>=<cursor start>`` and its ``Link`` pages."""
    columns = {c: {"data_type": "text"} for c in text_columns}
    columns["id"] = {"data_type": "bigint", "nullable": False}

    @dlt.resource(name=name, primary_key="id", write_disposition="merge", columns=columns)
    def pages() -> Iterator[pa.Table]:
        state = dlt.current.resource_state().setdefault("incremental", {}).setdefault(cursor, {})
        start = state.get("last_value") or initial_value
        seen_at_start = set(state.get("unique_hashes") or [])
        salvaged_before = len(invalid_pages) if invalid_pages is not None else 0
        begin = instant(start)
        latest, at_latest = begin, set(seen_at_start)
        buffer: list[dict[str, Any]] = []
        next_url: str | None = url
        params: dict[str, Any] | None = {"limit": page_size, param: start}
        while next_url:
            response = session.get(next_url, params=params, headers=headers, timeout=timeout)
            if not response.ok:
                response.raise_for_status()
            salvaged_so_far = len(invalid_pages) if invalid_pages is not None else 0
            response = on_page(response)
            try:
                objects = parsed_body(response)[name]
            except (ValueError, KeyError, TypeError) as exc:
                raise ShopResponseError(f"shop API {name}: page {response.url.split('?')[0]} holds no "
                                        f"{name!r} array ({exc.__class__.__name__})") from None
            for obj in objects:
                if not isinstance(obj, dict) or obj.get("id") is None:
                    continue
                when = obj.get(cursor)
                moment = instant(when) if when else None
                if moment is not None and moment == begin and str(obj["id"]) in seen_at_start:
                    continue  # read in the last run at the boundary instant, unchanged
                if moment is not None and moment > latest:
                    latest, at_latest = moment, {str(obj["id"])}
                elif moment is not None and moment == latest:
                    at_latest.add(str(obj["id"]))
                buffer.append(lists_as_json(obj))
            if page_sizes is not None and (invalid_pages is None or len(invalid_pages) == salvaged_so_far):
                page_sizes.append(len(objects))  # a complete page: how full the pages of this API are
            if len(buffer) >= batch_rows:
                yield objects_table(buffer)
                buffer = []
            next_url = response.links.get("next", {}).get("url")
            params = None  # the next link carries its own query
        if buffer:
            yield objects_table(buffer)
        salvaged = invalid_pages is not None and len(invalid_pages) > salvaged_before
        if salvaged:
            log.warning("shop API %s: a page was salvaged this run; the cursor stays at %s so the lost objects "
                        "are asked for again next run", name, start)
            return
        state["last_value"] = latest.astimezone(UTC).isoformat()
        state["unique_hashes"] = sorted(at_latest)

    return pages
