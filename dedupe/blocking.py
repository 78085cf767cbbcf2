"""Candidate pairs: several equi-join blocking rules, unioned and de-duplicated.

Each rule's pair count is computed from its key-group sizes before any pair is made, so a
rule that would explode (a key shared by half the table) is refused by name instead of
exhausting memory.
"""

from __future__ import annotations

import polars as pl

from dedupe.settings import BlockingRule, Settings

SIDE = "__side"


class BlockingRuleTooBroad(ValueError):
    """A blocking rule would create more candidate pairs than the settings allow."""

    def __init__(self, rule: str, pairs: int, limit: int) -> None:
        super().__init__(f"blocking rule {rule!r} would create {pairs:,} candidate pairs, more than "
                         f"max_pairs_per_rule={limit:,}; make the rule stricter (add a column) or raise the limit")
        self.rule, self.pairs, self.limit = rule, pairs, limit


def _keys(feats: pl.DataFrame, rule: BlockingRule, link: bool) -> pl.DataFrame:
    cols = list(rule.on)
    extra = [SIDE] if link else []
    return (feats.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("_i"), *cols, *extra)
            .drop_nulls(cols))


def rule_pair_count(feats: pl.DataFrame, rule: BlockingRule, *, link_type: str = "dedupe_only") -> int:
    """Pairs the rule would create, from key-group sizes (no pairs are built)."""
    link = link_type != "dedupe_only"
    keys = _keys(feats, rule, link)
    if link_type == "link_only":
        g = keys.group_by(list(rule.on)).agg(
            a=(pl.col(SIDE) == 0).sum().cast(pl.Int64), b=(pl.col(SIDE) == 1).sum().cast(pl.Int64))
        return int(g.select((pl.col("a") * pl.col("b")).sum()).item() or 0)
    g = keys.group_by(list(rule.on)).len()
    return int(g.select((pl.col("len").cast(pl.Int64) * (pl.col("len") - 1) // 2).sum()).item() or 0)


def rule_pairs(feats: pl.DataFrame, rule: BlockingRule, *, link_type: str = "dedupe_only") -> pl.DataFrame:
    """Row positions ``l < r`` of the pairs one rule creates."""
    link = link_type != "dedupe_only"
    keys = _keys(feats, rule, link)
    on = list(rule.on)
    left = keys.rename({"_i": "l"})
    right = keys.rename({"_i": "r", **({SIDE: SIDE + "_r"} if link else {})})
    pairs = left.join(right, on=on, how="inner").filter(pl.col("l") < pl.col("r"))
    if link_type == "link_only":
        pairs = pairs.filter(pl.col(SIDE) != pl.col(SIDE + "_r"))
    return pairs.select("l", "r")


def block_positions(feats: pl.DataFrame, settings: Settings, *, rules: tuple[BlockingRule, ...] | None = None,
                    check: bool = True) -> tuple[pl.DataFrame, dict[str, int]]:
    """Union of the rules' pairs as row positions (``l``, ``r``, ``rule``) and pairs per rule."""
    rules = rules if rules is not None else settings.blocking_rules
    counts: dict[str, int] = {}
    for rule in rules:
        counts[rule.name] = rule_pair_count(feats, rule, link_type=settings.link_type)
        if check and counts[rule.name] > settings.max_pairs_per_rule:
            raise BlockingRuleTooBroad(rule.name, counts[rule.name], settings.max_pairs_per_rule)
    parts = [rule_pairs(feats, rule, link_type=settings.link_type).with_columns(
        rule=pl.lit(i, dtype=pl.UInt8)) for i, rule in enumerate(rules)]
    if not parts:
        return pl.DataFrame(schema={"l": pl.UInt32, "r": pl.UInt32, "rule": pl.Utf8}), counts
    union = (pl.concat(parts).sort("l", "r", "rule").unique(["l", "r"], keep="first", maintain_order=True))
    names = pl.Series([r.name for r in rules], dtype=pl.Utf8)
    union = union.with_columns(rule=pl.col("rule").map_batches(
        lambda s: names.gather(s.cast(pl.UInt32)), return_dtype=pl.Utf8))
    return union, counts


def block(feats: pl.DataFrame, settings: Settings) -> tuple[pl.DataFrame, dict[str, int]]:
    """Candidate pairs ``id_l < id_r`` with the first rule that found them, and pairs per rule
    (before the union is de-duplicated). ``feats`` must come from ``prepare`` (sorted by id)."""
    pos, counts = block_positions(feats, settings)
    ids = feats[settings.unique_id]
    pairs = pl.DataFrame({
        "id_l": ids.gather(pos["l"]),
        "id_r": ids.gather(pos["r"]),
        "rule": pos["rule"],
    })
    return pairs, counts
