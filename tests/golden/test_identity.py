"""Persistent golden ids across runs: keep, merge (oldest survives), split (largest keeps), retire."""

from datetime import UTC, datetime

import polars as pl

from dedupe.golden.identity import assign_ids

T1, T2, T3 = (datetime(2024, 1, d, tzinfo=UTC) for d in (1, 2, 3))


def clusters(mapping):
    return pl.DataFrame([(r, c) for c, rs in mapping.items() for r in rs],
                        schema={"record_id": pl.Utf8, "cluster_id": pl.Utf8}, orient="row")


def crosswalk(first, cl):
    return cl.join(first.ids, on="cluster_id").select("record_id", "golden_id")


def test_same_input_same_ids():
    cl = clusters({"a": ["r1", "r2"], "b": ["r3"]})
    one, two = assign_ids(cl, at=T1), assign_ids(cl, at=T1)
    assert one.ids.equals(two.ids)
    assert all(g.startswith("GC-") and len(g) == 19 for g in one.ids["golden_id"])
    # a second run continuing from the first keeps every id
    again = assign_ids(cl, crosswalk(one, cl), one.registry, at=T2)
    assert crosswalk(again, cl).sort("record_id").equals(crosswalk(one, cl).sort("record_id"))
    assert again.stats["new"] == 0 and again.retired.height == 0


def test_new_record_joins_existing_id():
    cl1 = clusters({"a": ["r1", "r2"]})
    first = assign_ids(cl1, at=T1)
    cl2 = clusters({"a": ["r1", "r2", "r9"]})
    second = assign_ids(cl2, crosswalk(first, cl1), first.registry, at=T2)
    assert second.ids["golden_id"].to_list() == first.ids["golden_id"].to_list()


def test_merge_keeps_oldest_and_records_history():
    cl1 = clusters({"a": ["r1"]})
    first = assign_ids(cl1, at=T1)
    cl2 = clusters({"a": ["r1"], "b": ["r2", "r3"]})
    second = assign_ids(cl2, crosswalk(first, cl1), first.registry, at=T2)
    old_a = first.ids["golden_id"][0]
    old_b = second.ids.filter(pl.col("cluster_id") == "b")["golden_id"][0]
    cl3 = clusters({"m": ["r1", "r2", "r3"]})  # b has more records, but a is older
    prev = pl.concat([crosswalk(second, cl2)])
    third = assign_ids(cl3, prev, second.registry, at=T3)
    assert third.ids["golden_id"].to_list() == [old_a]
    assert third.retired.select("retired_id", "surviving_id", "reason").rows() == [(old_b, old_a, "merged")]
    reg = third.registry.filter(pl.col("golden_id") == old_b).row(0, named=True)
    assert reg["retired_at"] == T3 and reg["surviving_id"] == old_a


def test_split_largest_part_keeps_id_and_new_part_gets_fresh_id():
    cl1 = clusters({"a": ["r1", "r2", "r3"]})
    first = assign_ids(cl1, at=T1)
    gid = first.ids["golden_id"][0]
    cl2 = clusters({"x": ["r2", "r3"], "y": ["r1"]})  # y holds the smallest record id
    second = assign_ids(cl2, crosswalk(first, cl1), first.registry, at=T2)
    got = dict(second.ids.iter_rows())
    assert got["x"] == gid
    assert got["y"] != gid and got["y"].startswith("GC-")
    assert second.stats["split"] == 1 and second.retired.height == 0


def test_deleted_records_retire_the_id():
    cl1 = clusters({"a": ["r1"], "b": ["r2"]})
    first = assign_ids(cl1, at=T1)
    gone = dict(first.ids.iter_rows())["b"]
    second = assign_ids(clusters({"a": ["r1"]}), crosswalk(first, cl1), first.registry, at=T2)
    assert second.retired.select("retired_id", "reason").rows() == [(gone, "no_sources")]


def test_an_id_the_registry_knows_is_never_issued_again():
    """A record whose id was retired comes back on its own: its cluster's seed is the same, so the
    id is salted instead of re-issued; two new clusters in one run never share an id either."""
    from dedupe.golden.identity import new_id

    cl1 = clusters({"a": ["r1"], "b": ["r2"]})
    first = assign_ids(cl1, at=T1)
    cl2 = clusters({"b": ["r2"]})
    second = assign_ids(cl2, crosswalk(first, cl1), first.registry, at=T2)
    assert second.retired["retired_id"].to_list() == [new_id("r1")]
    cl3 = clusters({"b": ["r2"], "c": ["r1"]})
    third = assign_ids(cl3, crosswalk(second, cl2), second.registry, at=T3)
    got = dict(third.ids.iter_rows())
    assert got["c"] == new_id("r1", 1) and third.stats["new"] == 1
    assert third.registry["golden_id"].is_unique().all()
