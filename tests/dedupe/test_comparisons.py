"""Comparison levels evaluated over pair arrays: which level each realistic pair lands in."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from dedupe import Comparison, Level, default_settings, prepare
from dedupe.matching.comparisons import PairColumns, comparison_gamma
from dedupe.matching.explain import level_labels
from dedupe.matching.settings import SettingsError

COLS = ["record_id", "given_name", "surname", "full_name", "email", "phone", "street", "postal_code", "city",
        "company_name", "vat_id"]


def frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame([{c: r.get(c) for c in COLS} for r in rows], schema=dict.fromkeys(COLS, pl.Utf8))


def levels_of(rows: list[dict], pairs: list[tuple[str, str]], comparison: str) -> list[str]:
    settings = default_settings()
    feats = prepare(frame(rows), settings)
    ids = feats["record_id"].to_list()
    left = np.array([ids.index(a) for a, _ in pairs])
    right = np.array([ids.index(b) for _, b in pairs])
    gamma = comparison_gamma(PairColumns(feats, left, right), settings.comparison(comparison))
    labels = level_labels(settings)[comparison]
    return [labels[int(g)] for g in gamma]


def test_name_levels():
    rows = [
        {"record_id": "a", "full_name": "张伟"}, {"record_id": "b", "given_name": "Wei", "surname": "Zhang"},
        {"record_id": "c", "given_name": "Bob", "surname": "Smith"}, {"record_id": "d", "full_name": "Smith, Robert"},
        {"record_id": "e", "given_name": "Jane", "surname": "Smith"}, {"record_id": "f", "full_name": "R. Smith"},
        {"record_id": "g", "full_name": "汪伟"}, {"record_id": "h", "full_name": "王伟"},
        {"record_id": "i", "given_name": "Robert", "surname": "Smiht"}, {"record_id": "j", "full_name": "Mary Jones"},
        {"record_id": "k", "given_name": "Jane", "surname": "Miller"},
    ]
    got = levels_of(rows, [("a", "b"), ("c", "d"), ("d", "e"), ("d", "f"), ("g", "h"), ("d", "i"), ("e", "j"),
                           ("e", "k")], "name")
    assert got == ["same name", "nickname, same surname", "same surname, other given name", "initial and surname",
                   "same pinyin, other characters", "near-identical name", "different name",
                   "same given name, other surname"]


def test_email_levels_keep_role_addresses_apart():
    rows = [{"record_id": "a", "email": "J.Smith@gmail.com"}, {"record_id": "b", "email": "jsmith+shop@gmail.com"},
            {"record_id": "c", "email": "info@acme.de"}, {"record_id": "d", "email": "info+2021@acme.de"},
            {"record_id": "e", "email": "j.smith@gmail.com"}, {"record_id": "f", "email": "j.smtih@gmail.com"},
            {"record_id": "g", "email": "N/A"}, {"record_id": "h", "email": "jsmith@web.de"},
            {"record_id": "i", "email": "jsmith85@gmail.com"}, {"record_id": "j", "email": "jsmith85@yahoo.com"}]
    got = levels_of(rows, [("a", "e"), ("a", "b"), ("c", "d"), ("e", "f"), ("a", "g"), ("i", "j"), ("b", "h"),
                           ("a", "c")], "email")
    # a local part made of name words only (jsmith) is shared by namesakes at other domains; one
    # with a number (jsmith85) is personal
    assert got == ["same address", "same mailbox (dots/+tag)", "same role address (info@, sales@)", "one typo",
                   "no e-mail", "same local part, other domain", "same name-like local part, other domain",
                   "different address"]


def test_phone_levels():
    rows = [{"record_id": "a", "phone": "+49 170 6982 4889"}, {"record_id": "b", "phone": "0170 69824889"},
            {"record_id": "c", "phone": "+49 171 1910 4025"}, {"record_id": "d", "phone": "030 41050368"},
            {"record_id": "e", "phone": "+49 170 6982 4888"}]
    got = levels_of(rows, [("a", "b"), ("a", "c"), ("a", "d"), ("a", "e")], "phone")
    assert got == ["same number", "two different mobiles", "different number", "one digit off"]


def test_address_levels_use_street_postcode_and_city_together():
    rows = [{"record_id": "a", "street": "Münchner Straße 129", "postal_code": "13283", "city": "Berlin"},
            {"record_id": "b", "street": "Münchner Str. 129", "postal_code": "13283", "city": "BERLIN"},
            {"record_id": "c", "street": "Waldweg 3", "postal_code": "13283", "city": "Berlin"},
            {"record_id": "d", "city": "berlin"},
            {"record_id": "e", "street": "Münchner Str. 129", "postal_code": "80331", "city": "München"},
            {"record_id": "f"}]
    got = levels_of(rows, [("a", "b"), ("a", "c"), ("a", "d"), ("a", "e"), ("a", "f")], "address")
    assert got == ["same street address", "same postcode, other street", "same city", "elsewhere", "no address"]


def test_null_level_needs_every_column_missing():
    rows = [{"record_id": "a", "city": "Berlin"}, {"record_id": "b", "postal_code": "10115"}]
    assert levels_of(rows, [("a", "b")], "address") == ["no address"]


def test_comparison_validation_names_the_problem():
    with pytest.raises(SettingsError, match="last level must be kind 'else'"):
        Comparison("x", (Level("exact", ("a",)),))
    with pytest.raises(SettingsError, match="needs a threshold"):
        Level("fuzzy", ("a",), scorer="jaro_winkler")
    with pytest.raises(SettingsError, match="'if' needs a condition"):
        Level("if")
    with pytest.raises(SettingsError, match="takes no conditions"):
        Level("else", when_any="flag")


def test_fuzzy_scores_are_computed_once_per_distinct_value_pair(monkeypatch):
    from dedupe.matching import comparisons

    calls = []
    real = comparisons.process.cpdist

    def counting(a, b, **kw):
        calls.append(len(a))
        return real(a, b, **kw)

    monkeypatch.setattr(comparisons.process, "cpdist", counting)
    settings = default_settings()
    rows = [{"record_id": f"r{i:03d}", "city": c} for i, c in enumerate(["Berlin", "Berlln", "Hamburg", "Hambrug"] * 50)]
    feats = prepare(frame(rows), settings)
    left, right = np.triu_indices(feats.height, 1)
    gamma = comparison_gamma(PairColumns(feats, left, right), settings.comparison("address"))
    labels = level_labels(settings)["address"]
    got = {labels[int(g)] for g in gamma}
    assert got == {"same city", "similar city", "elsewhere"}
    assert len(left) == 19_900
    assert sum(calls) <= 16          # 4 distinct cities: at most 4 x 4 value pairs scored


def test_generations_level_where_a_jr_of_the_name_lives_in_the_city():
    # a Jr. Brian Booth is on record in Boston: the plain Brian Booths there (and their pairs with
    # Brian Booths elsewhere) get their own level; other names and other cities keep "same suffix"
    rows = [{"record_id": "a", "full_name": "Booth, Brian Jr.", "city": "Boston"},
            {"record_id": "b", "given_name": "Brian", "surname": "Booth", "city": "BOSTON"},
            {"record_id": "c", "full_name": "Brian Booth", "city": "Boston"},
            {"record_id": "d", "full_name": "Brian Booth", "city": "Chicago"},
            {"record_id": "e", "full_name": "Brian Booth", "city": "Chicago"},
            {"record_id": "f", "full_name": "Anna Lee", "city": "Boston"},
            {"record_id": "g", "full_name": "Anna Lee", "city": "Boston"}]
    got = levels_of(rows, [("b", "c"), ("c", "d"), ("d", "e"), ("f", "g"), ("a", "b")], "name_suffix")
    assert got == ["no suffix, a Jr./Sr. of the name in the city", "no suffix, a Jr./Sr. of the name in the city",
                   "same suffix", "same suffix", "suffix on one side only"]


def test_suffix_from_a_column_of_its_own():
    # staging splits "Jr." off the name into name_suffix; the engine still sees it
    settings = default_settings()
    df = frame([{"record_id": "a", "given_name": "Brian", "surname": "Booth"},
                {"record_id": "b", "given_name": "Brian", "surname": "Booth"},
                {"record_id": "c", "given_name": "Brian", "surname": "Booth Sr."}])
    feats = prepare(df.with_columns(name_suffix=pl.Series(["Jr.", None, None])), settings)
    assert feats["name__suffix"].to_list() == ["jr", "-", "sr"]
    assert feats["name__has_suffix"].to_list() == [True, False, True]
    assert feats["name__key"].n_unique() == 1


def test_peer_flags_over_the_whole_table():
    from dedupe.matching.comparisons import peer_column, peer_flags

    feats = pl.DataFrame({"k1": ["x", "x", "y", None, "y"], "k2": ["p", "p", "p", "p", "q"],
                          "f": [False, True, False, True, False]})
    assert peer_flags(feats, "f", ("k1", "k2"), {}).tolist() == [True, True, False, False, False]
    # a column computed beforehand (an engine scoring pairs in batches) is used as it is
    pre = feats.with_columns(pl.Series(peer_column("f", ("k1", "k2")), [False, False, True, False, False]))
    assert peer_flags(pre, "f", ("k1", "k2"), {}).tolist() == [False, False, True, False, False]
