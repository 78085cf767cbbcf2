"""Blocking: rules unioned and de-duplicated, counts per rule, the guard against broad rules."""

from __future__ import annotations

import polars as pl
import pytest

from dedupe import BlockingRule, BlockingRuleTooBroad, block, prepare, settings_from_dict

SETTINGS = {
    "unique_id": "id",
    "blocking_rules": [{"name": "email", "columns": ["email__canonical"]},
                       {"name": "city", "columns": ["city__city"]}],
    "comparisons": [{"name": "email", "template": "email", "column": "email"}],
}


def people() -> pl.DataFrame:
    return pl.DataFrame({
        "id": ["1", "2", "3", "4", "5"],
        "email": ["a@x.de", "A@x.de", "b@x.de", None, "a+tag@x.de"],
        "city": ["Berlin", "Berlin", "Hamburg", "Hamburg", "Köln"],
    })


def test_union_is_deduplicated_and_keeps_the_first_rule():
    settings = settings_from_dict(SETTINGS)
    pairs, counts = block(prepare(people(), settings), settings)
    assert counts == {"email": 3, "city": 2}
    got = {(a, b): r for a, b, r in pairs.iter_rows()}
    assert got == {("1", "2"): "email", ("1", "5"): "email", ("2", "5"): "email", ("3", "4"): "city"}


def test_guard_refuses_a_rule_that_makes_too_many_pairs_and_names_it():
    big = pl.DataFrame({"id": [str(i) for i in range(300)], "email": [f"p{i}@x.de" for i in range(300)],
                        "city": ["Berlin"] * 300})
    settings = settings_from_dict({**SETTINGS, "max_pairs_per_rule": 10_000})
    with pytest.raises(BlockingRuleTooBroad, match=r"rule 'city' would create 44,850 candidate pairs"):
        block(prepare(big, settings), settings)


def test_link_only_pairs_cross_the_two_tables():
    from dedupe.matching.engine import prepare as prepare_link

    settings = settings_from_dict({**SETTINGS, "link_type": "link_only"})
    a = people().head(3)
    b = pl.DataFrame({"id": ["9"], "email": ["a@x.de"], "city": ["Berlin"]})
    feats = prepare_link(a, settings, link_with=b)
    pairs, counts = block(feats, settings)
    assert set(pairs.select("id_l", "id_r").iter_rows()) == {("1", "9"), ("2", "9")}
    assert counts == {"email": 2, "city": 2}


def test_blocking_rule_needs_columns():
    with pytest.raises(ValueError, match="needs at least one column"):
        BlockingRule("empty", ())
