"""Shared fixtures: paths to the shared benchmark kit and generated crm_synth datasets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_BENCH = REPO.parent / "shared" / "bench"


def synth(out: Path, entities: int, seed: int = 7, *extra: str) -> Path:
    """Run ../shared/bench/crm_synth.py into ``out`` (skipped when the kit is absent)."""
    script = SHARED_BENCH / "crm_synth.py"
    if not script.exists():
        pytest.skip("../shared/bench/crm_synth.py is not beside the checkout")
    if not (out / "manifest.json").exists():
        subprocess.run(
            [sys.executable, str(script), "--entities", str(entities), "--seed", str(seed),
             "--out", str(out), *extra],
            check=True, capture_output=True,
        )
    return out


@pytest.fixture(scope="session")
def synth_2k(tmp_path_factory) -> Path:
    """crm_synth default profile, 2,000 entities, seed 7, with 2 % bad rows."""
    return synth(tmp_path_factory.mktemp("synth") / "s2k", 2000, 7, "--bad-rows", "0.02")


@pytest.fixture(scope="session")
def synth_2k_clean(tmp_path_factory) -> Path:
    """crm_synth default profile, 2,000 entities, seed 11, no bad rows."""
    return synth(tmp_path_factory.mktemp("synth") / "s2k_clean", 2000, 11)
