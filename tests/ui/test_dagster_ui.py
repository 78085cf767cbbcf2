"""The Dagster UI, checked in a real headless browser after a full demo run: every asset of the job
is on the asset graph and in the catalog, and every asset check is listed as passed.

Expected assets and checks come from ``pipelines.definitions.defs``, the module ``workspace.yaml``
loads; screenshots go to ``test-artifacts/ui/``.
"""

from __future__ import annotations

import pytest

from pipelines.build import JOB_NAME

from .browser import page_text, texts, wait_for

pytestmark = pytest.mark.slow


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


def _graph_view(driver) -> tuple[str, ...] | dict[str, int] | None:
    """What the job's graph shows once drawn: the sorted node names when its groups are open, else
    ``{group: asset count}`` of the collapsed group boxes (a graph of this size opens collapsed, and an
    open one only draws the nodes in view); None until the whole job's graph is drawn."""
    if f"View {len(KEYS)} assets" not in page_text(driver) or not driver.find_elements("css selector",
                                                                                        "foreignObject"):
        return None
    names = tuple(sorted(texts(driver, "foreignObject [class*='AssetNode_assetName']")))
    if names:
        return names
    boxes = {}
    for text in texts(driver, "foreignObject"):
        lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
        counts = [int(ln) for ln in lines[1:] if ln.isdigit()]
        if lines and lines[0] in set(GROUPS.values()) and counts:
            boxes[lines[0]] = counts[0]
    return boxes or None


def test_asset_graph_shows_every_asset(dagster_ui, browser, artifacts):
    # room for the whole graph beside the Info panel even at the graph's closest first zoom: a box out of
    # view is not drawn at all
    browser.set_window_size(4200, 1400)
    browser.get(f"{dagster_ui.url}/locations/pipelines.definitions/jobs/{JOB_NAME}")
    names = tuple(sorted(k[-1] for k in KEYS))
    per_group: dict[str, int] = {}
    for group in GROUPS.values():
        per_group[group] = per_group.get(group, 0) + 1
    shown = wait_for(browser, _graph_view, "every asset of the job on its graph", settle=1.5,
                     until=lambda v: v == names or v == per_group, required=False)
    browser.save_screenshot(str(artifacts / "asset_graph.png"))
    assert shown in (names, per_group), f"graph shows {shown}, job has {names} in groups {per_group}"
    groups = set(GROUPS.values())
    lines = wait_for(browser, lambda d: set(page_text(d).split("\n")), "asset group labels",
                     until=lambda v: groups <= v, timeout=10, required=False)
    assert not groups - lines, f"asset groups not on the graph: {sorted(groups - lines)}"


def _catalog_rows(driver) -> dict[str, tuple[str, str]] | None:
    """Per asset key of the job: (link text, row text) in the catalog; None until every key is listed."""
    rows = {}
    for key in KEYS:
        links = driver.find_elements("css selector", f"a[href='/assets/{'/'.join(key)}']")
        if not links:
            return None
        row = links[0].find_element("xpath", "./ancestor::div[contains(@class, 'VirtualizedTable_row')]")
        rows[" / ".join(key)] = (links[0].text.strip(), row.text.replace("\n", " | "))
    return rows


def test_catalog_lists_every_asset_as_materialized(dagster_ui, browser, artifacts):
    browser.set_window_size(1600, 800 + 60 * len(KEYS))  # the catalog is virtualised: room for every row
    browser.get(f"{dagster_ui.url}/assets")
    wait_for(browser, _catalog_rows, "every asset key in the catalog", until=lambda v: v is not None)
    # each row's status arrives after the row itself ("Loading..." first)
    rows = wait_for(browser, _catalog_rows, "every asset materialized", settle=0.5, required=False,
                    until=lambda v: v is not None and all("Materialized" in text for _, text in v.values()))
    browser.save_screenshot(str(artifacts / "asset_catalog.png"))
    assert rows is not None, "the catalog stopped listing every asset key"
    assert {label: link for label, (link, _) in rows.items()} == {label: label for label in rows}
    not_materialized = [(label, text[:200]) for label, (_, text) in rows.items() if "Materialized" not in text]
    assert not not_materialized, not_materialized


@pytest.mark.parametrize("key", list(CHECKS), ids=["/".join(k) for k in CHECKS])
def test_asset_checks_are_listed_and_passed(dagster_ui, browser, artifacts, key):
    browser.set_window_size(1600, 1000)
    names = CHECKS[key]
    warn = _warning_checks(dagster_ui, key)
    browser.get(f"{dagster_ui.url}/assets/{'/'.join(key)}?view=checks")

    def checks_tab(d) -> tuple[bool, dict[str, str], int] | None:
        """(tab title shown, status per check, passed icons); None until every check has a row."""
        status = {}
        for name in names:
            cells = d.find_elements("xpath", f"//div[contains(@class, 'MiddleTruncate_container') "
                                             f"and @title='{name}']/..")
            if not cells or not cells[0].text.strip():
                return None
            status[name] = cells[0].text.split("\n")[-1].strip()
        return (f"Checks ({len(names)})" in page_text(d), status,
                len(d.find_elements("css selector", "[aria-label='check_circle']")))

    def settled(v) -> bool:
        """Every status final: error-level checks passed, warning-level ones passed or failed."""
        return v is not None and v[0] and v[2] >= len(set(names) - warn) and all(
            st in ("Succeeded", "Failed") if n in warn else st == "Succeeded" for n, st in v[1].items())

    wait_for(browser, checks_tab, f"checks {names} of {'/'.join(key)}", until=lambda v: v is not None)
    shown = wait_for(browser, checks_tab, f"final check statuses of {'/'.join(key)}", until=settled,
                     settle=0.5, timeout=20, required=False)
    shot = "asset_checks.png" if key == ("golden", "customers") else f"asset_checks_{'_'.join(key)}.png"
    browser.save_screenshot(str(artifacts / shot))
    assert shown is not None, f"the checks of {'/'.join(key)} stopped being listed"
    title_shown, status, passed_icons = shown
    assert title_shown, f"no 'Checks ({len(names)})' tab title"
    assert {n: st for n, st in status.items() if n not in warn} == dict.fromkeys(set(names) - warn, "Succeeded")
    assert all(status[n] in ("Succeeded", "Failed") for n in warn), status
    assert passed_icons >= len(set(names) - warn)


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
