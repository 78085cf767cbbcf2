"""Golden records from clusters: one row per cluster, each field chosen by a survivorship rule.

Rules (per field, configurable):

- ``most_recent``: the value from the record with the newest ``updated_at``;
- ``source_priority``: the value from the most trusted source (``source_priority`` order),
  then the most recent;
- ``most_complete``: the value from the record with the most non-empty fields;
- ``most_frequent``: the value most records agree on (then the most recent);
- ``longest``: the longest value (then the most recent);
- a callable ``f(members: pl.DataFrame, field: str) -> pl.DataFrame`` returning one row per
  ``cluster_id`` with columns ``cluster_id``, ``value``, ``record_id`` (custom rules).

Empty values never win. Every tie is broken by ``updated_at`` (newest first), then by
``record_id``, so the result never depends on row order. Lineage (which record supplied each
golden field) comes out beside the golden rows.

Before the rules pick, :mod:`dedupe.golden.repair` rewrites member values into their canonical form
(typos, ``+tags``, folded spellings, swapped names; ``repairs`` turns each group on or off): a
golden value may then differ from what its lineage record wrote, in form only.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from dedupe.canonical import GOLDEN_FIELDS, RECORD_ID
from dedupe.golden.repair import REPAIRS, annotate, match_key, repair
from dedupe.normalize.keys import city_key, street_key

RULES = ("most_recent", "source_priority", "most_complete", "most_frequent", "longest")
Rule = str | Callable[[pl.DataFrame, str], pl.DataFrame]

#: Defaults: contact data from the newest record; identity data from the most trusted source.
DEFAULT_FIELD_RULES: dict[str, str] = {
    "given_name": "most_frequent",
    "surname": "most_recent",
    "full_name": "most_recent",
    "email": "most_frequent",
    "phone": "most_frequent",
    "street": "most_recent",
    "postal_code": "most_recent",
    "city": "most_recent",
    "country": "most_recent",
    "company_name": "source_priority",
    "vat_id": "source_priority",
}

#: The whole address moves together: a golden record never mixes an old street with a new city.
ADDRESS_GROUP = ("street", "postal_code", "city", "country")


@dataclass
class SurvivorshipRules:
    """Which rule picks each golden field, and the trust order of the sources."""

    fields: dict[str, Rule] = field(default_factory=lambda: dict(DEFAULT_FIELD_RULES))
    source_priority: list[str] = field(default_factory=lambda: ["erp", "shop"])
    address_as_unit: bool = True
    #: value repairs run on member rows before the rules pick (see ``dedupe.golden.repair``)
    repairs: tuple[str, ...] = REPAIRS

    @classmethod
    def from_dict(cls, data: Mapping) -> SurvivorshipRules:
        """From the ``survivorship:`` section of a YAML file; a rule may be ``module:function``."""
        rules = dict(DEFAULT_FIELD_RULES)
        for name, rule in (data.get("fields") or {}).items():
            rules[name] = _resolve(rule)
        repairs = data.get("repairs", list(REPAIRS))
        if repairs is True or repairs is None:
            repairs = list(REPAIRS)
        return cls(fields=rules, source_priority=list(data.get("source_priority") or ["erp", "shop"]),
                   address_as_unit=bool(data.get("address_as_unit", True)),
                   repairs=tuple(repairs or ()))


def _resolve(rule: Rule) -> Rule:
    if callable(rule) or rule in RULES:
        return rule
    if isinstance(rule, str) and ":" in rule:
        module, _, name = rule.partition(":")
        return getattr(importlib.import_module(module), name)
    raise ValueError(f"unknown survivorship rule {rule!r}; use one of {', '.join(RULES)} or module:function")


def blemish(f: str) -> pl.Expr:
    """1 for a value that is a poorer form of the same fact (an initial for a name, a tagged
    e-mail address), else 0: such values only win when nothing better exists."""
    v = pl.col(f).cast(pl.Utf8)
    if f == "email":
        return v.str.contains("+", literal=True).cast(pl.Int8)
    if f in ("given_name", "surname"):
        return (v.str.replace_all(r"[.\s]", "").str.len_chars() <= 1).cast(pl.Int8)
    return v.is_null().cast(pl.Int8) * 0  # a column, not a scalar: sort_by needs group lengths


def _ranking(rule: str, f: str, priority: Sequence[str],
             hints: Sequence[str] = ()) -> tuple[list[pl.Expr], list[bool]]:
    """Sort keys (and descending flags) that put the winning record first; ``hints`` are the
    ``__pre_*`` / ``__post_*`` ranking columns :func:`dedupe.golden.repair.annotate` added."""
    pre = [pl.col(f"__pre_{f}")] if f"__pre_{f}" in hints else []
    # tie-breakers among equally good values; the newest value stays newest under most_recent
    post = [pl.col(f"__post_{f}")] if f"__post_{f}" in hints and rule not in ("most_recent", "source_priority") else []
    recent = [*post, pl.col("updated_at"), pl.col(RECORD_ID)]
    recent_desc = [True] * len(post) + [True, False]
    if rule == "source_priority":
        rank = pl.col("source").replace_strict(
            {s: i for i, s in enumerate(priority)}, default=len(priority), return_dtype=pl.Int32)
        return [rank, blemish(f), *pre, *recent], [False, False, *[False] * len(pre), *recent_desc]
    if rule == "most_recent":
        keys, desc = [], []
    elif rule == "most_complete":
        keys, desc = [pl.col("__completeness")], [True]
    elif rule == "most_frequent":
        keys, desc = [pl.col(f"__freq_{f}")], [True]
    elif rule == "longest":
        keys, desc = [pl.col(f).cast(pl.Utf8).str.len_chars()], [True]
    else:
        raise ValueError(f"unknown survivorship rule {rule!r}")
    return [blemish(f), *pre, *keys, *recent], [False, *[False] * len(pre), *desc, *recent_desc]


def survive(members: pl.DataFrame, rules: SurvivorshipRules | None = None, *,
            fields: Sequence[str] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Pick golden values per ``cluster_id`` from ``members`` (staged rows with a cluster id).

    Returns ``(golden, lineage)``: golden has ``cluster_id`` and one column per field; lineage has
    ``cluster_id, field, record_id, source, source_record_id`` naming the record that supplied it.
    """
    rules = rules or SurvivorshipRules()
    return pick(prepare(members, rules, fields=fields), rules, fields=fields)


def prepare(members: pl.DataFrame, rules: SurvivorshipRules | None = None, *,
            fields: Sequence[str] | None = None) -> pl.DataFrame:
    """The batch-wide half of :func:`survive`: repairs and ranking hints, which use the whole
    batch as evidence. What :func:`pick` does after it depends on one cluster's rows only, so
    ``pick`` may run on any group of whole clusters of the prepared frame."""
    rules = rules or SurvivorshipRules()
    fields = [f for f in (fields or GOLDEN_FIELDS) if f in members.columns]
    return annotate(repair(members, rules.repairs), fields) if rules.repairs else members


def cluster_local(rules: SurvivorshipRules) -> bool:
    """Whether :func:`pick` may run per group of clusters: a custom rule sees the members it is
    given and may compare across clusters."""
    return not any(callable(rule) for rule in rules.fields.values())


def pick(members: pl.DataFrame, rules: SurvivorshipRules | None = None, *,
         fields: Sequence[str] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Golden values and lineage of prepared ``members`` (:func:`prepare`): one row per cluster."""
    rules = rules or SurvivorshipRules()
    fields = [f for f in (fields or GOLDEN_FIELDS) if f in members.columns]
    keep = ["cluster_id", *fields, *[f"__src_{f}" for f in fields]]
    several = members["cluster_id"].is_duplicated()
    if cluster_local(rules) and not several.all():
        # a one-record cluster's golden values are that record's: no ranking, no group
        alone = members.filter(~several).select(
            "cluster_id", *fields, *[pl.col(RECORD_ID).alias(f"__src_{f}") for f in fields])
        grouped = _pick_groups(members.filter(several), rules, fields).select(keep)
        golden = pl.concat([grouped, alone.cast(grouped.schema)]) if grouped.height else alone
    else:
        golden = _pick_groups(members, rules, fields).select(keep)
    lineage = (
        golden.select("cluster_id", *[pl.when(pl.col(f).is_not_null()).then(pl.col(f"__src_{f}")).alias(f)
                                      for f in fields])
        .unpivot(index="cluster_id", variable_name="field", value_name=RECORD_ID)
        .drop_nulls(RECORD_ID)
        .join(members.select(RECORD_ID, "source", "source_record_id"), on=RECORD_ID, how="left")
        .sort(["cluster_id", "field"])
    )
    golden = golden.select("cluster_id", *fields)
    return golden, lineage


def _pick_groups(members: pl.DataFrame, rules: SurvivorshipRules, fields: list[str]) -> pl.DataFrame:
    """One row per cluster: each field's value and ``__src_<field>``, the record that supplied it."""
    hints = [c for c in members.columns if c.startswith(("__pre_", "__post_"))]
    present = [pl.col(f).is_not_null().cast(pl.Int32) for f in fields]
    frequent = [f for f in fields if rules.fields.get(f) == "most_frequent"]   # the rule that counts votes
    m = members.with_columns(
        pl.sum_horizontal(present).alias("__completeness"),
        *[pl.len().over(["cluster_id", match_key(f)]).alias(f"__freq_{f}") for f in frequent],
    )
    unit = [f for f in ADDRESS_GROUP if f in fields] if rules.address_as_unit else []
    aggs, custom = [], {}
    # the address block: one record supplies all its parts (the one that wins on street)
    if unit:
        m = _address_candidates(m, unit, rules)
        lead = unit[0]
        keys, desc = _ranking(_str_rule(rules.fields.get(lead, "most_recent")), lead, rules.source_priority, hints)
        no_addr = ~pl.any_horizontal([pl.col(f).is_not_null() for f in unit])
        winner = pl.col(RECORD_ID).sort_by([~pl.col("__addr_full"), no_addr, *keys],
                                           descending=[False, False, *desc], nulls_last=True).first()
        aggs.append(winner.alias("__addr_record"))
    for f in fields:
        if f in unit:
            continue
        rule = rules.fields.get(f, "most_recent")
        if callable(rule):
            custom[f] = rule
            continue
        keys, desc = _ranking(rule, f, rules.source_priority, hints)
        by, flags = [pl.col(f).is_null(), *keys], [False, *desc]
        # value and record in one sort: the keys end with the record id, so the first row is unique
        aggs.append(pl.struct(pl.col(f), pl.col(RECORD_ID).alias(f"__src_{f}"))
                    .sort_by(by, descending=flags, nulls_last=True).first().alias(f"__win_{f}"))
    golden = m.group_by("cluster_id").agg(aggs).unnest(
        *[f"__win_{f}" for f in fields if f not in unit and f not in custom])
    if unit:
        addr = m.select(pl.col(RECORD_ID).alias("__addr_record"), *unit)
        golden = golden.join(addr, on="__addr_record", how="left").with_columns(
            *[pl.when(pl.col(f).is_not_null()).then(pl.col("__addr_record")).alias(f"__src_{f}") for f in unit])
        golden = _complete_address(golden, m, unit)
    for f, fn in custom.items():
        picked = fn(members, f).select("cluster_id", pl.col("value").alias(f), pl.col(RECORD_ID).alias(f"__src_{f}"))
        golden = golden.join(picked, on="cluster_id", how="left")
    return golden


def _address_candidates(m: pl.DataFrame, unit: Sequence[str], rules: SurvivorshipRules) -> pl.DataFrame:
    """Mark the records whose street line can stand for the current address (``__addr_full``).

    The current city is the one of the record that wins among all records with any address part
    (by the street's rule, newest first by default), so a newer sheet row that only names a new
    city still signals a move. A record with a street in that city beats a newer record without a
    street: a city-only row does not erase a known street; a street in another (older) city never
    comes back as current.
    """
    lead = unit[0]
    keys, desc = _ranking(_str_rule(rules.fields.get(lead, "most_recent")), lead, rules.source_priority)
    no_addr = ~pl.any_horizontal([pl.col(f).is_not_null() for f in unit])
    if "city" in unit:
        m = _with_key(m, "city", city_key, "__city_key")
    else:
        m = m.with_columns(pl.lit(None, pl.Utf8).alias("__city_key"))
    current = pl.col("__city_key").sort_by([no_addr, *keys], descending=[False, *desc], nulls_last=True).first()
    m = m.with_columns(current.over("cluster_id").alias("__current_city"))
    same_city = (pl.col("__current_city").is_null() | pl.col("__city_key").is_null()
                 | (pl.col("__city_key") == pl.col("__current_city")))
    return m.with_columns((pl.col(lead).is_not_null() & same_city).alias("__addr_full"))


def _with_key(df: pl.DataFrame, col: str, key_fn, out: str) -> pl.DataFrame:
    """``df`` with ``key_fn(col)`` as ``out``, computed once per distinct value (the key
    functions transliterate Chinese, which is costly per row)."""
    keys = df.select(pl.col(col).unique()).with_columns(key_fn(pl.col(col)).alias(out))
    return df.join(keys, on=col, how="left", nulls_equal=True)


def _complete_address(golden: pl.DataFrame, m: pl.DataFrame, unit: Sequence[str]) -> pl.DataFrame:
    """Fill parts missing from the winning address record (a postcode, a city) from the newest
    other record that carries the same street: the same address, written more completely."""
    lead, rest = unit[0], [f for f in unit[1:] if f != "country"]
    if not rest:
        return golden
    gaps = golden.filter(pl.col(lead).is_not_null() & pl.any_horizontal([pl.col(f).is_null() for f in rest]))
    if gaps.is_empty():
        return golden
    keyed = _with_key(m.filter(pl.col(lead).is_not_null() & pl.col("cluster_id").is_in(gaps["cluster_id"].implode())),
                      lead, street_key, "__street_key")
    fills = []
    for f in rest:
        fills.append(keyed.filter(pl.col(f).is_not_null())
                     .sort(["updated_at", RECORD_ID], descending=[True, False], nulls_last=True)
                     .unique(["cluster_id", "__street_key"], keep="first", maintain_order=True)
                     .select("cluster_id", "__street_key", pl.col(f).alias(f"__fill_{f}"),
                             pl.col(RECORD_ID).alias(f"__fillsrc_{f}")))
    g = golden.join(keyed.select(pl.col(RECORD_ID).alias("__addr_record"), "__street_key"),
                    on="__addr_record", how="left")
    for f, fill in zip(rest, fills, strict=True):
        g = g.join(fill, on=["cluster_id", "__street_key"], how="left").with_columns(
            pl.when(pl.col(f).is_null()).then(pl.col(f"__fill_{f}")).otherwise(pl.col(f)).alias(f),
            pl.when(pl.col(f).is_null()).then(pl.col(f"__fillsrc_{f}")).otherwise(pl.col(f"__src_{f}"))
            .alias(f"__src_{f}"),
        ).drop(f"__fill_{f}", f"__fillsrc_{f}")
    return g.drop("__street_key")


def _str_rule(rule: Rule) -> str:
    return rule if isinstance(rule, str) else "most_recent"
