"""Candidate pairs: several equi-join blocking rules, unioned and de-duplicated.

Each rule's pair count is computed from its key-group sizes before any pair is made, so a
rule that would explode (a key shared by half the table) is refused by name instead of
exhausting memory.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from dedupe.matching.comparisons import block_sizes, record_key
from dedupe.matching.settings import BlockingRule, Settings

SIDE = "__side"
PAIR_SHIFT = 1 << 32   # a pair (l, r) as one 64-bit number l * 2**32 + r


class BlockingRuleTooBroad(ValueError):
    """A blocking rule would create more candidate pairs than the settings allow."""

    def __init__(self, rule: str, pairs: int, limit: int) -> None:
        super().__init__(f"blocking rule {rule!r} would create {pairs:,} candidate pairs, more than "
                         f"max_pairs_per_rule={limit:,}; make the rule stricter (add a column) or raise the limit")
        self.rule, self.pairs, self.limit = rule, pairs, limit


def rule_keys(feats: pl.DataFrame, rule: BlockingRule, link: bool, codes: dict) -> pl.DataFrame:
    """Row position and one 64-bit key per record with every rule column present (oversized
    blocks dropped)."""
    k = record_key(feats, rule.on, codes)
    cols = {"_i": pl.Series(np.arange(len(k), dtype=np.uint32)), "_k": pl.Series(k)}
    if link:
        cols[SIDE] = feats[SIDE]
    keys = pl.DataFrame(cols)
    keep = k >= 0
    if rule.max_block:
        keep &= block_sizes(feats, rule.on, codes) <= rule.max_block
    return keys.filter(pl.Series(keep))


def key_pair_count(keys: pl.DataFrame, link_type: str) -> int:
    if link_type == "link_only":
        g = keys.group_by("_k").agg(
            a=(pl.col(SIDE) == 0).sum().cast(pl.Int64), b=(pl.col(SIDE) == 1).sum().cast(pl.Int64))
        return int(g.select((pl.col("a") * pl.col("b")).sum()).item() or 0)
    g = keys.group_by("_k").len()
    return int(g.select((pl.col("len").cast(pl.Int64) * (pl.col("len") - 1) // 2).sum()).item() or 0)


def key_pairs(keys: pl.DataFrame, link_type: str) -> pl.DataFrame:
    link = link_type != "dedupe_only"
    left = keys.rename({"_i": "l"})
    right = keys.rename({"_i": "r", **({SIDE: SIDE + "_r"} if link else {})})
    pairs = left.join(right, on="_k", how="inner").filter(pl.col("l") < pl.col("r"))
    if link_type == "link_only":
        pairs = pairs.filter(pl.col(SIDE) != pl.col(SIDE + "_r"))
    return pairs.select("l", "r")


def rule_pair_count(feats: pl.DataFrame, rule: BlockingRule, *, link_type: str = "dedupe_only",
                    codes: dict | None = None) -> int:
    """Pairs the rule would create, from key-group sizes (no pairs are built)."""
    return key_pair_count(rule_keys(feats, rule, link_type != "dedupe_only", {} if codes is None else codes), link_type)


def rule_pairs(feats: pl.DataFrame, rule: BlockingRule, *, link_type: str = "dedupe_only",
               codes: dict | None = None) -> pl.DataFrame:
    """Row positions ``l < r`` of the pairs one rule creates."""
    return key_pairs(rule_keys(feats, rule, link_type != "dedupe_only", {} if codes is None else codes), link_type)


def block_positions(feats: pl.DataFrame, settings: Settings, *, rules: tuple[BlockingRule, ...] | None = None,
                    check: bool = True, codes: dict | None = None, low_memory: bool = False,
                    rule_index: bool = False) -> tuple[pl.DataFrame, dict[str, int]]:
    """Union of the rules' pairs as row positions (``l``, ``r``, ``rule``: the first rule that
    found the pair, by name, or by its index with ``rule_index``) and pairs per rule. Every rule is
    counted (and checked against the limit) before any pair is made.

    ``low_memory`` (the chunked engine): one rule at a time, each rule checked before its own pairs
    are made and its keys dropped (with their cached codes) once they are; same result."""
    rules = rules if rules is not None else settings.blocking_rules
    link = settings.link_type != "dedupe_only"
    codes = {} if codes is None else codes
    if low_memory:
        return _block_one_rule_at_a_time(feats, settings, rules, link, check, codes, rule_index)
    keys = [rule_keys(feats, rule, link, codes) for rule in rules]
    counts: dict[str, int] = {}
    for rule, k in zip(rules, keys, strict=True):
        counts[rule.name] = key_pair_count(k, settings.link_type)
        if check and counts[rule.name] > settings.max_pairs_per_rule:
            raise BlockingRuleTooBroad(rule.name, counts[rule.name], settings.max_pairs_per_rule)
    if not rules:
        return pl.DataFrame(schema={"l": pl.UInt32, "r": pl.UInt32, "rule": pl.UInt8 if rule_index else pl.Utf8}), counts
    parts = [_packed(key_pairs(k, settings.link_type), i) for i, k in enumerate(keys)]
    union = (pl.concat(parts).group_by("pair").agg(pl.col("rule").min()).sort("pair")
             .select(l=(pl.col("pair") // PAIR_SHIFT).cast(pl.UInt32), r=(pl.col("pair") % PAIR_SHIFT).cast(pl.UInt32),
                     rule="rule"))
    return (union if rule_index else _rule_names(union, rules)), counts


def _packed(pairs: pl.DataFrame, rule: int) -> pl.DataFrame:
    """Pairs as one 64-bit number each, with the index of the rule that made them."""
    return pairs.select(pair=pl.col("l").cast(pl.UInt64) * PAIR_SHIFT + pl.col("r").cast(pl.UInt64),
                        rule=pl.lit(rule, dtype=pl.UInt8))


def _block_one_rule_at_a_time(feats: pl.DataFrame, settings: Settings, rules: tuple[BlockingRule, ...], link: bool,
                              check: bool, codes: dict, rule_index: bool) -> tuple[pl.DataFrame, dict[str, int]]:
    counts: dict[str, int] = {}
    parts = []
    for i, rule in enumerate(rules):
        keys = rule_keys(feats, rule, link, codes)
        counts[rule.name] = key_pair_count(keys, settings.link_type)
        if check and counts[rule.name] > settings.max_pairs_per_rule:
            raise BlockingRuleTooBroad(rule.name, counts[rule.name], settings.max_pairs_per_rule)
        parts.append(_packed(key_pairs(keys, settings.link_type), i))
        del keys
        for key in [k for k in codes if isinstance(k, tuple) and k[1] == rule.on]:
            del codes[key]
    if not parts:
        return pl.DataFrame(schema={"l": pl.UInt32, "r": pl.UInt32, "rule": pl.UInt8 if rule_index else pl.Utf8}), counts
    union = pl.concat(parts)   # sorted and deduplicated (a smaller peak than the hash group-by)
    del parts
    union = union.sort("pair", "rule").unique("pair", keep="first", maintain_order=True).select(
        l=(pl.col("pair") // PAIR_SHIFT).cast(pl.UInt32), r=(pl.col("pair") % PAIR_SHIFT).cast(pl.UInt32), rule="rule")
    return (union if rule_index else _rule_names(union, rules)), counts


def _rule_names(union: pl.DataFrame, rules: tuple[BlockingRule, ...]) -> pl.DataFrame:
    names = pl.Series([r.name for r in rules], dtype=pl.Utf8)
    return union.with_columns(rule=pl.col("rule").map_batches(
        lambda s: names.gather(s.cast(pl.UInt32)), return_dtype=pl.Utf8))


def block(feats: pl.DataFrame, settings: Settings, *, codes: dict | None = None) -> tuple[pl.DataFrame, dict[str, int]]:
    """Candidate pairs ``id_l < id_r`` with the first rule that found them, and pairs per rule
    (before the union is de-duplicated). ``feats`` comes from ``prepare``."""
    pos, counts = block_positions(feats, settings, codes=codes)
    return pairs_by_id(feats, pos, settings.unique_id)[0], counts


def pairs_by_id(feats: pl.DataFrame, pos: pl.DataFrame, uid: str) -> tuple[pl.DataFrame, tuple[np.ndarray, np.ndarray]]:
    """Row-position pairs (``l``, ``r``[, ``rule``]) as ids, the smaller id first, and the row
    positions in that same orientation."""
    ids = feats[uid]
    a, b = ids.gather(pos["l"]), ids.gather(pos["r"])
    swap = a > b
    pairs = pl.DataFrame({"id_l": a.zip_with(~swap, b), "id_r": b.zip_with(~swap, a)})
    if "rule" in pos.columns:
        pairs = pairs.with_columns(pos["rule"])
    sw = swap.to_numpy()
    left, right = pos["l"].to_numpy().astype(np.int64), pos["r"].to_numpy().astype(np.int64)
    return pairs, (np.where(sw, right, left), np.where(sw, left, right))
