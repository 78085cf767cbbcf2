"""The review app's guards, on the app object: who may connect, which POSTs count, what is logged,
and how its decisions reach the warehouse."""

from __future__ import annotations

import base64
import logging
import re

import pytest
from starlette.testclient import TestClient

from pipelines.review import DECISIONS, import_pending_decisions
from pipelines.steward.app import SESSION_COOKIE, create_app
from pipelines.steward.store import DecisionStore, store_path
from pipelines.warehouse import Warehouse

from .conftest import EMAILS, PHONES

LOOPBACK = ("127.0.0.1", 50000)


def _token(page: str) -> str:
    return re.search(r'name="token" value="([0-9a-f]+)"', page).group(1)


def test_store_is_beside_the_warehouse(tiny_warehouse):
    assert store_path(tiny_warehouse) == tiny_warehouse.with_name("warehouse.decisions.sqlite")


def test_non_local_client_is_refused_without_credentials(tiny_warehouse):
    app = create_app(tiny_warehouse, users={})
    remote = TestClient(app, client=("203.0.113.7", 50000))
    r = remote.get("/queue")
    assert r.status_code == 403 and "CRM_GOLDEN_REVIEW_USERS" in r.text
    local = TestClient(app, client=("127.0.0.1", 50000))
    assert local.get("/queue").status_code == 200


def test_credentials_are_required_from_everyone_once_configured(tiny_warehouse):
    app = create_app(tiny_warehouse, users={"alice": "s3cret-pass"})
    remote = TestClient(app, client=("203.0.113.7", 50000))
    assert remote.get("/queue").status_code == 401
    wrong = base64.b64encode(b"alice:nope").decode()
    assert remote.get("/queue", headers={"Authorization": f"Basic {wrong}"}).status_code == 401
    good = base64.b64encode(b"alice:s3cret-pass").decode()
    r = remote.get("/queue", headers={"Authorization": f"Basic {good}"})
    assert r.status_code == 200 and "alice" in r.text


def test_decision_post_needs_the_page_token_and_same_origin(tiny_warehouse):
    client = TestClient(create_app(tiny_warehouse, users={}), client=LOOPBACK)
    page = client.get("/pair", params={"l": "erp:3", "r": "shop:4"})
    assert page.status_code == 200 and SESSION_COOKIE in client.cookies
    form = {"action": "accept", "id_l": "erp:3", "id_r": "shop:4"}
    assert client.post("/decide", data=form, follow_redirects=False).status_code == 403
    assert client.post("/decide", data={**form, "token": "0" * 64}, follow_redirects=False).status_code == 403
    evil = client.post("/decide", data={**form, "token": _token(page.text)}, follow_redirects=False,
                       headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403
    other = TestClient(create_app(tiny_warehouse, users={}), client=LOOPBACK)  # another session's token
    other.get("/queue")
    assert other.post("/decide", data={**form, "token": _token(page.text)}, follow_redirects=False).status_code == 403
    assert DecisionStore.beside(tiny_warehouse).rows() == []
    ok = client.post("/decide", data={**form, "token": _token(page.text), "note": "same person, typo"},
                     follow_redirects=False, headers={"Origin": "http://testserver"})
    assert ok.status_code == 303
    (row,) = DecisionStore.beside(tiny_warehouse).rows()
    assert (row["action"], row["constraint"], row["id_l"], row["id_r"], row["note"]) == \
        ("accept", "must_link", "erp:3", "shop:4", "same person, typo")
    assert row["decided_by"] and row["decided_at"] and row["imported_at"] is None


def test_decided_pairs_leave_the_queue_and_reach_the_warehouse_once(tiny_warehouse):
    client = TestClient(create_app(tiny_warehouse, users={"bob": "pw-bob-1"}), client=LOOPBACK,
                        headers={"Authorization": "Basic " + base64.b64encode(b"bob:pw-bob-1").decode()})
    page = client.get("/pair", params={"l": "erp:1", "r": "shop:2"})
    r = client.post("/decide", data={"action": "reject", "id_l": "erp:1", "id_r": "shop:2",
                                     "token": _token(page.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/pair?")
    queue = client.get("/queue").text
    assert 'id="total">2<' in queue
    wh = Warehouse(tiny_warehouse)
    assert import_pending_decisions(wh) == 1
    assert import_pending_decisions(wh) == 0  # already imported: nothing doubled
    got = wh.read(DECISIONS)
    assert got.select("action", "constraint", "id_l", "id_r", "decided_by").rows() == \
        [("reject", "cannot_link", "erp:1", "shop:2", "bob")]
    assert all(r["imported_at"] for r in DecisionStore.beside(tiny_warehouse).rows())


def test_bulk_decision_previews_then_needs_the_confirmed_count(tiny_warehouse):
    client = TestClient(create_app(tiny_warehouse, users={}), client=LOOPBACK)
    preview = client.get("/bulk", params={"min_p": "0.5", "max_p": "0.8", "action": "accept"})
    assert 'id="bulk-pairs">2<' in preview.text and 'id="bulk-customers">4<' in preview.text
    form = {"action": "accept", "min_p": "0.5", "max_p": "0.8", "token": _token(preview.text)}
    assert client.post("/bulk", data={**form, "expected": "3"}, follow_redirects=False).status_code == 409
    assert client.post("/bulk", data={**form, "expected": "2"}, follow_redirects=False).status_code == 303
    rows = DecisionStore.beside(tiny_warehouse).rows()
    assert sorted((r["id_l"], r["id_r"]) for r in rows) == [("erp:1", "sheet:5"), ("erp:3", "shop:4")]


def test_unmerge_and_merge_from_the_golden_view(tiny_warehouse):
    client = TestClient(create_app(tiny_warehouse, users={}), client=LOOPBACK)
    page = client.get("/golden/GC-a")
    assert page.status_code == 200 and "erp:1" in page.text and "shop:2" in page.text
    r = client.post("/golden/GC-a/unmerge", data={"record_id": "shop:2", "token": _token(page.text)},
                    follow_redirects=False)
    assert r.status_code == 303
    r = client.post("/golden/GC-b/merge", data={"other": "GC-c", "token": _token(page.text)}, follow_redirects=False)
    assert r.status_code == 303
    rows = [(d["action"], d["constraint"], d["id_l"], d["id_r"]) for d in DecisionStore.beside(tiny_warehouse).rows()]
    assert rows == [("unmerge", "cannot_link", "erp:1", "shop:2"), ("merge", "must_link", "erp:3", "shop:4")]
    bad = client.post("/golden/GC-a/unmerge", data={"record_id": "erp:3", "token": _token(page.text)})
    assert bad.status_code == 400 and "not in golden customer GC-a" in bad.text


def test_masked_mode_shows_no_contact_data_and_logs_carry_none(tiny_warehouse, caplog):
    caplog.set_level(logging.INFO)
    client = TestClient(create_app(tiny_warehouse, users={}, masked=True), client=LOOPBACK)
    pages = [client.get("/queue").text, client.get("/pair", params={"l": "erp:1", "r": "sheet:5"}).text,
             client.get("/golden/GC-a").text]
    page = pages[1]
    client.post("/decide", data={"action": "accept", "id_l": "erp:1", "id_r": "sheet:5", "token": _token(page),
                                 "note": "ok"})
    text = "\n".join(pages)
    assert "a***@example.org" in text and "+49 *** ** 67" in text
    for secret in [*EMAILS, *PHONES, "Berg"]:
        assert secret not in text
    assert "decision accept erp:1 ~ sheet:5" in caplog.text
    for secret in [*EMAILS, *PHONES]:
        assert secret not in caplog.text
    plain = TestClient(create_app(tiny_warehouse, users={}), client=LOOPBACK)
    full = plain.get("/pair", params={"l": "erp:1", "r": "sheet:5"}).text
    assert EMAILS[0] in full  # unmasked mode does show them: the check above can fail


def test_pair_view_highlights_differences_and_draws_the_waterfall(tiny_warehouse):
    client = TestClient(create_app(tiny_warehouse, users={}), client=LOOPBACK)
    page = client.get("/pair", params={"l": "shop:4", "r": "erp:3"}).text
    assert re.search(r'<tr class="differs"><th>given_name</th><td>Jon</td><td>John</td>', page)
    assert re.search(r'<tr class="same"><th>surname</th>', page)
    bars = re.findall(r'<rect [^>]*class="bar (\w+)"', page)
    assert bars == ["total", "down", "up", "total"]  # prior, email -3.0, name +2.5, total
    assert "+2.50" in page and "-3.00" in page


def test_missing_warehouse_is_one_line(tmp_path):
    r = TestClient(create_app(tmp_path / "nowhere.duckdb", users={}), client=LOOPBACK).get("/queue")
    assert r.status_code == 503 and "warehouse not found" in r.text


def test_no_read_while_a_run_holds_the_warehouse(tiny_warehouse):
    """The app opens the file only while it can take the run lock; during a run it keeps showing
    what it read before (and says so plainly when it has nothing yet)."""
    import fcntl
    import os
    import time

    from pipelines.warehouse import lock_path

    client = TestClient(create_app(tiny_warehouse, users={}), client=LOOPBACK)
    with open(lock_path(tiny_warehouse), "a+") as run:
        fcntl.flock(run, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a "run" in progress
        r = client.get("/queue")
        assert r.status_code == 503 and "a pipeline run is updating" in r.text
    assert client.get("/queue").status_code == 200
    with open(lock_path(tiny_warehouse), "a+") as run:
        fcntl.flock(run, fcntl.LOCK_EX | fcntl.LOCK_NB)
        old = time.time() - 60
        os.utime(tiny_warehouse, (old, old))  # the file changed, but the run still holds it
        r = client.get("/queue")
        assert r.status_code == 200 and 'id="total">3<' in r.text


def test_serve_refuses_a_public_bind_without_credentials(tiny_warehouse, monkeypatch, capsys):
    from pipelines.cli import main

    monkeypatch.delenv("CRM_GOLDEN_REVIEW_USERS", raising=False)
    monkeypatch.setenv("DLT_PROJECT_DIR", str(tiny_warehouse.parent))  # no .dlt secrets here
    code = main(["review", "serve", "--warehouse", str(tiny_warehouse), "--host", "0.0.0.0", "--port", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "refusing to serve on 0.0.0.0 without credentials" in err


@pytest.mark.parametrize("bad", ["alice", "alice:", ":pw"])
def test_malformed_user_list_is_one_line(bad, tiny_warehouse, monkeypatch, capsys):
    from pipelines.cli import main

    monkeypatch.setenv("CRM_GOLDEN_REVIEW_USERS", bad)
    assert main(["review", "serve", "--warehouse", str(tiny_warehouse), "--host", "0.0.0.0"]) == 2
    assert "entry 1 must be user:password" in capsys.readouterr().err
