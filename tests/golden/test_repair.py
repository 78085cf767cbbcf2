"""Value repair before survivorship, one small hand-labelled fixture per rule."""

from datetime import UTC, datetime

import polars as pl
import pytest

from dedupe.canonical import conform
from dedupe.golden.repair import repair, repair_addresses, repair_emails, repair_names, spelling_map, typo_map
from dedupe.golden.survivorship import SurvivorshipRules, survive


def t(day):
    return datetime(2024, 1, day, tzinfo=UTC)


def staged(rows: list[dict], cluster: str | list[str] = "c1") -> pl.DataFrame:
    """Staged member rows (missing columns null), ids and dates filled in."""
    df = pl.DataFrame(rows)
    n = df.height
    df = df.with_columns(
        pl.Series("record_id", [f"s:{i}" for i in range(n)]), pl.lit("shop").alias("source"),
        pl.Series("source_record_id", [str(i) for i in range(n)]),
        pl.Series("updated_at", [t(1 + i % 28) for i in range(n)]),
        pl.Series("created_at", [t(1) for _ in range(n)]))
    clusters = [cluster] * n if isinstance(cluster, str) else cluster
    return conform(df).with_columns(pl.Series("cluster_id", clusters))


def filler(field: str, value: str, n: int, country: str = "US") -> list[dict]:
    """``n`` other customers (own clusters) that spell ``field`` as ``value``: the batch vocabulary."""
    return [{field: value, "country": country} for _ in range(n)]


# -- vocabulary ---------------------------------------------------------------------------------

def test_typo_map_fixes_rare_value_one_edit_from_a_frequent_one():
    values = pl.Series(["Jennifer"] * 20 + ["Jnenifer", "Jenifer", "Anne"] + ["Arne"] * 2 + ["Anne"] * 29)
    m = dict(typo_map(values, ratio=10, rare=1).iter_rows())
    assert m["jnenifer"] == "Jennifer"       # transposition: one OSA edit
    assert m["jenifer"] == "Jennifer"        # deletion
    assert "arne" not in m                   # used twice: a name, not a typo
    assert "jennifer" not in m and "anne" not in m


def test_typo_map_needs_the_ratio():
    m = typo_map(pl.Series(["Lukas"] * 3 + ["Lucas"]), ratio=10)
    assert m.is_empty()


def test_spelling_map_prefers_the_common_form_per_country():
    df = pl.DataFrame({"country": ["FR"] * 4 + ["US"] * 3,
                       "v": ["Françoise", "Françoise", "Francoise", "FRANCOISE", "Noel", "Noel", "Noël"]})
    m = {(c, v): canon for c, v, canon in spelling_map(df, "v", "country").iter_rows()}
    assert m[("FR", "Francoise")] == "Françoise" and m[("FR", "FRANCOISE")] == "Françoise"
    assert m[("US", "Noël")] == "Noel"       # in the US the plain spelling is the usual one
    assert ("FR", "Françoise") not in m


# -- names --------------------------------------------------------------------------------------

def test_given_name_and_surname_swapped_back():
    rows = ([{"given_name": "Margaud", "surname": f"S{i}"} for i in range(4)]
            + [{"given_name": f"G{i}", "surname": "Rodriguez"} for i in range(4)]
            + [{"given_name": "Rodriguez", "surname": "Margaud"}])
    out = repair_names(staged(rows, [f"c{i}" for i in range(9)]))
    assert out.row(8, named=True)["given_name"] == "Margaud"
    assert out.row(8, named=True)["surname"] == "Rodriguez"
    assert out["given_name"][0] == "Margaud"   # the right way round stays


def test_nickname_becomes_the_formal_name_only_with_cluster_evidence():
    rows = [{"given_name": "Bob", "surname": "Smith"}, {"given_name": "Robert", "surname": "Smith"},
            {"given_name": "Bob", "surname": "Jones"}]
    out = repair_names(staged(rows, ["c1", "c1", "c2"]))
    assert out["given_name"].to_list() == ["Robert", "Robert", "Bob"]   # Bob Jones may be a Bob


def test_initial_completed_from_the_email_address():
    rows = [{"given_name": "J.", "surname": "Taylor", "email": "john.taylor56@yahoo.co.uk"},
            {"given_name": "J.", "surname": "Taylor", "email": "jtaylor@yahoo.co.uk"},
            {"given_name": "A.", "surname": "Taylor", "email": "john.taylor@x.com"}]
    rows += filler("given_name", "John", 2)
    out = repair_names(staged(rows, [f"c{i}" for i in range(5)]))
    assert out["given_name"].to_list()[:3] == ["John", "J.", "A."]   # only when the initial fits


def test_traditional_chinese_simplified():
    out = repair_names(staged([{"given_name": "偉", "surname": "張", "country": "CN"}]))
    assert (out["given_name"][0], out["surname"][0]) == ("伟", "张")


def test_name_typo_and_folded_spelling_repaired_from_the_batch():
    rows = ([{"given_name": "Jnenifer", "surname": "Miller", "country": "US"}, {"given_name": "Francoise", "surname": "Petit",
                                                               "country": "FR"}]
            + filler("given_name", "Jennifer", 12) + filler("given_name", "Françoise", 3, "FR"))
    out = repair_names(staged(rows, [f"c{i}" for i in range(len(rows))]))
    assert out["given_name"].to_list()[:2] == ["Jennifer", "Françoise"]


# -- e-mail -------------------------------------------------------------------------------------

def test_email_tag_case_and_domain_typo():
    rows = ([{"email": "Anna.Berg+shop@GMAIL.com"}, {"email": "anna.berg@gmail.ccom"}]
            + [{"email": f"p{i}@gmail.com"} for i in range(60)])
    out = repair_emails(staged(rows, [f"c{i}" for i in range(62)]))
    assert out["email"].to_list()[:2] == ["anna.berg@gmail.com", "anna.berg@gmail.com"]


def test_gmail_dot_that_splits_no_name_is_dropped():
    rows = [{"given_name": "James", "surname": "Brown", "email": "jamesbr.own5446@gmail.com"},
            {"given_name": "James", "surname": "Brown", "email": "james.brown77@gmail.com"},
            {"given_name": "James", "surname": "Brown", "email": "jamesbr.own5446@yahoo.com"}]
    out = repair_emails(staged(rows, ["a", "b", "c"]), typos=False)
    assert out["email"].to_list() == ["jamesbrown5446@gmail.com", "james.brown77@gmail.com",
                                      "jamesbr.own5446@yahoo.com"]   # dots matter elsewhere


def test_local_part_typo_fixed_against_the_name_the_cluster_agrees_on():
    rows = [{"given_name": "Ronald", "surname": "Ellis", "email": "ronald_elils3198@hotmail.com"},
            {"given_name": "Ronald", "surname": "Ellis", "email": None},
            {"given_name": "Ronald", "surname": "Elis", "email": "ronald_ellis12@aol.com"}]
    out = repair_emails(staged(rows, ["c1", "c1", "c2"]))
    assert out["email"][0] == "ronald_ellis3198@hotmail.com"
    assert out["email"][2] == "ronald_ellis12@aol.com"   # one record's name is no evidence


# -- addresses ----------------------------------------------------------------------------------

def test_chinese_pinyin_street_and_street_word_typo():
    rows = ([{"street": "88 Keji Road, Nanshan District", "country": "CN"},
             {"street": "1370 Haas Steeet", "country": "US"}]
            + [{"street": f"{i} Oak Street", "country": "US"} for i in range(25)])
    out = repair_addresses(staged(rows, [f"c{i}" for i in range(27)]))
    assert out["street"].to_list()[:3] == ["No. 88 Keji Road, Nanshan District", "1370 Haas Street", "0 Oak Street"]


def test_city_typo():
    rows = [{"city": "Cuicago"}] + filler("city", "Chicago", 25)
    out = repair_addresses(staged(rows, [f"c{i}" for i in range(26)]))
    assert out["city"][0] == "Chicago"


# -- survivorship with repair -------------------------------------------------------------------

def golden(rows, rules=None):
    g, _ = survive(staged(rows), rules)
    return g.row(0, named=True)


def test_city_only_row_in_the_same_city_keeps_the_street():
    row = golden([{"street": "5 Elm Street", "postal_code": "LS1 1AA", "city": "Leeds"},
                  {"city": "Leeds"}])     # newer sheet row with only a city
    assert (row["street"], row["postal_code"], row["city"]) == ("5 Elm Street", "LS1 1AA", "Leeds")


def test_mover_never_gets_the_old_street_back():
    row = golden([{"street": "5 Elm Street", "postal_code": "LS1 1AA", "city": "Leeds"},
                  {"city": "York"}])      # newer: moved to York, street unknown
    assert (row["street"], row["postal_code"], row["city"]) == (None, None, "York")


def test_postcode_completed_from_a_record_with_the_same_street():
    row = golden([{"street": "5 Elm St.", "postal_code": "LS1 1AA", "city": "Leeds"},
                  {"street": "5 Elm Street", "city": "Leeds"}])
    assert (row["street"], row["postal_code"]) == ("5 Elm Street", "LS1 1AA")


def test_work_email_for_a_company_contact():
    rows = [{"email": "anna.berg77@gmail.com", "company_name": "Acme GmbH"},
            {"email": "anna.berg77@gmail.com"}, {"email": "a.berg@acme.de"}]
    assert golden(rows)["email"] == "a.berg@acme.de"
    assert golden([{**r, "company_name": None} for r in rows])["email"] == "anna.berg77@gmail.com"


def test_popular_spelling_breaks_a_tie():
    rows = [{"given_name": "Michell"}, {"given_name": "Michelle"}]
    others = staged(filler("given_name", "Michelle", 3), [f"o{i}" for i in range(3)])
    g, _ = survive(pl.concat([staged(rows).with_columns(pl.col("record_id") + "x"), others]))
    assert g.filter(pl.col("cluster_id") == "c1")["given_name"][0] == "Michelle"


def test_repairs_configurable():
    rules = SurvivorshipRules.from_dict({"repairs": ["emails"]})
    assert rules.repairs == ("emails",)
    assert SurvivorshipRules.from_dict({"repairs": []}).repairs == ()
    row = golden([{"email": "A@X.COM", "given_name": "Jnenifer"}], rules)
    assert row["email"] == "a@x.com"
    with pytest.raises(ValueError, match="unknown repair"):
        repair(staged([{"email": "a@x.com"}]), ["spellcheck"])


# -- rules that work on the rows they can change ------------------------------------------------

def _mixed_batch() -> pl.DataFrame:
    """Several rules' fixtures in one batch: clusters of several records between lone records."""
    rows_clusters = [
        ({"given_name": "Bob", "surname": "Smith"}, "nick"), ({"given_name": "Bob", "surname": "Jones"}, "lone1"),
        ({"given_name": "Robert", "surname": "Smith"}, "nick"),
        ({"given_name": "J.", "surname": "Taylor", "email": "john.taylor56@yahoo.co.uk"}, "init"),
        ({"given_name": "John", "surname": "Doe"}, "lone2"), ({"given_name": "John", "surname": "Roe"}, "lone3"),
        ({"given_name": "Ronald", "surname": "Ellis", "email": "ronald_elils3198@hotmail.com"}, "mail"),
        ({"given_name": "Ronald", "surname": "Elis", "email": "ronald_ellis12@aol.com"}, "lone4"),
        ({"given_name": "James", "surname": "Brown", "email": "jamesbr.own5446@gmail.com"}, "lone5"),
        ({"given_name": "Ronald", "surname": "Ellis", "email": None}, "mail"),
        ({"given_name": "Curtis", "surname": "Holmes"}, "swap"), ({"given_name": "Holmes", "surname": "Curtis"}, "swap"),
        ({"given_name": "Holmes", "surname": "Curtis"}, "swap"), ({"given_name": "Curtis", "surname": "Holmes"}, "lone6"),
        ({"surname": "O'Connr", "given_name": "Sean"}, "vote"), ({"surname": "O'Connor", "given_name": "Sean"}, "vote"),
        ({"surname": "O'Connor", "given_name": "Sean"}, "vote"), ({"surname": "O'Connr", "given_name": "Sean"}, "lone7"),
    ]
    return staged([r for r, _ in rows_clusters], [c for _, c in rows_clusters])


def test_cluster_rules_change_only_clusters_with_evidence():
    out = repair(_mixed_batch())
    by_cluster = {}
    for r in out.iter_rows(named=True):
        by_cluster.setdefault(r["cluster_id"], []).append((r["given_name"], r["surname"], r["email"]))
    assert by_cluster["nick"] == [("Robert", "Smith", None)] * 2
    assert by_cluster["init"][0][0] == "John"
    assert by_cluster["mail"][0][2] == "ronald_ellis3198@hotmail.com"
    assert by_cluster["lone5"][0][2] == "jamesbrown5446@gmail.com"   # a lone record's Gmail dots too
    assert by_cluster["swap"] == [("Holmes", "Curtis", None)] * 3
    assert by_cluster["vote"] == [("Sean", "O'Connor", None)] * 3
    # a lone record is its own evidence: no nickname, swap, vote or local part rewritten
    assert [by_cluster[f"lone{i}"][0] for i in (1, 4, 6, 7)] == [
        ("Bob", "Jones", None), ("Ronald", "Elis", "ronald_ellis12@aol.com"), ("Curtis", "Holmes", None),
        ("Sean", "O'Connr", None)]


def test_repair_writes_each_record_back_to_its_own_row():
    """The rules put their few changed rows back by position: a shuffled batch gets each record
    the same values."""
    batch = _mixed_batch()
    out = repair(batch)
    for seed in (1, 2, 3):
        shuffled = batch.sample(fraction=1.0, shuffle=True, seed=seed)
        again = repair(shuffled)
        assert again["record_id"].to_list() == shuffled["record_id"].to_list()
        assert again.sort("record_id").equals(out.sort("record_id"))
