"""Candidate pairs in Spark: the polars engine's blocking rules as one equi-join on
``(rule, key)`` (each record emits one key per rule it has all columns for), then a group-by
that keeps each pair once with the first rule that found it and a bit mask of every rule that
did (model training needs the pairs each rule produced)."""

from __future__ import annotations

from dedupe.matching.blocking import SIDE, BlockingRuleTooBroad
from dedupe.matching.settings import BlockingRule, Settings
from dedupe.spark.features import POS

#: Rules per run that the ``rules`` bit mask can hold.
MAX_RULES = 62


def _keys(feats, rules: tuple[BlockingRule, ...], link: bool):
    """``_pos, rule, key`` (+ ``__side``): one row per record and rule with every column set,
    keys shared by more than the rule's ``max_block`` records left out."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    entries = []
    for i, rule in enumerate(rules):
        present = F.lit(True)
        for c in rule.on:
            present = present & F.col(c).isNotNull()
        key = F.when(present, F.to_json(F.array(*[F.col(c).cast("string") for c in rule.on])))
        entries.append(F.struct(F.lit(i).alias("rule"), key.alias("key")))
    keys = (feats.select(POS, *([SIDE] if link else []), F.explode(F.array(*entries)).alias("e"))
            .select(POS, *([SIDE] if link else []), "e.rule", "e.key").where(F.col("key").isNotNull()))
    limits = [r.max_block for r in rules]
    if any(limits):
        limit = F.element_at(F.array(*[F.lit(x).cast("long") for x in limits]), F.col("rule") + 1)
        size = F.count(F.lit(1)).over(Window.partitionBy("rule", "key"))
        keys = keys.withColumn("_size", size).where(limit.isNull() | (F.col("_size") <= limit)).drop("_size")
    return keys


def block(feats, settings: Settings, *, rules: tuple[BlockingRule, ...] | None = None, check: bool = True):
    """Candidate pairs (``l < r`` positions, ``rule`` = index of the first rule that found the
    pair, ``rules`` = bit mask of all) and each rule's pair count before de-duplication, from
    key-group sizes (a rule over ``max_pairs_per_rule`` is refused before any pair is built)."""
    from pyspark.sql import functions as F

    rules = rules if rules is not None else settings.blocking_rules
    if len(rules) > MAX_RULES:
        raise ValueError(f"the Spark engine supports at most {MAX_RULES} blocking rules, got {len(rules)}")
    link = settings.link_type != "dedupe_only"
    keys = _keys(feats, rules, link).localCheckpoint()
    if settings.link_type == "link_only":
        g = keys.groupBy("rule", "key").agg(F.sum((F.col(SIDE) == 0).cast("long")).alias("a"),
                                            F.sum((F.col(SIDE) == 1).cast("long")).alias("b"))
        n = F.col("a") * F.col("b")
    else:
        g = keys.groupBy("rule", "key").count()
        n = F.col("count") * (F.col("count") - 1) / 2
    got = {r["rule"]: int(r["n"] or 0) for r in g.groupBy("rule").agg(F.sum(n.cast("long")).alias("n")).collect()}
    counts = {rule.name: got.get(i, 0) for i, rule in enumerate(rules)}
    if check:
        for rule in rules:
            if counts[rule.name] > settings.max_pairs_per_rule:
                raise BlockingRuleTooBroad(rule.name, counts[rule.name], settings.max_pairs_per_rule)
    left = keys.select(F.col(POS).alias("l"), "rule", "key", *([F.col(SIDE).alias("_sl")] if link else []))
    right = keys.select(F.col(POS).alias("r"), "rule", "key", *([F.col(SIDE).alias("_sr")] if link else []))
    pairs = left.join(right, ["rule", "key"]).where(F.col("l") < F.col("r"))
    if settings.link_type == "link_only":
        pairs = pairs.where(F.col("_sl") != F.col("_sr"))
    pairs = pairs.groupBy("l", "r").agg(F.min("rule").alias("rule"),
                                        F.bit_or(F.expr("shiftleft(cast(1 as bigint), rule)")).alias("rules"))
    return pairs, counts


def rule_names(rules: tuple[BlockingRule, ...]):
    """Column expression turning a rule index into its name."""
    from pyspark.sql import functions as F

    return F.element_at(F.array(*[F.lit(r.name) for r in rules]), F.col("rule") + 1)
