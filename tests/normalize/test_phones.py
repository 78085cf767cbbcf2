"""Phone numbers to E.164 with a per-record default country."""

from __future__ import annotations

import polars as pl
import pytest

from dedupe.normalize import normalize_phone, phone_country, phone_layout_country, phone_national_number

CASES = [
    # national layouts with the record's country
    ("(0157) 1207 1861", "DE", "+4915712071861"),
    ("0175/33219185", "DE", "+4917533219185"),
    ("07 67 84 61 79", "FR", "+33767846179"),
    ("07.54.07.94.13", "FR", "+33754079413"),
    ("06-44332151", "FR", "+33644332151"),
    ("(816) 265-2043", "US", "+18162652043"),
    ("1-816-265-2043", "US", "+18162652043"),
    ("07872 003 125", "GB", "+447872003125"),
    ("137 2909 6599", "CN", "+8613729096599"),
    ("138-4391-9787", "CN", "+8613843919787"),
    # international prefixes
    ("+49 (0)30 1234567", None, "+49301234567"),
    ("+44 (0)7410 409 069", "GB", "+447410409069"),
    ("0049 157 12071861", None, "+4915712071861"),
    ("001 614 286 1226", "US", "+16142861226"),
    ("+8615113603855", "DE", "+8615113603855"),  # +CC wins over the record's country
    # extensions dropped
    ("+1 816 265 2043 ext. 12", None, "+18162652043"),
    ("020 6493 2406 x123", "GB", "+442064932406"),
    ("030 4105 0368-12", "DE", "+493041050368"),
    ("040 6670 8276 Durchwahl 55", "DE", "+494066708276"),
    # full-width digits (Chinese input methods)
    ("＋８６１５１５６７４２０８５", None, "+8615156742085"),
    ("０７３１\u3000５５３５\u3000４７８０", "CN", "+8673155354780"),
    # Excel stored the number: leading 0 or + lost, float suffix
    ("7980831421", "GB", "+447980831421"),
    ("33646264313", "FR", "+33646264313"),
    ("4917712612823", "DE", "+4917712612823"),
    ("33646264313.0", None, "+33646264313"),
    # not phone numbers
    ("abc", "DE", None), ("12", None, None), ("-", "DE", None), (None, "DE", None),
    ("(816) 265-2043", None, None),  # national layout, no country: unknown
]


@pytest.mark.parametrize(("raw", "country", "want"), CASES)
def test_normalize_phone(raw, country, want):
    df = pl.DataFrame({"raw": [raw], "cc": [country]}, schema={"raw": pl.Utf8, "cc": pl.Utf8})
    assert df.select(normalize_phone("raw", "cc")).item() == want


def test_whole_column_at_once_keeps_row_order():
    df = pl.DataFrame({"raw": [c[0] for c in CASES] * 3, "cc": [c[1] for c in CASES] * 3})
    got = df.select(normalize_phone(pl.col("raw"), pl.col("cc"))).to_series().to_list()
    assert got == [c[2] for c in CASES] * 3


def test_national_number_and_country_of_e164():
    df = pl.DataFrame({"e": ["+4915712071861", "+18162652043", "+8613729096599", "+447872003125", None]})
    out = df.select(n=phone_national_number("e"), c=phone_country("e"))
    assert out["n"].to_list() == ["15712071861", "8162652043", "13729096599", "7872003125", None]
    assert out["c"].to_list() == ["DE", "US", "CN", "GB", None]


def test_layout_hint():
    df = pl.DataFrame({"raw": ["(718) 706-1315", "469-617-5823", "１５０８５４２６２６９", "07365 269 949", None]})
    assert df.select(phone_layout_country("raw")).to_series().to_list() == ["US", "US", "CN", None, None]


def test_chinese_mobile_without_country_code_is_not_north_american():
    df = pl.DataFrame({"p": ["180 0981 0427", "18009810427", "138 0013 8000", "180 0981 0427", "1-800-981-0427",
                             "(800) 981-0427", "+1 800 981 0427"],
                       "c": ["CN", None, None, "US", None, "US", None]})
    out = df.select(normalize_phone("p", "c")).to_series().to_list()
    assert out == ["+8618009810427", "+8618009810427", "+8613800138000", "+18009810427", "+18009810427",
                   "+18009810427", "+18009810427"]
