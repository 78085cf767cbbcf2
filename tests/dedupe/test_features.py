"""Matching features: each transform on the spellings the sources really use."""

from __future__ import annotations

import polars as pl
import pytest

from dedupe.matching.features import add_person_name, nickname_formals, nickname_initials
from dedupe.normalize.keys import apply_transform


def tf(values: list, name: str) -> list:
    return pl.DataFrame({"x": values}, schema={"x": pl.Utf8}).select(apply_transform(pl.col("x"), name)).to_series().to_list()


def test_clean_turns_placeholders_into_null():
    assert tf([" N/A ", "-", "null", "#REF!", "", "  x\u00a0 y "], "clean") == [None] * 5 + ["x y"]


def test_email_canonical_drops_tags_and_gmail_dots_only():
    got = tf(["J.Smith+news@GMail.com", "j.smith@googlemail.com", "a.b+x@web.de", "no-at-sign", None], "canonical")
    assert got == ["jsmith@gmail.com", "jsmith@gmail.com", "a.b@web.de", None, None]
    assert tf(["Info+2021@acme.de", "anna@acme.de"], "generic") == [True, False]


@pytest.mark.parametrize("raw", ["+49 170 6982 4889", "0049 170 6982 4889", "0170/69824889", "+49 (0)170 6982 4889",
                                 "０１７０　６９８２　４８８９"])
def test_phone_key_agrees_across_spellings(raw):
    assert tf([raw], "key") == ["069824889"]


def test_phone_key_drops_extensions_but_keeps_dashed_numbers():
    assert tf(["030 41050368-12", "030 41050368 Durchwahl 123", "(773) 586-9314 ext. 12", "186-9677-9777"],
              "key") == ["041050368", "041050368", "735869314", "696779777"]


def test_mobile_detection():
    got = tf(["+4917012566269", "030 41050368", "07547 526905", "06 14 66 02 73", "+8615285220085",
              "010 6020 5676", "+17735869314", None], "mobile")
    assert got == [True, False, True, True, True, False, None, None]


def test_street_key_matches_chinese_and_pinyin_and_abbreviations():
    got = tf(["南山区科技路88号", "No. 88 Keji Road, Nanshan District", "Hamburger Str. 65 C", "Hamburger Straße 65c",
              "3224 River Dr", "3224 river drive"], "street")
    assert got[0] == got[1]
    assert got[2] == got[3]
    assert got[4] == got[5]


def test_city_key_across_scripts_and_exonyms():
    got = tf(["深圳市", "Shenzhen", "深圳", "Munich", "München", "MUENCHEN", "Portland, OR", "重庆", "Chongqing"], "city")
    assert len(set(got[:3])) == 1
    assert len(set(got[3:6])) == 1
    assert got[6] == "portland"
    assert got[7] == got[8] == "chongqing"


def test_company_core_ignores_legal_form():
    got = tf(["Koch Handel GmbH", "KOCH HANDEL G.m.b.H.", "Perez Corporation", "perez corp.", "青岛天龙电子有限公司",
              "Main Trading PLC"], "company")
    assert got[0] == got[1] == "kochhandel"
    assert got[2] == got[3] == "perez"
    assert got[4] == "青岛天龙电子"
    assert got[5] == "maintrading"


def test_vat_and_country():
    assert tf(["DE 123 456 789", "de123456789", "123456789"], "vat") == ["123456789"] * 3
    assert tf(["U.S.A.", "中国", "Deutschland", "fr"], "country") == ["US", "CN", "DE", "FR"]


def names(rows: list[tuple]) -> pl.DataFrame:
    df = pl.DataFrame(rows, schema={"given_name": pl.Utf8, "surname": pl.Utf8, "full_name": pl.Utf8}, orient="row")
    return add_person_name(df, "name")


def test_chinese_names_in_any_script_and_order_share_one_key():
    out = names([(None, None, "张伟"), (None, None, "張偉先生"), ("Wei", "Zhang", None), (None, None, "Wei Zhang"),
                 (None, None, "ZHANG Wei"), ("伟", "张", None)])
    assert out["name__key"].n_unique() == 1
    assert out["name__key"][0] == "wei zhang"
    assert out["name__hanzi"].to_list()[:2] == ["张伟", "张伟"]


def test_compound_surname_and_romanisation_variants():
    out = names([(None, None, "欧阳娜娜"), ("Wei", "Chan", None), ("Wei", "Chen", None)])
    assert out.row(0, named=True)["name__last"] == "ouyang"
    assert out["name__last"].to_list()[1:] == ["chen", "chen"]


def test_western_one_field_names_are_split_by_convention():
    out = names([(None, None, "Smith, John"), (None, None, "SCHMIDT Anna"), (None, None, "Dr. J. Smith"),
                 (None, None, "SCHMIEDECKE E."), ("Bob", "Smith Jr.", None), (None, None, "Mary O'Neill")])
    first, last = out["name__first"].to_list(), out["name__last"].to_list()
    assert (first[0], last[0]) == ("john", "smith")
    assert (first[1], last[1]) == ("anna", "schmidt")
    assert (first[2], last[2], out["name__is_initial"][2]) == (None, "smith", True)
    assert (last[3], out["name__initial"][3]) == ("schmiedecke", "e")
    assert out["name__suffix"].to_list()[4] == "jr"
    assert last[5] == "oneill"


def test_swapped_given_and_surname_fields_are_put_back_by_table_statistics():
    rows = [("Diana", "Kranz", None)] + [(g, "Kranz", None) for g in ("Anna", "Paul", "Eva")] + \
        [("Diana", s, None) for s in ("Weber", "Ross", "Hill")] + [("Kranz", "Diana", None)]
    out = names(rows)
    assert out.row(len(rows) - 1, named=True)["name__first"] == "diana"
    assert out.row(len(rows) - 1, named=True)["name__last"] == "kranz"


def test_nicknames_and_their_initials():
    formals = nickname_formals()
    assert formals["bob"] == ["robert"]
    assert "katherine" in formals["kate"] and "catherine" in formals["kate"]
    assert formals["hans"] == ["johannes"]
    inits = nickname_initials()
    assert {"b", "e", "l"} <= set(inits["liz"])
    out = names([("Bob", "Smith", None), ("Robert", "Smith", None)])
    assert out["name__formals"].to_list() == [["robert"], ["robert"]]
    assert out["name__formal_key"].to_list() == ["robert smith", "robert smith"]


def test_birth_year_hint_in_mailbox_names():
    got = tf(["davidhart85@aol.com", "dhart1994@gmail.com", "jcortez9036@yahoo.com", "jon@x.de",
              "anna.schmidt2003+shop@web.de"], "year")
    assert got == ["85", "94", None, None, "03"]
