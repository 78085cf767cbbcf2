"""Survivorship rules on a tiny hand-labelled cluster."""

from datetime import UTC, datetime

import polars as pl
import pytest

from dedupe.canonical import conform
from dedupe.golden.survivorship import SurvivorshipRules, survive


def t(day):
    return datetime(2024, 1, day, tzinfo=UTC)


@pytest.fixture
def members():
    df = pl.DataFrame({
        "record_id": ["erp:1", "shop:9", "sales:3", "sales:4"],
        "source": ["erp", "shop", "sales", "sales"],
        "source_record_id": ["1", "9", "3", "4"],
        "given_name": ["Robert", "Bob", "Robert", None],
        "surname": ["Smith", "Smith-Jones", None, "Smith"],
        "email": [None, "bob@x.com", "robert.smith@y.com", None],
        "phone": ["+441132000000", None, None, "+441132000001"],
        "street": ["1 Old Street", None, "2 New Street", None],
        "postal_code": ["LS1 1AA", None, "YO1 7HH", None],
        "city": ["Leeds", None, "York", "Hull"],
        "company_name": ["ACME Ltd", "Acme", None, None],
        "created_at": [t(1), t(2), t(3), t(4)],
        "updated_at": [t(1), t(5), t(3), t(2)],
    })
    return conform(df).with_columns(cluster_id=pl.lit("c1"))


def golden_row(members, rules=None):
    golden, lineage = survive(members, rules)
    assert golden.height == 1
    return golden.row(0, named=True), lineage


def test_default_rules_pick_expected_values(members):
    row, lineage = golden_row(members)
    assert row["given_name"] == "Robert"            # most frequent
    assert row["surname"] == "Smith-Jones"          # most recent non-empty (shop, Jan 5)
    # most frequent is a 1:1 tie; the address that spells the person's name wins it
    assert row["email"] == "robert.smith@y.com"
    assert row["company_name"] == "ACME Ltd"        # source priority: erp first
    # the address moves as one unit: newest record that has an address (sales:3, Jan 3)
    assert (row["street"], row["postal_code"], row["city"]) == ("2 New Street", "YO1 7HH", "York")
    src = dict(lineage.select("field", "record_id").iter_rows())
    assert src["email"] == "sales:3" and src["company_name"] == "erp:1" and src["city"] == "sales:3"
    assert "vat_id" not in src  # empty everywhere: no lineage row


def test_without_repairs_a_tie_goes_to_the_newest(members):
    row, _ = golden_row(members, SurvivorshipRules(repairs=()))
    assert row["email"] == "bob@x.com"


def test_empty_values_never_win(members):
    row, _ = golden_row(members.with_columns(pl.when(pl.col("source") == "shop").then(None)
                                             .otherwise(pl.col("email")).alias("email")))
    assert row["email"] == "robert.smith@y.com"


@pytest.mark.parametrize("rule,expected", [
    ("most_recent", "Smith-Jones"),
    ("source_priority", "Smith"),
    ("longest", "Smith-Jones"),
    ("most_frequent", "Smith"),
    ("most_complete", "Smith"),   # erp:1 has the most non-empty fields
])
def test_each_rule(members, rule, expected):
    row, _ = golden_row(members, SurvivorshipRules(fields={"surname": rule}))
    assert row["surname"] == expected


def test_custom_callable(members):
    def shortest(df, field):
        return (df.filter(pl.col(field).is_not_null())
                .sort(pl.col(field).str.len_chars(), "record_id")
                .group_by("cluster_id", maintain_order=True)
                .agg(pl.col(field).first().alias("value"), pl.col("record_id").first()))

    row, lineage = golden_row(members, SurvivorshipRules(fields={"email": shortest}))
    assert row["email"] == "bob@x.com"
    assert dict(lineage.select("field", "record_id").iter_rows())["email"] == "shop:9"


def test_ties_do_not_depend_on_row_order(members):
    tied = members.with_columns(updated_at=pl.lit(t(9)))
    a, _ = golden_row(tied)
    b, _ = golden_row(tied.reverse())
    assert a == b


def test_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="unknown survivorship rule"):
        SurvivorshipRules.from_dict({"fields": {"email": "newest_please"}})


def test_one_record_clusters_take_the_record_as_it_is(members):
    """A cluster of one record skips the ranking: its golden row and lineage are what the ranking
    would have given (checked against ranking every cluster)."""
    from dedupe.golden.survivorship import _pick_groups, pick, prepare

    singles = members.with_columns(record_id=pl.concat_str(pl.lit("x"), pl.col("record_id")),
                                   cluster_id=pl.concat_str(pl.lit("s"), pl.col("record_id")))
    batch = prepare(pl.concat([members, singles]))
    golden, lineage = pick(batch)
    fields = [c for c in golden.columns if c != "cluster_id"]
    ranked = _pick_groups(batch, SurvivorshipRules(), fields).select(golden.columns)
    assert golden.height == 5
    assert golden.sort("cluster_id").equals(ranked.sort("cluster_id"))
    own = lineage.filter(pl.col("cluster_id") == "serp:1")
    assert set(own["record_id"]) == {"xerp:1"} and "phone" in set(own["field"])
