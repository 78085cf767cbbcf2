"""The review app: queue, pair view, golden customer view, bulk decisions (Starlette + Jinja2).

Security: without configured users only loopback clients are served; with users every request
needs HTTP basic auth. Every POST needs the per-session token of the page it came from and, when
the browser sends one, an Origin of this very server. Decisions are written to the decision store
(never the warehouse) with who, when and the note; the log names record ids, never their values.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import polars as pl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from pipelines.review import ReviewError, merge_rows, pair_rows, stamped, store_decisions, unmerge_rows
from pipelines.steward import views
from pipelines.steward.data import FILTERS, ReviewData, WarehouseUnavailable, facets, filter_queue
from pipelines.steward.store import DecisionStore

log = logging.getLogger("crm_golden.review")
HERE = Path(__file__).parent
LOCAL_HOSTS = frozenset({"127.0.0.1", "::1"})
SESSION_COOKIE = "crm_review_session"
PAGE_SIZE = 50
USERS_ENV = "CRM_GOLDEN_REVIEW_USERS"
MASKED_ENV = "CRM_GOLDEN_REVIEW_MASKED"


class ConfigError(Exception):
    """The app cannot start as configured (one line)."""


def configured_users() -> dict[str, str]:
    """``user:password`` pairs from ``CRM_GOLDEN_REVIEW_USERS`` (comma separated), else from
    ``[review] users`` in the dlt secrets (``.dlt/secrets.toml``)."""
    raw = os.environ.get(USERS_ENV, "").strip()
    if not raw:
        try:
            import dlt  # lazy: dlt (slow to import) only when the environment names no reviewers

            raw = str(dlt.secrets.get("review.users") or "").strip()
        except Exception:  # noqa: BLE001 - no dlt config at all is the same as no users
            raw = ""
    users = {}
    for i, item in enumerate(filter(None, (p.strip() for p in raw.split(","))), start=1):
        name, sep, password = item.partition(":")
        if not sep or not name or not password:
            raise ConfigError(f"{USERS_ENV} entry {i} must be user:password")
        users[name] = password
    return users


def masked_default() -> bool:
    return os.environ.get(MASKED_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def create_app(warehouse: str | Path, *, masked: bool | None = None, users: dict[str, str] | None = None,
               data: ReviewData | None = None) -> Starlette:
    """The app over one warehouse; ``users`` None reads the configuration."""
    warehouse = Path(warehouse).absolute()
    users = configured_users() if users is None else users
    masked = masked_default() if masked is None else masked
    data = data or ReviewData(warehouse)
    store = DecisionStore.beside(warehouse)
    secret = secrets.token_bytes(32)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    local_user = _login_name()

    def token_for(sid: str) -> str:
        return hmac.new(secret, sid.encode(), hashlib.sha256).hexdigest()

    def who(request: Request) -> str:
        return request.state.user or local_user

    def page(request: Request, name: str, status: int = 200, **ctx) -> Response:
        ctx.update(masked=masked, token=token_for(request.state.sid), user=who(request), threshold=data.threshold)
        return templates.TemplateResponse(request, name, ctx, status_code=status)

    def fail(request: Request, status: int, message: str) -> Response:
        return page(request, "error.html", status=status, message=message)

    async def form(request: Request) -> dict[str, str]:
        """The url-encoded form of a POST, after the token and Origin checks (raises _Refused)."""
        origin = request.headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host", ""):
            raise _Refused("cross-site request refused (Origin does not match this server)")
        body = (await request.body()).decode("utf-8", "replace")
        fields = {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
        sent, sid = fields.get("token", ""), request.cookies.get(SESSION_COOKIE, "")
        if not sid or not hmac.compare_digest(sent, token_for(sid)):
            raise _Refused("missing or wrong form token: reload the page and try again")
        return fields

    def snapshot():
        return data.get()

    def record_decisions(request: Request, rows: list[tuple], what: str) -> int:
        n = store.add(stamped(rows, who(request)))
        log.info("decision %s: %d constraint(s) by %s", what, n, who(request))
        return n

    def pending_pairs() -> pl.DataFrame:
        return store_decisions(warehouse).select("id_l", "id_r").unique()

    def open_queue(filters: dict[str, str]) -> pl.DataFrame:
        q = filter_queue(snapshot().queue, filters)
        done = pending_pairs()
        return q.join(done, on=["id_l", "id_r"], how="anti") if done.height else q

    async def queue_page(request: Request) -> Response:
        filters = _filters(request.query_params)
        snap = snapshot()
        done = pending_pairs()
        base = snap.queue.join(done, on=["id_l", "id_r"], how="anti") if done.height else snap.queue
        q = filter_queue(base, filters)
        n_page = max(0, int(request.query_params.get("page", "0") or 0))
        rows = q.slice(n_page * PAGE_SIZE, PAGE_SIZE).to_dicts()
        return page(request, "queue.html", rows=rows, total=q.height, all_pending=base.height,
                    facets=facets(base, filters), filters=filters, qs=_qs(filters), page_no=n_page,
                    pages=(q.height + PAGE_SIZE - 1) // PAGE_SIZE, decided=done.height,
                    loaded_at=snap.loaded_at)

    async def pair_page(request: Request) -> Response:
        filters = _filters(request.query_params)
        id_l, id_r = sorted((request.query_params.get("l", ""), request.query_params.get("r", "")))
        snap = snapshot()
        a, b = views.record(snap, id_l), views.record(snap, id_r)
        if a is None or b is None:
            return fail(request, 404, "unknown record id (use source:source_record_id)")
        hit = snap.queue.filter((pl.col("id_l") == id_l) & (pl.col("id_r") == id_r))
        pair = hit.row(0, named=True) if hit.height else None
        q = open_queue(filters)
        nxt = _after(q, id_l, id_r)
        return page(request, "pair.html", a=a, b=b, pair=pair, rows=views.side_by_side(a, b, masked=masked),
                    chart=views.waterfall(pair) if pair else None, qs=_qs(filters), filters=filters,
                    others_a=views.golden_members(snap, a.get("golden_id"), exclude=(id_l, id_r), masked=masked),
                    others_b=views.golden_members(snap, b.get("golden_id"), exclude=(id_l, id_r), masked=masked)
                    if b.get("golden_id") != a.get("golden_id") else [],
                    next_pair=nxt, remaining=q.height)

    async def decide(request: Request) -> Response:
        try:
            f = await form(request)
        except _Refused as exc:
            return fail(request, 403, str(exc))
        action, id_l, id_r = f.get("action", ""), f.get("id_l", ""), f.get("id_r", "")
        snap = snapshot()
        if views.record(snap, id_l) is None or views.record(snap, id_r) is None:
            return fail(request, 404, "unknown record id (use source:source_record_id)")
        try:
            rows = pair_rows(action, [(id_l, id_r)], note=f.get("note", "").strip())
        except ReviewError as exc:
            return fail(request, 400, str(exc))
        filters = _filters(f)
        q = open_queue(filters)  # before recording: the pair after this one in the same order
        nxt = _after(q, *sorted((id_l, id_r)))
        record_decisions(request, rows, f"{action} {id_l} ~ {id_r}")
        if nxt is None:
            return RedirectResponse(f"/queue?{_qs(filters)}&done=1", status_code=303)
        return RedirectResponse(f"/pair?{urlencode({'l': nxt[0], 'r': nxt[1]})}&{_qs(filters)}", status_code=303)

    async def golden_page(request: Request) -> Response:
        gid = request.path_params["golden_id"]
        model = views.golden_page(snapshot(), gid, masked=masked)
        if model is None:
            return fail(request, 404, f"golden id {gid} is not in golden.customers or golden.id_history")
        return page(request, "golden.html", g=model, msg=request.query_params.get("msg", ""))

    async def golden_action(request: Request) -> Response:
        gid, action = request.path_params["golden_id"], request.path_params["action"]
        try:
            f = await form(request)
        except _Refused as exc:
            return fail(request, 403, str(exc))
        cw = snapshot().table("crosswalk")
        note = f.get("note", "").strip()
        try:
            if action == "unmerge":
                rid = f.get("record_id", "")
                if cw.filter((pl.col("record_id") == rid) & (pl.col("golden_id") == gid)).height == 0:
                    raise ReviewError(f"record {rid} is not in golden customer {gid}")
                rows = unmerge_rows(cw, rid, into=f.get("into", "").strip() or None, note=note)
                what = f"unmerge {rid} from {gid}"
            elif action == "merge":
                other = f.get("other", "").strip()
                rows = merge_rows(cw, gid, other, note=note)
                what = f"merge {other} into {gid}"
            else:
                return fail(request, 404, f"unknown action {action}")
        except ReviewError as exc:
            return fail(request, 400, str(exc))
        n = record_decisions(request, rows, what)
        msg = f"recorded: {what} ({n} constraints); applies from the next run"
        return RedirectResponse(f"/golden/{gid}?{urlencode({'msg': msg})}", status_code=303)

    def bulk_effect(filters: dict[str, str], action: str) -> dict:
        q = open_queue(filters)
        changing = q.filter(~pl.col("merged")) if action == "accept" else q.filter(pl.col("merged"))
        customers = pl.concat([changing["golden_id_l"], changing["golden_id_r"]]).drop_nulls().n_unique() \
            if changing.height else 0
        return {"pairs": q.height, "changing_pairs": changing.height, "customers": customers,
                "sample": q.head(15).to_dicts(), "frame": q}

    async def bulk_page(request: Request) -> Response:
        filters = _filters(request.query_params)
        action = request.query_params.get("action", "accept")
        if action not in ("accept", "reject"):
            return fail(request, 400, "bulk action must be accept or reject")
        effect = bulk_effect(filters, action)
        return page(request, "bulk.html", filters=filters, qs=_qs(filters), action=action,
                    effect=effect, facets=facets(open_queue({}), filters))

    async def bulk_commit(request: Request) -> Response:
        try:
            f = await form(request)
        except _Refused as exc:
            return fail(request, 403, str(exc))
        filters, action = _filters(f), f.get("action", "")
        if action not in ("accept", "reject"):
            return fail(request, 400, "bulk action must be accept or reject")
        q = open_queue(filters)
        if str(q.height) != f.get("expected", ""):
            return fail(request, 409, f"the filter now matches {q.height} pairs, not {f.get('expected')}: "
                        "preview again before confirming")
        if q.height == 0:
            return fail(request, 400, "no pairs match this filter")
        rows = pair_rows(action, q.select("id_l", "id_r").iter_rows(), note=f.get("note", "").strip())
        n = record_decisions(request, rows, f"bulk {action} of {q.height} pairs ({_qs(filters)})")
        return RedirectResponse(f"/queue?{urlencode({'bulk': f'{action}: {n} pairs recorded'})}", status_code=303)

    async def decisions_page(request: Request) -> Response:
        rows = list(reversed(store.rows()))[:500]
        return page(request, "decisions.html", rows=rows)

    async def index(request: Request) -> Response:
        return RedirectResponse("/queue", status_code=303)

    app = Starlette(routes=[
        Route("/", index),
        Route("/queue", queue_page),
        Route("/pair", pair_page),
        Route("/decide", decide, methods=["POST"]),
        Route("/golden/{golden_id}", golden_page),
        Route("/golden/{golden_id}/{action}", golden_action, methods=["POST"]),
        Route("/bulk", bulk_page),
        Route("/bulk", bulk_commit, methods=["POST"]),
        Route("/decisions", decisions_page),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ])
    app.add_middleware(_Guard, users=users, fail=fail)
    app.state.data, app.state.store, app.state.masked = data, store, masked
    return app


class _Refused(Exception):
    pass


class _Guard:
    """Access control (loopback only, or basic auth for configured users), the session cookie,
    and one-line pages for a warehouse that cannot be read right now."""

    def __init__(self, app, *, users: dict[str, str], fail):
        self.app, self.users, self.fail = app, users, fail

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope, receive)
        client = scope.get("client")[0] if scope.get("client") else ""
        scope.setdefault("state", {})
        state = request.state
        state.user = None
        sid = request.cookies.get(SESSION_COOKIE, "")
        new_sid = None if len(sid) >= 32 else secrets.token_urlsafe(32)
        state.sid = sid if new_sid is None else new_sid
        if self.users:
            user = _basic_user(request.headers.get("authorization", ""), self.users)
            if user is None:
                return await PlainTextResponse("credentials required", status_code=401, headers={
                    "WWW-Authenticate": 'Basic realm="crm-golden review", charset="UTF-8"'})(scope, receive, send)
            state.user = user
        elif client not in LOCAL_HOSTS:
            log.warning("refused a request from a non-local address (no reviewers configured)")
            return await PlainTextResponse(
                f"refused: this review app serves only this machine unless {USERS_ENV} is configured",
                status_code=403)(scope, receive, send)

        async def send_with_cookie(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin"),
                            (b"content-security-policy",
                             (b"default-src 'self'; img-src 'self' data:; style-src 'self'; "
                             b"script-src 'self'; form-action 'self'; frame-ancestors 'none'"))]
                if new_sid:
                    headers.append((b"set-cookie", f"{SESSION_COOKIE}={new_sid}; Path=/; HttpOnly; "
                                                   "SameSite=Strict".encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_cookie)
        except WarehouseUnavailable as exc:
            await self.fail(request, 503, str(exc))(scope, receive, send_with_cookie)
        except ValueError as exc:  # a malformed filter value
            await self.fail(request, 400, str(exc).splitlines()[0])(scope, receive, send_with_cookie)


def _basic_user(header: str, users: dict[str, str]) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        name, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    expected = users.get(name)
    ok = expected is not None and hmac.compare_digest(password.encode(), expected.encode())
    return name if ok else None


def _filters(params) -> dict[str, str]:
    return {k: str(params.get(k, "") or "").strip() for k in FILTERS if str(params.get(k, "") or "").strip()}


def _qs(filters: dict[str, str]) -> str:
    return urlencode(filters)


def _after(q: pl.DataFrame, id_l: str, id_r: str) -> tuple[str, str] | None:
    """The pair after (id_l, id_r) in the queue's order, else its first other pair."""
    pairs = q.select("id_l", "id_r").rows()
    if (id_l, id_r) in pairs:
        i = pairs.index((id_l, id_r))
        rest = pairs[i + 1:] + pairs[:i]
    else:
        rest = pairs
    return rest[0] if rest else None


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
