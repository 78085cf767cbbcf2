"""The Dagster UI, checked in a real headless browser after a full demo run: every asset of the job
is on the asset graph and in the catalog, and every asset check is listed as passed.

Expected assets and checks come from ``pipelines.definitions.defs``, the module ``workspace.yaml``
loads; screenshots go to ``test-artifacts/ui/``.
"""

from __future__ import annotations

from collections import Counter

import pytest

from pipelines.build import JOB_NAME

pytestmark = pytest.mark.slow

PAGE_TIMEOUT = 45


def _job_assets() -> tuple[list[tuple[str, ...]], dict[tuple[str, ...], str], dict[tuple[str, ...], list[str]]]:
    """(asset key paths, group per asset, check names per asset) of the job, from the definitions."""
    from pipelines.definitions import defs

    layer = defs.resolve_job_def(JOB_NAME).asset_layer
    keys = sorted(tuple(k.path) for k in layer.selected_asset_keys)
    groups = {tuple(k.path): layer.asset_graph.get(k).group_name for k in layer.selected_asset_keys}
    checks: dict[tuple[str, ...], list[str]] = {}
    for check in layer.asset_graph.asset_check_keys:
        checks.setdefault(tuple(check.asset_key.path), []).append(check.name)
    return keys, groups, {k: sorted(v) for k, v in sorted(checks.items())}


KEYS, GROUPS, CHECKS = _job_assets()


def _wait(driver, condition, what: str, *, timeout: float = PAGE_TIMEOUT, required: bool = True):
    """Poll ``condition`` until true; on timeout fail with the page text (or return False)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.5).until(lambda d: condition(d))
    except TimeoutException:
        if not required:
            return False
        body = driver.find_element("tag name", "body").text[:1500]
        pytest.fail(f"{what} not shown within {PAGE_TIMEOUT}s at {driver.current_url}; page text:\n{body}")


def _graph_node_names(driver) -> list[str]:
    return [e.text.strip() for e in driver.find_elements(
        "css selector", "foreignObject [class*='AssetNode_assetName']") if e.text.strip()]


def test_definitions_have_the_expected_shape():
    """Guards the browser tests against passing vacuously on an empty job."""
    assert len(KEYS) >= 10 and {k[0] for k in KEYS} >= {"raw", "staging", "matching", "golden"}
    assert sum(len(v) for v in CHECKS.values()) >= 10


def test_run_is_served_and_graphql_reports_checks_passed(dagster_ui):
    assert dagster_ui.run_success, dagster_ui.failed_steps
    data = dagster_ui.graphql(
        "{ assetNodes { assetKey { path } assetMaterializations(limit: 1) { runId } "
        "assetChecksOrError { __typename ... on AssetChecks { checks { name "
        "executionForLatestMaterialization { status evaluation { success severity } } } } } } }")
    nodes = {tuple(n["assetKey"]["path"]): n for n in data["assetNodes"]}
    assert set(KEYS) <= set(nodes), sorted(set(KEYS) - set(nodes))
    assert all(nodes[k]["assetMaterializations"] for k in KEYS), "an asset of the job was never materialised"
    served = {key: {c["name"]: c["executionForLatestMaterialization"]
                    for c in nodes[key]["assetChecksOrError"]["checks"]} for key in CHECKS}
    assert {k: sorted(v) for k, v in served.items()} == CHECKS
    # error-level checks must pass; warnings may fire (the demo data holds bad rows on purpose)
    # but must have been evaluated
    not_passed = {f"{'/'.join(k)}:{name}": ex for k, checks in served.items() for name, ex in checks.items()
                  if not ex or not ex["evaluation"]
                  or (not ex["evaluation"]["success"] and ex["evaluation"]["severity"] != "WARN")}
    assert not not_passed, not_passed


def test_sheets_sensor_is_served_stopped(dagster_ui):
    data = dagster_ui.graphql(
        '{ sensorsOrError(repositorySelector: {repositoryName: "__repository__", '
        'repositoryLocationName: "pipelines.definitions"}) { __typename ... on Sensors { results { '
        "name minIntervalSeconds sensorState { status } targets { pipelineName } } } } }")
    sensors = {s["name"]: s for s in data["sensorsOrError"]["results"]}
    sensor = sensors["sheets_folder_sensor"]
    assert sensor["sensorState"]["status"] == "STOPPED"
    assert [t["pipelineName"] for t in sensor["targets"]] == [JOB_NAME]
    assert sensor["minIntervalSeconds"] == 60


def test_asset_graph_shows_every_asset(dagster_ui, browser, artifacts):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    browser.set_window_size(2200, 1100)  # room for the whole graph beside the Info panel
    browser.get(f"{dagster_ui.url}/locations/pipelines.definitions/jobs/{JOB_NAME}")
    _wait(browser, lambda d: f"View {len(KEYS)} assets" in d.find_element("tag name", "body").text
          and d.find_elements("css selector", "foreignObject"), "the job's asset graph")
    expected = Counter(k[-1] for k in KEYS)
    for _ in range(2):  # Alt+E toggles "expand all groups"; a second press if they started expanded
        if Counter(_graph_node_names(browser)) == expected:
            break
        ActionChains(browser).key_down(Keys.ALT).send_keys("e").key_up(Keys.ALT).perform()
        _wait(browser, lambda d: Counter(_graph_node_names(d)) == expected, "every asset node",
              timeout=20, required=False)
    names = Counter(_graph_node_names(browser))
    browser.save_screenshot(str(artifacts / "asset_graph.png"))
    assert names == expected, f"graph shows {sorted(names.elements())}, job has {sorted(expected.elements())}"
    body = browser.find_element("tag name", "body").text
    missing_groups = sorted(set(GROUPS.values()) - set(body.split("\n")))
    assert not missing_groups, f"asset groups not on the graph: {missing_groups}"


def test_catalog_lists_every_asset_as_materialized(dagster_ui, browser, artifacts):
    browser.set_window_size(1600, 1400)  # the catalog is virtualised: room for every row
    browser.get(f"{dagster_ui.url}/assets")
    labels = {k: " / ".join(k) for k in KEYS}
    _wait(browser, lambda d: all(d.find_elements("css selector", f"a[href='/assets/{'/'.join(k)}']")
                                 for k in KEYS), "every asset key in the catalog")
    _wait(browser, lambda d: "Materialized" in d.find_element("tag name", "body").text, "asset status")
    browser.save_screenshot(str(artifacts / "asset_catalog.png"))
    not_materialized = []
    for key, label in labels.items():
        link = browser.find_element("css selector", f"a[href='/assets/{'/'.join(key)}']")
        assert link.text.strip() == label
        row = link.find_element("xpath", "./ancestor::div[contains(@class, 'VirtualizedTable_row')]")
        if "Materialized" not in row.text:
            not_materialized.append((label, row.text.replace("\n", " | ")[:200]))
    assert not not_materialized, not_materialized


@pytest.mark.parametrize("key", list(CHECKS), ids=["/".join(k) for k in CHECKS])
def test_asset_checks_are_listed_and_passed(dagster_ui, browser, artifacts, key):
    browser.set_window_size(1600, 1000)
    browser.get(f"{dagster_ui.url}/assets/{'/'.join(key)}?view=checks")
    names = CHECKS[key]

    def rows(d) -> dict[str, str]:
        found = {}
        for name in names:
            cells = d.find_elements("xpath", f"//div[contains(@class, 'MiddleTruncate_container') "
                                             f"and @title='{name}']/..")
            if cells:
                found[name] = cells[0].text
        return found

    _wait(browser, lambda d: len(rows(d)) == len(names) and all(t.strip() for t in rows(d).values()),
          f"checks {names} of {'/'.join(key)}")
    body = browser.find_element("tag name", "body").text
    shot = "asset_checks.png" if key == ("golden", "customers") else f"asset_checks_{'_'.join(key)}.png"
    browser.save_screenshot(str(artifacts / shot))
    assert f"Checks ({len(names)})" in body
    status = {name: text.split("\n")[-1].strip() for name, text in rows(browser).items()}
    warn = _warning_checks(dagster_ui, key)
    assert {n: st for n, st in status.items() if n not in warn} == dict.fromkeys(set(names) - warn, "Succeeded")
    assert all(status[n] in ("Succeeded", "Failed") for n in warn), status
    passed_icons = browser.find_elements("css selector", "[aria-label='check_circle']")
    assert len(passed_icons) >= len(set(names) - warn)


def _warning_checks(dagster_ui, key) -> set[str]:
    """Checks of ``key`` whose latest evaluation failed at WARN severity (shown, not blocking)."""
    path = ", ".join(f'"{p}"' for p in key)
    data = dagster_ui.graphql(
        f"{{ assetNodeOrError(assetKey: {{path: [{path}]}}) {{ ... on AssetNode {{ assetChecksOrError {{ "
        "... on AssetChecks { checks { name executionForLatestMaterialization { evaluation { success "
        "severity } } } } } } } }")
    checks = data["assetNodeOrError"]["assetChecksOrError"]["checks"]
    return {c["name"] for c in checks if (ev := (c["executionForLatestMaterialization"] or {}).get("evaluation"))
            and not ev["success"] and ev["severity"] == "WARN"}
