"""The review app in headless Chromium against a real pipeline warehouse (demo generator, 300 people):
settle 20 pairs with the keyboard, reject a merged pair, unmerge a record, bulk-accept a filter;
the next run and a full rebuild carry every decision into the golden tables and golden.id_history.
Screenshots go to test-artifacts/steward/ (and to docs/img/ for docs/reviewing.md with
CRM_GOLDEN_UPDATE_DOCS_IMG=1)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import polars as pl
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
#: screenshots go here on every run; with CRM_GOLDEN_UPDATE_DOCS_IMG=1 also to docs/img/ for the docs
ARTIFACTS, DOCS_IMG = REPO / "test-artifacts" / "steward", REPO / "docs" / "img"
TIMEOUT = 30
#: a wide review band so that 300 demo people give enough pairs to settle
REVIEW_BAND = (0.05, 0.9999)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read(warehouse: Path, sql: str) -> pl.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.sql(sql).pl()
    finally:
        con.close()


def _run(sources: Path, warehouse: Path, settings: Path, **kw):
    from pipelines.runner import run_pipeline

    summary = run_pipeline(sources=sources, warehouse=warehouse, settings=str(settings), **kw)
    assert summary.success and summary.published, summary.render()
    return summary


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Demo sources, one pipeline run, and ``crm-golden review serve`` on a free port."""
    from dedupe import default_settings, dump_settings
    from pipelines.demo_data import generate

    tmp = tmp_path_factory.mktemp("review")
    sources, warehouse, settings, log = tmp / "sources", tmp / "warehouse.duckdb", tmp / "settings.yaml", tmp / "serve.log"
    generate(sources, entities=300, seed=42)
    dump_settings(default_settings().replace(review_band=REVIEW_BAND), settings)
    mp = pytest.MonkeyPatch()
    mp.setenv("DAGSTER_HOME", str(tmp / "dagster_home"))
    mp.setenv("CRM_GOLDEN_DATA", str(tmp / "data"))
    (tmp / "dagster_home").mkdir()
    _run(sources, warehouse, settings)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("CRM_GOLDEN_REVIEW_USERS", "CRM_GOLDEN_REVIEW_MASKED")}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "review", "serve", "--warehouse",
                                 str(warehouse), "--port", str(port)], cwd=REPO, env={**env, "PYTHONUNBUFFERED": "1"},
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")[-2000:]
            try:
                with urllib.request.urlopen(f"{url}/queue", timeout=10) as r:
                    assert r.status == 200
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, log.read_text(errors="replace")[-2000:]
                time.sleep(0.5)
        yield {"url": url, "sources": sources, "warehouse": warehouse, "settings": settings, "log": log}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        mp.undo()


@pytest.fixture(scope="module")
def browser(headless_chromium):
    return headless_chromium(window="1280,860")


def _wait(driver, condition, what: str):
    """Poll ``condition`` until true; on timeout fail with the page text."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, TIMEOUT, poll_frequency=0.2).until(lambda d: condition(d))
    except TimeoutException:
        body = driver.find_element("tag name", "body").text[:1500]
        pytest.fail(f"{what} not shown within {TIMEOUT}s at {driver.current_url}; page text:\n{body}")


def _page(driver) -> str:
    """``<main id>|<data-pair>`` of the page now shown ('' while it loads)."""
    return driver.execute_script(
        "var m = document.querySelector('main'); return document.readyState === 'complete' && m ? "
        "m.id + '|' + (m.dataset.pair || '') : '';") or ""


def _press(driver, key: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(key).perform()


def _shot(driver, name: str) -> None:
    folders = [ARTIFACTS, DOCS_IMG] if os.environ.get("CRM_GOLDEN_UPDATE_DOCS_IMG") == "1" else [ARTIFACTS]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(folder / name))


def _store(warehouse: Path) -> pl.DataFrame:
    from pipelines.review import store_decisions

    return store_decisions(warehouse)


def _golden_ids(warehouse: Path) -> dict[str, str]:
    return dict(_read(warehouse, "select record_id, golden_id from golden.crosswalk").iter_rows())


def _check_constraints_hold(warehouse: Path) -> tuple[int, int]:
    """Every latest cannot-link pair is apart; every must-link pair is together unless its group of
    must-links also holds a cannot-link pair. Returns (must, cannot) counts checked."""
    from pipelines.review import constraints
    from pipelines.warehouse import Warehouse

    must, cannot = constraints(Warehouse(warehouse))
    gid = _golden_ids(warehouse)
    parent: dict[str, str] = {}

    def find(x):
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for a, b in must.iter_rows():
        parent[find(a)] = find(b)
    blocked = {find(a) for a, b in cannot.iter_rows() if find(a) == find(b)}
    for a, b in cannot.iter_rows():
        assert gid[a] != gid[b], f"rejected pair {a} ~ {b} is still one golden customer"
    together = 0
    for a, b in must.iter_rows():
        if find(a) not in blocked:
            assert gid[a] == gid[b], f"accepted pair {a} ~ {b} is not one golden customer"
            together += 1
    return together, cannot.height


def test_settle_pairs_in_the_browser_and_the_next_runs_keep_them(site, browser):
    url, warehouse = site["url"], site["warehouse"]
    queue0 = _read(warehouse, "select * from golden.review_queue")
    cw0 = _read(warehouse, "select record_id, golden_id from golden.crosswalk")
    assert queue0.height >= 30, f"only {queue0.height} pairs to review: the demo data changed"

    browser.get(f"{url}/queue")
    _wait(browser, lambda d: _page(d).startswith("queue|"), "the review queue")
    assert browser.find_element("id", "total").text == str(queue0.height)
    _shot(browser, "review-queue.png")

    # 1. twenty decisions from the keyboard, one key each (and one skip)
    _press(browser, "\ue007")  # Enter: start with the first pair
    _wait(browser, lambda d: _page(d).startswith("pair|"), "the first pair")
    _shot(browser, "review-pair.png")
    settled, skipped = [], None
    while len(settled) < 20:
        now = _page(browser)
        pair = tuple(now.split("|", 1)[1].split("|"))
        key = "s" if skipped is None and len(settled) == 3 else ("r" if len(settled) % 5 == 4 else "a")
        _press(browser, key)
        _wait(browser, lambda d, now=now: _page(d) not in ("", now), f"the page after pressing {key!r}")
        if key == "s":
            skipped = pair
        else:
            settled.append(("accept" if key == "a" else "reject", *pair))
    store = _store(warehouse)
    assert sorted(store.select("action", "id_l", "id_r").rows()) == sorted(settled)
    assert skipped not in {(a, b) for _, a, b in settled}

    # 2. reject a pair that is merged now, far from the pairs settled above
    touched = {r for _, a, b in settled for r in (a, b)}
    gid0 = dict(cw0.iter_rows())
    touched_gids = {gid0[r] for r in touched}
    merged = queue0.filter(pl.col("merged") & ~pl.col("golden_id_l").is_in(list(touched_gids)))
    assert merged.height, "no merged pair left to reject"
    a, b = merged.row(0, named=True)["id_l"], merged.row(0, named=True)["id_r"]
    browser.get(f"{url}/pair?l={a}&r={b}")
    _wait(browser, lambda d: _page(d) == f"pair|{a}|{b}", "the merged pair")
    _press(browser, "r")
    _wait(browser, lambda d: _page(d) not in ("", f"pair|{a}|{b}"), "the page after rejecting the merged pair")
    touched_gids.add(gid0[a])

    # 3. unmerge one record of an untouched golden customer of three or more records
    sizes = cw0.group_by("golden_id").agg(pl.col("record_id").sort()).filter(
        (pl.col("record_id").list.len() >= 3) & ~pl.col("golden_id").is_in(list(touched_gids)))
    assert sizes.height, "no golden customer with three records to unmerge from"
    golden, members = sizes.row(0)
    browser.get(f"{url}/golden/{golden}")
    _wait(browser, lambda d: _page(d).startswith("golden|"), "the golden customer")
    _shot(browser, "review-golden.png")
    moved = members[0]
    browser.find_element("css selector", f'[data-record="{moved}"] form.unmerge button').click()
    _wait(browser, lambda d: d.find_elements("id", "flash"), "the unmerge confirmation")
    touched_gids.add(golden)

    # 4. bulk-accept one blocking rule's remaining pairs above 0.5, after the preview
    pending = queue0.join(_store(warehouse).select("id_l", "id_r"), on=["id_l", "id_r"], how="anti").filter(
        (pl.col("match_probability") >= 0.5) & pl.col("rule").is_not_null())
    rule = pending.group_by("rule").len().sort(["len", "rule"], descending=[True, False])["rule"][0]
    expected = pending.filter(pl.col("rule") == rule)
    browser.get(f"{url}/bulk?rule={rule}&min_p=0.5&action=accept")
    _wait(browser, lambda d: _page(d).startswith("bulk|"), "the bulk preview")
    assert browser.find_element("id", "bulk-pairs").text == str(expected.height)
    _shot(browser, "review-bulk.png")
    browser.find_element("id", "confirm").click()
    _wait(browser, lambda d: d.find_elements("id", "flash"), "the bulk confirmation")
    store = _store(warehouse)
    bulk = store.filter(pl.col("decided_at") >= store.filter(pl.col("action") == "unmerge")["decided_at"].max())
    assert sorted(bulk.filter(pl.col("action") == "accept").select("id_l", "id_r").rows()) == \
        sorted(expected.select("id_l", "id_r").rows())

    # 5. the next run imports every decision and the golden tables follow them
    _run(site["sources"], warehouse, site["settings"])
    imported = _read(warehouse, "select decision_id from golden.steward_decisions")
    assert set(store["decision_id"]) <= set(imported["decision_id"]) and imported.height == store.height
    must, cannot = _check_constraints_hold(warehouse)
    assert must >= 10 and cannot >= 4
    gid1 = _golden_ids(warehouse)
    assert gid1[a] != gid1[b]
    assert all(gid1[moved] != gid1[m] for m in members[1:])
    joined = [(x, y) for act, x, y in settled if act == "accept" and gid0[x] != gid0[y] and gid1[x] == gid1[y]]
    assert joined, "no accepted pair joined two golden customers"
    retired = set(_read(warehouse, "select retired_id from golden.id_history")["retired_id"])
    gone = {gid0[r] for pair in joined for r in pair} - set(gid1.values())
    assert gone and gone <= retired, "golden ids retired by accepted pairs are missing from golden.id_history"

    # 6. a full rebuild keeps them all
    _run(site["sources"], warehouse, site["settings"], full_rebuild=True)
    assert _golden_ids(warehouse) == gid1
    _check_constraints_hold(warehouse)

    # 7. the server's log names records, never their contact data
    staged = _read(warehouse, "select email, phone from staging.customers")
    secrets = {v for v in [*staged["email"].to_list(), *staged["phone"].to_list()] if v and len(v) >= 6}
    log = site["log"].read_text(errors="replace")
    assert "decision accept" in log and "bulk accept" in log
    leaked = sorted(s for s in secrets if s in log)
    assert not leaked, f"{len(leaked)} contact values in the review app's log"
