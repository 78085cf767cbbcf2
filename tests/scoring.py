"""Score a published crosswalk against a generated dataset's truth with dedupe.evaluation."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from dedupe.evaluation import evaluate


def score_crosswalk(dataset: Path, crosswalk: pl.DataFrame) -> dict:
    """Pairwise / B-cubed scores of ``crosswalk`` and the look-alike pairs it merged."""
    truth = dataset / "truth"
    return evaluate(crosswalk, pl.read_csv(truth / "records.csv", infer_schema=False),
                    hard_negatives=pl.read_csv(truth / "hard_negatives.csv", infer_schema=False))
