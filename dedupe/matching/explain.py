"""Why two records matched: each comparison's level and its weight contribution (a waterfall),
read from the ``gamma_*`` / ``bf_*`` columns stored with every scored pair."""

from __future__ import annotations

import math

import polars as pl

from dedupe.matching.settings import Settings


def level_labels(settings: Settings) -> dict[str, dict[int, str]]:
    """gamma value -> level label, per comparison (-1 = the null level)."""
    out = {}
    for comp in settings.comparisons:
        scored = comp.scored_levels
        k = len(scored)
        labels = {k - 1 - i: lv.name for i, lv in enumerate(scored)}
        nulls = [lv.name for lv in comp.levels if lv.kind == "null"]
        labels[-1] = nulls[0] if nulls else "null"
        out[comp.name] = labels
    return out


def with_level_labels(scored: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    """Add ``level_<comparison>`` text columns (for review queues and the UI)."""
    labels = level_labels(settings)
    return scored.with_columns([
        pl.col(f"gamma_{name}").cast(pl.Int64).replace_strict(lab, default=None, return_dtype=pl.Utf8)
        .alias(f"level_{name}") for name, lab in labels.items() if f"gamma_{name}" in scored.columns])


def waterfall(scored: pl.DataFrame, settings: Settings, id_l, id_r, *, prior_weight: float | None = None) -> pl.DataFrame:
    """One row per step: the prior, then each comparison's level and log2 weight, with the
    running total and the probability it implies."""
    lo, hi = (id_l, id_r) if id_l <= id_r else (id_r, id_l)
    row = scored.filter((pl.col("id_l") == lo) & (pl.col("id_r") == hi))
    if row.height == 0:
        raise KeyError(f"pair ({lo!r}, {hi!r}) was not scored (not a candidate pair)")
    r = row.row(0, named=True)
    labels = level_labels(settings)
    bf_total = sum(r[f"bf_{c.name}"] for c in settings.comparisons)
    prior = prior_weight if prior_weight is not None else r["match_weight"] - bf_total
    steps = [("prior", "", None, prior)]
    steps += [(c.name, labels[c.name].get(r[f"gamma_{c.name}"], "?"), r[f"gamma_{c.name}"], r[f"bf_{c.name}"])
              for c in settings.comparisons]
    out = pl.DataFrame(steps, schema={"comparison": pl.Utf8, "level": pl.Utf8, "gamma": pl.Int64,
                                      "weight": pl.Float64}, orient="row")
    out = out.with_columns(cumulative=pl.col("weight").cum_sum())
    return out.with_columns(probability=(1 / (1 + (2.0 ** (-pl.col("cumulative"))))))


def explain_pair(scored: pl.DataFrame, settings: Settings, id_l, id_r) -> str:
    """Readable waterfall, strongest contributions first, e.g. for a review queue tooltip."""
    wf = waterfall(scored, settings, id_l, id_r)
    lo, hi = (id_l, id_r) if id_l <= id_r else (id_r, id_l)
    r = scored.filter((pl.col("id_l") == lo) & (pl.col("id_r") == hi)).row(0, named=True)
    lines = [f"match weight {r['match_weight']:+.2f} -> probability {r['match_probability']:.4f}"]
    body = wf.filter(pl.col("comparison") != "prior").sort(pl.col("weight").abs(), descending=True)
    for comp, level, _, w in body.select("comparison", "level", "gamma", "weight").iter_rows():
        if w == 0 and level.startswith("no "):
            continue
        lines.append(f"  {w:+7.2f}  {comp}: {level}")
    prior = wf.filter(pl.col("comparison") == "prior")["weight"][0]
    lines.append(f"  {prior:+7.2f}  prior (1 in {max(1, round(1 + 2 ** -prior if prior < 0 else 1)):,})"
                 if not math.isnan(prior) else "")
    return "\n".join(x for x in lines if x)
