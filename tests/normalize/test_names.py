"""One-field names split into given name, surname, title and suffix."""

from __future__ import annotations

import polars as pl
import pytest

from dedupe.normalize import clean_name_part, name_suffix_of, split_name, strip_name_suffix

# raw, given, surname, title, suffix
CASES = [
    ("WÄHNER, JOHANNE", "Johanne", "Wähner", None, None),
    ("Lévêque,  Alix", "Alix", "Lévêque", None, None),
    ("GIVEN SURNAME", "Given", "Surname", None, None),
    ("SCHMIDT Anna", "Anna", "Schmidt", None, None),
    ("Mme MALLET Nathalie", "Nathalie", "Mallet", "Mme", None),
    ("J. Smith", "J.", "Smith", None, None),
    ("Dr. Hans Müller", "Hans", "Müller", "Dr.", None),
    ("Prof. Dr. Anna Schmidt", "Anna", "Schmidt", "Prof. Dr.", None),
    ("Herr Thomas Meyer", "Thomas", "Meyer", "Herr", None),
    ("M. Jean Dupont", "Jean", "Dupont", "M.", None),
    ("M. Fiebig", "M.", "Fiebig", None, None),  # an initial, not Monsieur
    ("John Smith Jr.", "John", "Smith", None, "Jr."),
    ("RODRIGUEZ, BRIAN Jr.", "Brian", "Rodriguez", None, "Jr."),
    ("Henry Ford III", "Henry", "Ford", None, "III"),
    ("Jon P. Hogan", "Jon", "Hogan", None, None),
    ("Hogan, Jon P.", "Jon", "Hogan", None, None),
    ("Mary Ann Smith", "Mary Ann", "Smith", None, None),
    ("Jean de la Fontaine", "Jean", "de la Fontaine", None, None),
    ("Karz L.", "L.", "Karz", None, None),
    ("mcdonald o'brien", "McDonald", "O'Brien", None, None),
    ("Mohammad\u00a0Griffiths", "Mohammad", "Griffiths", None, None),
    ("Yang Jun", "Jun", "Yang", None, None),  # "Jun" is a given name here, not junior
    # Chinese in characters: surname first
    ("刘波宏", "波宏", "刘", None, None),
    ("顾子伟", "子伟", "顾", None, None),
    ("張偉", "偉", "張", None, None),
    ("欧阳娜娜", "娜娜", "欧阳", None, None),
    ("司馬光", "光", "司馬", None, None),
    ("王伟先生", "伟", "王", "先生", None),
    ("李娜女士", "娜", "李", "女士", None),
    ("张 伟", "伟", "张", None, None),
    ("Mr. 王伟", "伟", "王", "Mr.", None),
    # pinyin
    ("ZHANG Wei", "Wei", "Zhang", None, None),
    ("Wei Zhang", "Wei", "Zhang", None, None),
    ("Zhang Wei", "Wei", "Zhang", None, None),
    ("Yuan Shixia", "Shixia", "Yuan", None, None),
    ("Jiasi Hsu", "Jiasi", "Hsu", None, None),
    ("LIU, Bohong", "Bohong", "Liu", None, None),
    ("LI  Linchun", "Linchun", "Li", None, None),
    ("Na Li", "Na", "Li", None, None),
    # nothing to split
    ("Madonna", None, "Madonna", None, None),
    ("", None, None, None, None), ("N/A", None, None, None, None), (None, None, None, None, None),
]


@pytest.mark.parametrize(("raw", "given", "surname", "title", "suffix"), CASES)
def test_split_name(raw, given, surname, title, suffix):
    df = pl.DataFrame({"n": [raw]}, schema={"n": pl.Utf8})
    got = df.select(split_name("n")).unnest("n").row(0, named=True)
    assert (got["given_name"], got["surname"], got["name_title"], got["name_suffix"]) == (
        given, surname, title, suffix)


def test_full_name_is_recomposed_without_title():
    df = pl.DataFrame({"n": ["Dr. Hans Müller", "王伟先生", "WÄHNER, JOHANNE", None]})
    assert df.select(split_name("n").struct.field("full_name")).to_series().to_list() == [
        "Hans Müller", "王伟", "Johanne Wähner", None]


def test_split_keeps_row_order_over_repeated_values():
    raws = [c[0] for c in CASES] * 5
    df = pl.DataFrame({"n": raws}, schema={"n": pl.Utf8})
    got = df.select(split_name("n").struct.field("surname")).to_series().to_list()
    assert got == [c[2] for c in CASES] * 5


def test_name_parts_from_separate_fields():
    df = pl.DataFrame({"last": ["SMITH Jr.", "o'brien", " Müller ", None]})
    out = df.select(
        s=clean_name_part(strip_name_suffix("last")), x=name_suffix_of("last"))
    assert out["s"].to_list() == ["Smith", "O'Brien", "Müller", None]
    assert out["x"].to_list() == ["Jr.", None, None, None]
