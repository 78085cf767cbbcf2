"""Clustering: connected components above the threshold, and the guard that keeps records with
strong evidence against each other apart even when third records connect them."""

from __future__ import annotations

import polars as pl

from dedupe import FSModel, block, cluster, prepare, score, settings_from_dict
from dedupe.matching.model import ComparisonParams

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


def test_default_settings_keep_two_mobiles_and_two_generations_apart():
    # father and son at one address: the son's plain record shares only name and address with the
    # father's; with a Jr. of the name on record there, that is not enough. Two records with
    # two different mobile numbers stay apart too, unless their e-mail is the same.
    from dedupe import default_settings

    base = {"given_name": "Brian", "surname": "Booth", "street": "12 Elm Street", "postal_code": "02118",
            "city": "Boston"}
    rows = [
        {"record_id": "sr1", **base, "email": "bbooth1961@gmail.com", "phone": "+44 7700 900123"},
        {"record_id": "sr2", **base, "email": "bbooth1961@gmail.com"},
        {"record_id": "jr1", **base, "surname": "Booth Jr.", "email": "brian.booth88@yahoo.com"},
        {"record_id": "jr2", **base, "email": "brian.booth88@yahoo.com", "phone": "+44 7700 900456"},
        {"record_id": "x1", **base},
    ]
    cols = ["record_id", "given_name", "surname", "full_name", "company_name", "email", "phone", "street",
            "postal_code", "city", "vat_id"]
    df = pl.DataFrame([{c: r.get(c) for c in cols} for r in rows], schema=dict.fromkeys(cols, pl.Utf8))
    settings = default_settings()
    feats = prepare(df, settings)
    pairs, _ = block(feats, settings)
    scored, _ = score(feats, pairs, settings, _crm_model(settings))
    got = groups(cluster(feats, scored, settings).rename({"record_id": "id"}))
    assert frozenset({"sr1", "sr2"}) in got and frozenset({"jr1", "jr2"}) in got
    assert frozenset({"x1"}) in got   # name and address alone cannot tell which of the two it is
    relaxed = settings.replace(cannot_link=settings.cannot_link[:1])
    merged = groups(cluster(feats, scored, relaxed).rename({"record_id": "id"}))
    assert any({"sr1", "jr2"} <= g or {"x1", "sr1"} <= g for g in merged)


def _crm_model(settings) -> FSModel:
    """Hand-set weights for the default comparisons: agreement on any field is strong evidence."""
    comps = {}
    for c in settings.comparisons:
        levels = [lv.name for lv in c.scored_levels]
        k = len(levels)
        m = [0.9] + [0.1 / (k - 1)] * (k - 1)
        u = [1e-4] + [(1 - 1e-4) / (k - 1)] * (k - 1)
        comps[c.name] = ComparisonParams(levels=levels, m=m, u=u)
    return FSModel(comparisons=comps, prior=1e-3)


def test_default_settings_two_mobiles_are_two_people_unless_one_mailbox_in_one_city():
    from dedupe import default_settings

    cols = ["record_id", "given_name", "surname", "full_name", "company_name", "email", "phone", "street",
            "postal_code", "city", "vat_id"]
    base = {"given_name": "John", "surname": "Smith", "street": "1 High Street", "postal_code": "OX1 2AB",
            "city": "Oxford"}
    rows = [
        {"record_id": "a1", **base, "phone": "+44 7700 900111"},
        {"record_id": "a2", **base, "phone": "07700 900222"},                     # other mobile
        {"record_id": "b1", **base, "email": "jsmith@example.org", "phone": "+44 7700 900333"},
        {"record_id": "b2", **base, "email": "jsmith@example.org", "phone": "+44 7700 900444"},
        {"record_id": "c1", **base, "email": "js85@example.org", "phone": "+44 7700 900555"},
        {"record_id": "c2", **base, "street": "9 Low Road", "postal_code": "LS1 1AA", "city": "Leeds",
         "email": "js85@example.org", "phone": "+44 7700 900666"},
    ]
    df = pl.DataFrame([{c: r.get(c) for c in cols} for r in rows], schema=dict.fromkeys(cols, pl.Utf8))
    settings = default_settings()
    feats = prepare(df, settings)
    assert feats["phone__mobile"].to_list() == [True] * 6
    pairs, _ = block(feats, settings)
    scored, _ = score(feats, pairs, settings, _crm_model(settings))
    def together(a: str, b: str, s) -> bool:
        got = groups(cluster(feats, scored, s).rename({"record_id": "id"}))
        return any({a, b} <= g for g in got)
    assert not together("a1", "a2", settings)
    assert together("b1", "b2", settings)        # one mailbox, one place: a new mobile number
    assert not together("c1", "c2", settings)    # one mailbox, but two mobiles in two cities
    no_mobile_rules = settings.replace(cannot_link=tuple(c for c in settings.cannot_link if c.comparison != "phone"))
    assert together("a1", "a2", no_mobile_rules) and together("c1", "c2", no_mobile_rules)
