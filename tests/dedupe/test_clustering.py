"""Clustering: connected components above the threshold, and the guard that keeps records with
strong evidence against each other apart even when third records connect them."""

from __future__ import annotations

import polars as pl

from dedupe import FSModel, block, cluster, prepare, score, settings_from_dict
from dedupe.model import ComparisonParams

SETTINGS = {
    "unique_id": "id",
    "threshold": 0.9,
    "blocking_rules": [{"name": "email", "columns": ["email__alnum"]}, {"name": "phone", "columns": ["phone__alnum"]}],
    "comparisons": [
        {"name": "name", "template": "exact", "column": "name"},
        {"name": "email", "template": "exact", "column": "email"},
        {"name": "phone", "template": "exact", "column": "phone"},
    ],
    "cannot_link": [{"comparison": "name", "levels": ["different"]}],
}


def model() -> FSModel:
    def params(m_exact: float, u_exact: float) -> ComparisonParams:
        return ComparisonParams(levels=["exact", "different"], m=[m_exact, 1 - m_exact], u=[u_exact, 1 - u_exact])
    return FSModel(comparisons={"name": params(0.9, 0.01), "email": params(0.9, 1e-5), "phone": params(0.9, 1e-5)},
                   prior=1e-3)


def run(rows: list[tuple], settings=None):
    settings = settings or settings_from_dict(SETTINGS)
    df = pl.DataFrame(rows, schema={"id": pl.Utf8, "name": pl.Utf8, "email": pl.Utf8, "phone": pl.Utf8}, orient="row")
    feats = prepare(df, settings)
    pairs, _ = block(feats, settings)
    scored, m = score(feats, pairs, settings, model())
    return feats, scored, settings, m


def groups(clusters: pl.DataFrame) -> set[frozenset]:
    return {frozenset(g) for g in clusters.group_by("cluster_id").agg("id")["id"].to_list()}


def test_components_above_threshold_with_singletons_and_smallest_id_as_cluster_id():
    feats, scored, settings, m = run([("b", "Ann", "e1", None), ("a", "Ann", "e1", None), ("c", "Cy", None, "p9")])
    clusters = cluster(feats, scored, settings, model=m)
    assert clusters.columns == ["id", "cluster_id"]
    assert dict(clusters.iter_rows()) == {"a": "a", "b": "a", "c": "c"}


def test_third_record_cannot_chain_two_people_with_different_names():
    # A and B share an e-mail, B and C a phone; B has no name. A and C were never blocked together,
    # but their names differ: the cluster is scored inside and split.
    rows = [("A", "Ann", "e1", None), ("B", None, "e1", "p1"), ("C", "Bea", None, "p1")]
    feats, scored, settings, m = run(rows)
    assert set(scored.select("id_l", "id_r").iter_rows()) == {("A", "B"), ("B", "C")}
    assert (scored["match_probability"] > 0.9).all()
    unguarded = cluster(feats, scored, settings)            # no model: only scored pairs are checked
    assert groups(unguarded) == {frozenset("ABC")}
    guarded = cluster(feats, scored, settings, model=m)
    assert frozenset("AC") not in groups(guarded)
    assert len(groups(guarded)) == 2


def test_cannot_link_pair_is_never_merged_directly():
    rows = [("A", "Ann", "e1", "p1"), ("B", "Bea", "e1", "p1")]
    feats, scored, settings, m = run(rows)
    assert scored["match_probability"][0] > 0.9
    assert groups(cluster(feats, scored, settings, model=m)) == {frozenset("A"), frozenset("B")}
    relaxed = settings.replace(cannot_link=())
    assert groups(cluster(feats, scored, relaxed, model=m)) == {frozenset("AB")}


def test_unless_lets_strong_evidence_override_a_cannot_link():
    base = {**SETTINGS, "cannot_link": [{"comparison": "name", "levels": ["different"],
                                         "unless": {"email": ["exact"]}}]}
    settings = settings_from_dict(base)
    feats, scored, settings, m = run([("A", "Ann", "e1", None), ("B", "Bea", "e1", None)], settings)
    assert groups(cluster(feats, scored, settings, model=m)) == {frozenset("AB")}
