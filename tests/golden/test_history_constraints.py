"""SCD2 golden history and steward constraints on clusters."""

from datetime import UTC, datetime

import polars as pl

from dedupe.golden.history import update_history
from dedupe.matching.constraints import apply_constraints

T1, T2 = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC)


def test_history_opens_and_closes_versions():
    g1 = pl.DataFrame({"golden_id": ["A", "B"], "city": ["Leeds", "York"]})
    h1, s1 = update_history(None, g1, at=T1, fields=["city"])
    assert s1 == {"opened": 2, "closed": 0, "unchanged": 0}
    g2 = pl.DataFrame({"golden_id": ["A", "C"], "city": ["Bath", "Hull"]})  # A moved, B gone, C new
    h2, s2 = update_history(h1, g2, at=T2, fields=["city"])
    assert s2 == {"opened": 2, "closed": 2, "unchanged": 0}
    a = h2.filter(pl.col("golden_id") == "A").sort("valid_from")
    assert a["city"].to_list() == ["Leeds", "Bath"]
    assert a["valid_to"].to_list() == [T2, None] and a["is_current"].to_list() == [False, True]
    # what did A say on 2024-01-15?
    on = h2.filter((pl.col("golden_id") == "A") & (pl.col("valid_from") <= datetime(2024, 1, 15, tzinfo=UTC))
                   & (pl.col("valid_to").is_null() | (pl.col("valid_to") > datetime(2024, 1, 15, tzinfo=UTC))))
    assert on["city"].to_list() == ["Leeds"]
    h3, s3 = update_history(h2, g2, at=datetime(2024, 3, 1, tzinfo=UTC), fields=["city"])
    assert s3 == {"opened": 0, "closed": 0, "unchanged": 2} and h3.height == h2.height


def test_cannot_link_splits_a_chain_at_its_weakest_edge():
    cl = pl.DataFrame({"record_id": list("abcd"), "cluster_id": ["a", "a", "a", "d"]})
    scored = pl.DataFrame({"id_l": ["a", "b"], "id_r": ["b", "c"], "match_probability": [0.99, 0.95],
                           "match_weight": [9.0, 7.0]})
    out = apply_constraints(cl, scored, cannot_link=pl.DataFrame({"id_l": ["c"], "id_r": ["a"]}), threshold=0.9)
    got = dict(out.iter_rows())
    assert got["a"] == got["b"] != got["c"]
    assert got["d"] == "d"


def test_must_link_joins_clusters_and_latest_wins_over_nothing():
    cl = pl.DataFrame({"record_id": list("abc"), "cluster_id": ["a", "b", "c"]})
    scored = pl.DataFrame(schema={"id_l": pl.Utf8, "id_r": pl.Utf8, "match_probability": pl.Float64,
                                  "match_weight": pl.Float64})
    out = apply_constraints(cl, scored, must_link=pl.DataFrame({"id_l": ["c"], "id_r": ["a"]}), threshold=0.9)
    assert dict(out.iter_rows()) == {"a": "a", "b": "b", "c": "a"}


def test_unknown_ids_in_decisions_are_ignored():
    cl = pl.DataFrame({"record_id": ["a"], "cluster_id": ["a"]})
    scored = pl.DataFrame(schema={"id_l": pl.Utf8, "id_r": pl.Utf8, "match_probability": pl.Float64})
    out = apply_constraints(cl, scored, must_link=pl.DataFrame({"id_l": ["a"], "id_r": ["zz"]}), threshold=0.9)
    assert out.equals(cl)
