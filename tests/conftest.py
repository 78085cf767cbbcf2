"""Shared fixtures: seeded datasets with ground truth from the project's own generator (pipelines.demo).

The layout is the benchmark kit's (``erp.sqlite``, ``shop/``, ``sheets/``, ``truth/``) with the pipeline's
source names (sheet sources are file stems), so nothing outside the repository is needed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.demo import generate
from tests.pipeline_runs import DemoRun, make_demo_run

REPO = Path(__file__).resolve().parents[1]


def synth(out: Path, entities: int, seed: int = 7, bad_rows: float = 0.0) -> Path:
    """A generated dataset in ``out`` (shop pages of 250 customers, as the benchmark kit writes them)."""
    if not (out / "manifest.json").exists():
        generate(out, entities=entities, seed=seed, page_size=250, bad_rows=bad_rows)
    return out


@pytest.fixture(scope="session")
def synth_2k(tmp_path_factory) -> Path:
    """2,000 people, seed 7, 2 % bad rows (plus dirty ERP copies, a cut shop page, the GBK legacy export)."""
    return synth(tmp_path_factory.mktemp("synth") / "s2k", 2000, 7, 0.02)


@pytest.fixture(scope="session")
def synth_2k_clean(tmp_path_factory) -> Path:
    """2,000 people, seed 11, no bad rows."""
    return synth(tmp_path_factory.mktemp("synth") / "s2k_clean", 2000, 11, 0.0)


@pytest.fixture(scope="session")
def synth_300_clean(tmp_path_factory) -> Path:
    """300 people, seed 11, no bad rows: where a test needs realistic records but not many."""
    return synth(tmp_path_factory.mktemp("synth") / "s300_clean", 300, 11, 0.0)


@pytest.fixture(scope="session")
def shared_demo_run(tmp_path_factory):
    """``shared_demo_run(entities, seed)``: the demo sources of that size and seed run once per session
    (tests/pipeline_runs.py); take ``.copy(folder)`` before reading, changing or running again."""
    runs: dict[tuple[int, int], DemoRun] = {}

    def get(entities: int, seed: int) -> DemoRun:
        if (entities, seed) not in runs:
            base = tmp_path_factory.mktemp(f"demo_run_{entities}_{seed}")
            runs[entities, seed] = make_demo_run(base, entities=entities, seed=seed)
        return runs[entities, seed]

    return get


CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")


@pytest.fixture(scope="module")
def headless_chromium(tmp_path_factory):
    """``launch(window="1600,1000")``: Debian's Chromium through chromedriver with a fresh profile, quit
    after the module; the test is skipped when either binary or selenium is missing (CI installs them)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.skip(f"headless browser test needs {' and '.join(missing)} "
                    "(apt-get install -y chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (dev extra)")
    from selenium.webdriver.chrome.service import Service

    drivers = []

    def launch(*, window: str):
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        profile = tmp_path_factory.mktemp("chromium-profile")
        for flag in (*CHROMIUM_FLAGS, f"--window-size={window}", f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        driver.set_page_load_timeout(60)
        drivers.append(driver)
        return driver

    yield launch
    for driver in drivers:
        driver.quit()
