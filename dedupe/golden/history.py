"""SCD type 2 history of the golden table, so an analyst can ask what a record said on a date."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl

_SEP = "\x1f"


def _digest(fields: Sequence[str]) -> pl.Expr:
    return pl.concat_str([pl.col(f).cast(pl.Utf8).fill_null("\x00") for f in fields], separator=_SEP)


def update_history(history: pl.DataFrame | None, golden: pl.DataFrame, *, at: datetime,
                   fields: Sequence[str]) -> tuple[pl.DataFrame, dict[str, int]]:
    """Close changed or vanished versions at ``at`` and open new ones.

    ``history`` has ``golden_id``, ``fields``, ``valid_from``, ``valid_to``, ``is_current``;
    returns the new history and counts of opened/closed/unchanged versions.
    """
    ts = pl.lit(at).cast(pl.Datetime("us", "UTC"))
    new = golden.select("golden_id", *fields).with_columns(_digest(fields).alias("__d"))
    if history is None or history.height == 0:
        out = new.drop("__d").with_columns(valid_from=ts, valid_to=pl.lit(None).cast(pl.Datetime("us", "UTC")),
                                           is_current=pl.lit(True))
        return out, {"opened": out.height, "closed": 0, "unchanged": 0}
    current = history.filter(pl.col("is_current")).with_columns(_digest(fields).alias("__d"))
    past = history.filter(~pl.col("is_current"))
    same = current.join(new.select("golden_id", "__d"), on=["golden_id", "__d"], how="semi")
    closed = current.join(same.select("golden_id"), on="golden_id", how="anti").with_columns(
        valid_to=ts, is_current=pl.lit(False))
    opened = new.join(same.select("golden_id"), on="golden_id", how="anti").with_columns(
        valid_from=ts, valid_to=pl.lit(None).cast(pl.Datetime("us", "UTC")), is_current=pl.lit(True))
    cols = ["golden_id", *fields, "valid_from", "valid_to", "is_current"]
    out = pl.concat([past.select(cols), same.select(cols), closed.select(cols), opened.select(cols)],
                    how="vertical_relaxed").sort(["golden_id", "valid_from"])
    return out, {"opened": opened.height, "closed": closed.height, "unchanged": same.height}
