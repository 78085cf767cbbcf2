"""Shared fixtures: seeded datasets with ground truth from the project's own generator (pipelines.demo).

The layout is the benchmark kit's (``erp.sqlite``, ``shop/``, ``sheets/``, ``truth/``) with the pipeline's
source names (sheet sources are file stems), so nothing outside the repository is needed.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
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


#: test files that share an expensive session fixture; under ``--dist loadgroup`` (pytest-xdist) the files
#: of a group run in one test process, every other file is a group of its own. Groups start first, in
#: this order (the longest first)
XDIST_GROUPS = {
    "tests/spark/": "spark",  # one JVM and the engines' 2k runs (tests/spark/conftest.py)
    # the files that start from ``shared_demo_run(150, 3)``, and from ``shared_demo_run(150, 42)``
    "tests/golden/test_runs_e2e.py": "demo_run_150_3",
    "tests/golden/test_deletions.py": "demo_run_150_3",
    "tests/quality/test_renamed_columns.py": "demo_run_150_3",
    "tests/test_large_pipeline.py": "demo_run_150_3",
    "tests/golden/test_determinism.py": "demo_run_150_42",
    "tests/connectors/test_configured_sources.py": "demo_run_150_42",
    "tests/privacy/": "privacy",  # one ``crm-golden run`` over demo sources (tests/privacy/conftest.py)
}


def xdist_group(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return next((group for prefix, group in XDIST_GROUPS.items() if path.startswith(prefix)), path)


_SESSION_DATA = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    """Runs and Dagster definitions that a test does not point elsewhere keep their files in a folder of
    this test process, not in the checkout's data/ (nor a Dagster home exported by the Makefile), so
    parallel test processes never share a warehouse, dlt state or Dagster instance."""
    _worker_main_has_a_file()
    folder = Path(tempfile.mkdtemp(prefix="crm-golden-tests-"))
    config.stash[_SESSION_DATA] = folder
    os.environ["CRM_GOLDEN_DATA"] = str(folder / "data")
    os.environ["DAGSTER_HOME"] = str(folder / "dagster_home")


def _worker_main_has_a_file() -> None:
    """A pytest-xdist worker's ``__main__`` (execnet's) has neither ``__spec__`` nor ``__file__``, and
    ``pyspark.sql.connect`` (imported by Great Expectations and by the Spark Connect check) takes such a
    process for a doctest run and calls ``sys.exit(0)`` when its optional extra is missing. The worker's
    main program is xdist's remote module: give ``__main__`` its file, as a ``python file.py`` has."""
    main = sys.modules["__main__"]
    if os.environ.get("PYTEST_XDIST_WORKER") and getattr(main, "__spec__", None) is None \
            and not hasattr(main, "__file__"):
        import xdist.remote

        main.__file__ = xdist.remote.__file__


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = config.stash.get(_SESSION_DATA, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadgroup``: one unit of work per group of ``XDIST_GROUPS`` and per other test file (its
    module fixtures are set up once), handed out in the order the workers collected them. xdist's own
    loadgroup reads ``xdist_group`` marks through a node id attribute that pytest 9 no longer uses."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FileGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group(nodeid)

    config.option.loadscopereorder = False  # keep the order of pytest_collection_modifyitems below
    return FileGroupScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a pytest-xdist worker: the longest units of work first (the groups of ``XDIST_GROUPS`` in their
    order, then the files marked slow), so that no long file is left alone at the end of the run."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    groups = list(dict.fromkeys(XDIST_GROUPS.values()))
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}

    def rank(item: pytest.Item) -> int:
        group = xdist_group(item.nodeid)
        if group in groups:
            return groups.index(group)
        return len(groups) + (item.path not in slow_files)

    items.sort(key=rank)


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
