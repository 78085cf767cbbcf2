"""A cluster's digest changes with what survivorship reads of its members, and only with that."""

import polars as pl

from dedupe.golden.records import GoldenPlan, cluster_digests
from dedupe.golden.survivorship import SurvivorshipRules


def _digests(members: dict) -> dict[str, tuple]:
    plan = GoldenPlan(members=pl.DataFrame(members), crosswalk=pl.DataFrame(), ids=None,
                      rules=SurvivorshipRules(), fields=[])
    return {g: (n, lo, hi) for g, n, lo, hi in cluster_digests(plan).iter_rows()}


BASE = {"record_id": ["r1", "r2", "r3", "r4"], "cluster_id": ["c1", "c1", "c1", "c2"],
        "golden_id": ["g1", "g1", "g1", "g2"], "city": ["Bern", "Bern", "Basel", "Genf"],
        "__post_city": [10, 20, 30, 5]}


def test_a_hint_counts_by_its_rank_within_the_cluster():
    before = _digests(BASE)
    # every spelling got more common in the batch, in the same order: nothing to pick again
    assert _digests({**BASE, "__post_city": [11, 25, 90, 1]}) == before
    # r1 now more common than r2: g1's pick may change; g2 is one record, never ranked
    after = _digests({**BASE, "__post_city": [21, 20, 30, 7]})
    assert after["g1"] != before["g1"] and after["g2"] == before["g2"]
    # ties are a rank of their own
    assert _digests({**BASE, "__post_city": [20, 20, 30, 5]})["g1"] != before["g1"]


def test_member_values_and_membership_count_but_not_row_order():
    before = _digests(BASE)
    assert _digests({k: v[::-1] for k, v in BASE.items()}) == before
    changed = _digests({**BASE, "city": ["Bern", "Bern", "Zug", "Genf"]})
    assert changed["g1"] != before["g1"] and changed["g2"] == before["g2"]
    moved = _digests({**BASE, "cluster_id": ["c1", "c1", "c2", "c2"], "golden_id": ["g1", "g1", "g2", "g2"]})
    assert moved["g1"][0] == 2 and moved["g2"][0] == 2 and moved["g1"] != before["g1"]
