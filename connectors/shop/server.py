"""A local Shopify-style Admin API over a crm_synth ``shop/`` folder, for demos and tests.

Serves ``GET /admin/api/<version>/<resource>.json`` from ``DIR/<resource>/page-*.json`` and
``DIR/<resource>/_index.json``:

* the first request returns the first page; ``page_info=TOKEN`` returns the page the index maps
  the token to; a ``Link: <...?limit=N&page_info=NEXT>; rel="next"`` header is sent while a next
  page exists. Pages are served at the size they were written (``limit`` is accepted, not applied).
* ``updated_at_min``/``updated_at_max``/``created_at_min``/``created_at_max`` filter objects,
  compared as instants (the data carry UTC offsets; a naive value means UTC). Objects without the
  field, or with an unparseable value, do not match a filter on it. As in Shopify, the filter is
  carried inside the opaque ``page_info`` token of the next link; pages left empty by a filter are
  skipped.
* ``fields=id,email`` returns only those fields of each object (as Shopify does).
* with ``access_token`` set, a request whose ``X-Shopify-Access-Token`` header differs gets 401.
* unknown paths, resources and tokens get 404, bad filter values 400, always with a JSON body
  ``{"errors": ...}``.

A page file that is not valid JSON (crm_synth's ``truncated_json_page``) is passed through byte for
byte with status 200, as a connection cut mid-body would look to the client: the client must
reject it. ``truncate_pages`` produces the same for any page.
"""

from __future__ import annotations

import base64
import functools
import hmac
import json
import logging
import re
import signal
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson

log = logging.getLogger(__name__)

TOKEN_HEADER = "X-Shopify-Access-Token"
FILTER_PARAMS = ("updated_at_min", "updated_at_max", "created_at_min", "created_at_max")
#: an ISO local date and time at the start of a value, and how far its instant can lie from it
_LOCAL_TIME = re.compile(rb"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d")
_LOCAL_TEXT = re.compile(_LOCAL_TIME.pattern.decode())
_WIDEST_OFFSET = timedelta(hours=14)
_API_PREFIX = "/admin/api/"


def resolve_shop_dir(directory: str | Path) -> Path:
    """Accept the dataset root (holding ``shop/``) or the ``shop/`` folder itself."""
    root = Path(directory)
    for candidate in (root, root / "shop"):
        if candidate.is_dir() and any(candidate.glob("*/_index.json")):
            return candidate
    raise FileNotFoundError(f"{root}: no <resource>/_index.json here or under shop/")


def parse_instant(value: str) -> datetime:
    """ISO 8601 timestamp -> aware datetime (naive means UTC); ValueError when it is not one."""
    parsed = datetime.fromisoformat(value.strip())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class _Resource:
    """One resource folder: page order and token map."""

    def __init__(self, folder: Path) -> None:
        index = json.loads((folder / "_index.json").read_text(encoding="utf-8"))
        token_to_file: dict[str, str] = dict(index.get("next_page_info_to_file") or {})
        self.name = folder.name
        self.folder = folder
        self.pages = [index["first_page"], *sorted(set(token_to_file.values()) - {index["first_page"]})]
        self.token_to_page = {tok: self.pages.index(f) for tok, f in token_to_file.items()}
        self.page_to_token = {i: tok for tok, i in self.token_to_page.items()}
        self._lock = threading.Lock()
        self._last: tuple[int, list[dict[str, Any]] | None] | None = None

    def raw(self, page: int) -> bytes:
        return (self.folder / self.pages[page]).read_bytes()

    def objects(self, page: int) -> list[dict[str, Any]] | None:
        """Parsed objects of a page, or None when the file is not valid JSON. Only the page parsed
        last is kept (a client asking again after a dropped connection): the server runs inside the
        loading process, and every page of a 1M-customer shop held parsed is ~3 GB."""
        with self._lock:
            if self._last is not None and self._last[0] == page:
                return self._last[1]
        try:
            objects = orjson.loads(self.raw(page))[self.name]
        except (ValueError, KeyError, TypeError):
            objects = None
        with self._lock:
            self._last = (page, objects)
        return objects

    def next_token(self, page: int) -> str | None:
        return self.page_to_token.get(page + 1)

    def none_match(self, page: int, bounds: Mapping[str, tuple[str, datetime]]) -> bool:
        """Whether no object of a page can pass ``bounds``: every ``"field": "<text>"`` in its bytes
        (nested ones too; an object without the field passes no filter on it) lies outside the
        bound, so an incremental read passes over the pages before its cursor without parsing
        their JSON. Local times bound the instants within the widest UTC offsets (14 h), so most
        pages are decided from one string comparison; the others parse their values."""
        raw = None
        for field, (side, limit) in bounds.items():
            raw = raw if raw is not None else self.raw(page)
            values = re.findall(b'"' + re.escape(field.encode()) + rb'"\s*:\s*"([^"\\]*)"', raw)
            if not values:
                continue
            if all(_LOCAL_TIME.match(v) for v in values):
                local = max(values) if side == "min" else min(values)
                edge = datetime.fromisoformat(local[:19].decode()).replace(tzinfo=UTC)
                if (edge + _WIDEST_OFFSET < limit) if side == "min" else (edge - _WIDEST_OFFSET > limit):
                    return True
            instants = []
            for value in values:
                try:
                    instants.append(parse_instant(value.decode()))
                except (ValueError, UnicodeDecodeError):
                    continue   # not an instant: passes no filter
            if instants and (max(instants) < limit if side == "min" else min(instants) > limit):
                return True
        return False


def _encode_filters(filters: Mapping[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(dict(filters), sort_keys=True).encode()).decode().rstrip("=")


def _decode_filters(blob: str) -> dict[str, str]:
    data = json.loads(base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4)))
    if not isinstance(data, dict) or set(data) - set(FILTER_PARAMS):
        raise ValueError("bad filter blob")
    return {str(k): str(v) for k, v in data.items()}


@functools.cache
def _edge_text(side: str, limit: datetime) -> str:
    """The local time (``YYYY-MM-DDTHH:MM:SS``) beyond which a value cannot pass a bound whatever its
    UTC offset (:data:`_WIDEST_OFFSET`)."""
    edge = limit - _WIDEST_OFFSET if side == "min" else limit + _WIDEST_OFFSET
    return edge.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _surely_out(value: str, side: str, edge: str) -> bool:
    """Whether a value's local time alone puts it beyond a bound (``edge``: :func:`_edge_text`): one
    string comparison instead of parsing the instant."""
    if not _LOCAL_TEXT.match(value):
        return False
    local = value[:10] + edge[10:11] + value[11:19]   # date and time as the edge writes them
    return local < edge if side == "min" else local > edge


def _matches(obj: Mapping[str, Any], bounds: Mapping[str, tuple[str, datetime]]) -> bool:
    for field, (side, limit) in bounds.items():
        value = obj.get(field)
        if isinstance(value, str) and _surely_out(value, side, _edge_text(side, limit)):
            return False
        try:
            instant = parse_instant(value) if isinstance(value, str) else None
        except ValueError:
            instant = None
        if instant is None or (instant < limit if side == "min" else instant > limit):
            return False
    return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: with Nagle's algorithm a short body waits for the
    # client's delayed ACK of the headers (~40 ms a response, seconds over a thousand pages)
    disable_nagle_algorithm = True
    server: _ShopHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("shop server: " + format, *args)

    def do_GET(self) -> None:
        shop = self.server.shop
        split = urlsplit(self.path)
        status = shop._next_failure()
        if status:
            message = "Exceeded call limit, retry later" if status == 429 else "Service unavailable"
            headers = {} if shop.retry_after is None else {"Retry-After": str(shop.retry_after)}
            return self._send_json(status, {"errors": message}, split.path, headers)
        if shop.access_token is not None and not hmac.compare_digest(
            self.headers.get(TOKEN_HEADER, "").encode(), shop.access_token.encode()
        ):
            return self._send_json(
                401, {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"},
                split.path,
            )
        resource = self._resource(split.path)
        if resource is None:
            return self._send_json(404, {"errors": "Not Found"}, split.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        page_info = query.get("page_info")
        if page_info:
            token, _, blob = page_info.partition(".")
            page = resource.token_to_page.get(token)
            try:
                filters = _decode_filters(blob) if blob else {}
            except ValueError:
                page = None
            if page is None:
                return self._send_json(404, {"errors": "page_info is invalid or expired"}, split.path)
        else:
            page, filters = 0, {k: query[k] for k in FILTER_PARAMS if query.get(k)}
        try:
            bounds = {
                k.rsplit("_", 1)[0]: (k.rsplit("_", 1)[1], parse_instant(v)) for k, v in filters.items()
            }
        except ValueError:
            bad = sorted(filters)
            return self._send_json(400, {"errors": {k: "is not an ISO 8601 timestamp" for k in bad}}, split.path)
        fields = [f for f in (query.get("fields") or "").split(",") if f.strip()]
        self._send_page(resource, page, bounds, filters, query.get("limit"), split.path, fields)

    def _resource(self, path: str) -> _Resource | None:
        if not path.startswith(_API_PREFIX) or not path.endswith(".json"):
            return None
        parts = path[len(_API_PREFIX):-len(".json")].split("/")
        if len(parts) != 2:
            return None
        return self.server.shop._resources.get(parts[1])

    def _send_page(
        self,
        resource: _Resource,
        page: int,
        bounds: Mapping[str, tuple[str, datetime]],
        filters: Mapping[str, str],
        limit: str | None,
        path: str,
        fields: list[str] | None = None,
    ) -> None:
        shop = self.server.shop
        while True:
            truncate = shop._truncation(f"{resource.name}/{resource.pages[page]}")
            if (bounds and not fields and truncate is None and resource.next_token(page) is not None
                    and resource.none_match(page, bounds)):
                page += 1
                continue
            objects = None if truncate is not None or not (bounds or fields) else resource.objects(page)
            kept = [o for o in objects if _matches(o, bounds)] if objects else []
            # every object passes: the page goes out as the file's bytes, unparsed and unchanged
            whole = not fields and bool(objects) and len(kept) == len(objects)
            if objects is None or whole:
                body = resource.raw(page)
                if truncate is not None:
                    body = body[: int(len(body) * truncate)]
                break
            if kept or resource.next_token(page) is None:
                if fields:
                    kept = [{f.strip(): o.get(f.strip()) for f in fields if f.strip() in o} for o in kept]
                body = json.dumps({resource.name: kept}, ensure_ascii=False).encode()
                break
            page += 1
        headers = {}
        token = resource.next_token(page)
        if token is not None:
            if filters:
                token = f"{token}.{_encode_filters(filters)}"
            params = {"limit": limit} if limit else {}
            if fields:
                params["fields"] = ",".join(fields)
            params["page_info"] = token
            host = self.headers.get("Host") or f"{shop.host}:{shop.port}"
            headers["Link"] = f'<http://{host}{path}?{urlencode(params)}>; rel="next"'
        self._send(200, body, path, headers)

    def _send_json(self, status: int, payload: Any, path: str, headers: Mapping[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), path, headers or {})

    def _send(self, status: int, body: bytes, path: str, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.server.shop._record(path, status)


class _ShopHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    shop: ShopServer


class ShopServer:
    """Threaded local Shopify-style API over a crm_synth shop folder (see the module docstring).

    Testing hooks: ``fail_first=K`` answers the first K requests with ``fail_status`` (429 or 503)
    and ``Retry-After: retry_after`` (no header when None); ``truncate_pages={"customers/page-0002.json":
    0.6}`` serves that page cut to 60 % of its bytes (only its first ``truncate_first`` times when that
    is above 0, as a connection that fails and then recovers). ``requests`` lists ``(path, status)``
    served.
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        access_token: str | None = None,
        fail_first: int = 0,
        fail_status: int = 429,
        retry_after: int | None = 0,
        truncate_pages: Mapping[str, float] | None = None,
        truncate_first: int = 0,
    ) -> None:
        self.directory = resolve_shop_dir(directory)
        self.host, self.port = host, port
        self.access_token = access_token
        self.fail_first, self.fail_status, self.retry_after = fail_first, fail_status, retry_after
        self.truncate_pages = dict(truncate_pages or {})
        self.truncate_first = truncate_first
        self._truncated: dict[str, int] = {}
        self._resources = {
            idx.parent.name: _Resource(idx.parent) for idx in sorted(self.directory.glob("*/_index.json"))
        }
        self.requests: list[tuple[str, int]] = []
        self._failures_left = fail_first
        self._lock = threading.Lock()
        self._httpd: _ShopHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL (``http://host:port``); the API lives under ``/admin/api/<version>/``."""
        return f"http://{self.host}:{self.port}"

    @property
    def resources(self) -> list[str]:
        return sorted(self._resources)

    def start(self) -> Self:
        if self._httpd is not None:
            return self
        self._httpd = _ShopHTTPServer((self.host, self.port), _Handler)
        self._httpd.shop = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="shop-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next_failure(self) -> int | None:
        with self._lock:
            if self._failures_left > 0:
                self._failures_left -= 1
                return self.fail_status
        return None

    def _truncation(self, page: str) -> float | None:
        """The share to cut ``page`` ("resource/file") to on this serve, or None."""
        share = self.truncate_pages.get(page)
        if share is None or self.truncate_first <= 0:
            return share
        with self._lock:
            served = self._truncated.get(page, 0)
            self._truncated[page] = served + 1
        return share if served < self.truncate_first else None

    def _record(self, path: str, status: int) -> None:
        with self._lock:
            self.requests.append((path, status))


def serve_forever(
    directory: str | Path, *, host: str = "127.0.0.1", port: int = 8765, access_token: str | None = None
) -> None:
    """Serve until SIGINT/SIGTERM (the ``crm-golden serve-shop`` command); prints the base URL."""
    server = ShopServer(directory, host=host, port=port, access_token=access_token)
    if threading.current_thread() is threading.main_thread():
        # a process started from a non-interactive shell may inherit an ignored SIGINT
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _interrupt)
    server.start()
    resources = ",".join(server.resources)
    print(f"shop API for {server.directory} at {server.url}/admin/api/<version>/{{{resources}}}.json", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
