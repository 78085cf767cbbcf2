"""Shared fixtures: seeded datasets with ground truth from the project's own generator (pipelines.demo).

The layout is the benchmark kit's (``erp.sqlite``, ``shop/``, ``sheets/``, ``truth/``) with the pipeline's
source names (sheet sources are file stems), so nothing outside the repository is needed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.demo import generate

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
