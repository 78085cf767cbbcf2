"""Pages whose 2xx body is not valid JSON (a connection cut mid-body): retry, then fail or salvage.

A cut page holds the objects that arrived complete before the cut. With ``on_invalid_page="salvage"``
those are kept, each marked with ``RECOVERED_COLUMN = "page:<page_info>"`` (``page:first`` for the
first page), the page is recorded as an :class:`InvalidPage`, and paging goes on through the
``Link`` header, which arrived intact. The objects after the cut are lost and cannot be named.
With ``"fail"`` the load stops with a :class:`ShopResponseError` naming the page.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import orjson
import requests
from requests import Response

from .helpers import ShopResponseError

log = logging.getLogger(__name__)

OnInvalidPage = Literal["fail", "salvage"]
RECOVERED_COLUMN = "_recovered_from_page"
"""Column of objects kept from a cut page: the page label (``page:<page_info>``)."""

_DECODER = json.JSONDecoder()
_BLANKS = " \t\r\n"


@dataclasses.dataclass(frozen=True)
class InvalidPage:
    """One page that stayed invalid after the retries (ids and sizes only, no customer data)."""

    resource: str
    page: str
    request_path: str
    bytes: int
    objects_recovered: int
    error: str
    objects_lost: int | None = None
    """Objects the page should have held beyond those recovered: a page with a next page is as full as
    the complete pages before it (``limit`` when it is the first); None for a last page."""


def page_label(url: str) -> str:
    """``page:<page_info token>`` of a request URL, ``page:first`` without one."""
    token = parse_qs(urlsplit(url).query).get("page_info", [""])[-1]
    return f"page:{token.partition('.')[0]}" if token else "page:first"


def salvage_objects(body: bytes, key: str) -> list[dict[str, Any]] | None:
    """The complete objects at the start of ``{"<key>": [ {...}, {...}, <cut>``.

    None when the body does not open with that array (nothing can be told apart).
    """
    text = body.decode("utf-8", errors="replace")
    pos = 0
    for token in ("{", json.dumps(key), ":", "["):
        pos = _skip(text, pos)
        if not text.startswith(token, pos):
            return None
        pos += len(token)
    objects: list[dict[str, Any]] = []
    pos = _skip(text, pos)
    while pos < len(text) and text[pos] == "{":
        try:
            obj, end = _DECODER.raw_decode(text, pos)
        except ValueError:
            break  # the object the cut fell into
        objects.append(obj)
        pos = _skip(text, end)
        if text[pos:pos + 1] != ",":
            break
        pos = _skip(text, pos + 1)
    return objects


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _BLANKS:
        pos += 1
    return pos


def parsed_body(response: Response) -> Any:
    """The page's JSON, parsed once (orjson) and kept on the response for the resource to use."""
    body = getattr(response, "_crm_parsed", None)
    if body is None:
        body = orjson.loads(response.content)
        response._crm_parsed = body
    return body


def _json_error(response: Response) -> ValueError | None:
    try:
        parsed_body(response)
    except ValueError as exc:  # orjson.JSONDecodeError is a json.JSONDecodeError
        return exc
    return None


def invalid_page_hook(
    resource: str,
    *,
    session: requests.Session,
    on_invalid_page: OnInvalidPage,
    attempts: int,
    timeout: float,
    record: Callable[[InvalidPage], None] | None = None,
    page_size: Callable[[], int | None] | None = None,
) -> Callable[..., Response]:
    """Response hook for one resource: a 2xx page that is not JSON is fetched again up to
    ``attempts`` times in all, then fails or is salvaged (see the module docstring)."""
    if on_invalid_page not in ("fail", "salvage"):
        raise ValueError(f"on_invalid_page must be 'fail' or 'salvage', got {on_invalid_page!r}")

    def hook(response: Response, *args: Any, **kwargs: Any) -> Response:
        if not response.ok:
            return response
        error = _json_error(response)
        tries = 1
        while error is not None and tries < attempts and response.request is not None:
            tries += 1
            again = _refetch(session, response, timeout=timeout)
            if again is not None and again.ok and _json_error(again) is None:
                response._content = again.content
                response._crm_parsed = again._crm_parsed
                response.headers = again.headers
                return response
        if error is None:
            return response
        url = response.request.url if response.request is not None else response.url
        label = page_label(url or "")
        where = urlsplit(url or "").path
        reason = f"{getattr(error, 'msg', error)} at char {getattr(error, 'pos', '?')}"
        size = len(response.content)
        if on_invalid_page == "fail":
            raise ShopResponseError(
                f"shop API {resource} {label} (GET {where}): body of {size} bytes is not valid JSON"
                f" after {tries} attempt(s) ({reason})"
            )
        objects = salvage_objects(response.content, resource)
        if objects is None:
            raise ShopResponseError(
                f"shop API {resource} {label} (GET {where}): body of {size} bytes is not valid JSON"
                f" after {tries} attempt(s) and holds no {resource!r} array to recover from ({reason})"
            )
        for obj in objects:
            obj[RECOVERED_COLUMN] = label
        response._content = json.dumps({resource: objects}, ensure_ascii=False).encode("utf-8")
        response.encoding = "utf-8"
        limit = parse_qs(urlsplit(url or "").query).get("limit", [""])[-1]
        # a page with a next page is full: as full as the complete pages before it, else `limit`
        expected = (page_size() if page_size is not None else None) or (int(limit) if limit.isdigit() else None)
        full = bool(response.links.get("next")) and expected is not None
        page = InvalidPage(resource=resource, page=label, request_path=where, bytes=size,
                           objects_recovered=len(objects), error=reason,
                           objects_lost=max(expected - len(objects), 0) if full else None)
        log.warning("shop API %s %s: body of %d bytes cut (%s) after %d attempt(s); %d complete objects"
                    " recovered, the rest of the page is lost", resource, label, size, reason, tries,
                    len(objects))
        if record is not None:
            record(page)
        return response

    return hook


def _refetch(session: requests.Session, response: Response, *, timeout: float) -> Response | None:
    """The same request again, without its hooks (they would run this one again)."""
    request = response.request.copy()
    request.hooks = {"response": []}
    try:
        return session.send(request, timeout=timeout)
    except requests.RequestException as exc:
        log.warning("shop API: fetching a cut page again failed: %s", exc.__class__.__name__)
        return None
