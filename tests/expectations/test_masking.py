"""Masking keeps enough to debug and never the whole value."""

from __future__ import annotations

import math

import pytest

from expectations.masking import column_kind, mask_email, mask_for_column, mask_phone, mask_value


def test_mask_email_keeps_first_char_and_domain():
    assert mask_email("john.doe@example.com") == "j***@example.com"
    assert mask_email("  Anna.Schmidt@Beispiel.de ") == "A***@Beispiel.de"
    assert mask_email("jon@@example.com") == "j***@example.com"
    assert mask_email("@example.com") == "***@example.com"


def test_mask_email_without_at_falls_back_to_generic_mask():
    masked = mask_email("john.doe example.com")
    assert masked == "j*** (len 16-31)"
    assert "doe" not in masked


@pytest.mark.parametrize(("raw", "masked"), [
    ("+491701234512", "+49 *** ** 12"),
    ("+8613812345678", "+86 *** ** 78"),
    ("+1 415 555 0132", "+1 *** ** 32"),
    ("+35312345678", "+353 *** ** 78"),
    ("0170 1234512", "*** ** 12"),
    ("+4912", "***"),
    ("+999123456789", "+*** ** 89"),
])
def test_mask_phone(raw, masked):
    assert mask_phone(raw) == masked


@pytest.mark.parametrize(("raw", "masked"), [
    ("Jonathan", "J*** (len 8-15)"),
    ("王伟", "王*** (len 1-3)"),
    ("Maximilian-Alexander von Hohenzollern-Sigmaringen", "M*** (len 32+)"),
    ("", ""),
])
def test_mask_value_keeps_first_char_and_length_class(raw, masked):
    assert mask_value(raw) == masked


@pytest.mark.parametrize(("column", "kind"), [
    ("email", "email"), ("raw_email", "email"), ("E-mail", "email"),
    ("phone", "phone"), ("raw_phone", "phone"), ("Tel", "phone"),
    ("given_name", "personal"), ("street", "personal"), ("raw_name", "personal"), ("vat_id", "personal"),
    ("country", "plain"), ("record_id", "plain"), ("golden_id", "plain"),
])
def test_column_kind(column, kind):
    assert column_kind(column) == kind


def test_mask_for_column_routes_by_column_and_drops_missing():
    assert mask_for_column("email", "john.doe@example.com") == "j***@example.com"
    assert mask_for_column("phone", "+491701234512") == "+49 *** ** 12"
    assert mask_for_column("surname", "Schmidt") == "S*** (len 4-7)"
    assert mask_for_column("country", "XX") == "XX"
    assert mask_for_column("email", None) is None
    assert mask_for_column("email", math.nan) is None


def test_vectorised_phone_masks_equal_the_per_value_ones():
    import polars as pl

    from expectations.masking import mask_phone, mask_phones

    values = ["+49 170 1234512", "+14155550132", " +86 138 1234 5678 ", "0049 170 1234512", "+4912", "12345",
              "+999 123 4567", "+7 912 345 67 89", "tel. 030-1234567 ext 12", "", "   ", "+",
              "＋４９ １７０ １２３４５１２", "+49\u00a0170 1234512", "+٤٩١٧٠١٢٣٤٥١٢", "+49 170 12345\x1f", None,
              "+1 (212) 555-0100", "+353 1 234 5678", "+880 1712 345678"]
    got = mask_phones(pl.Series("phone", values)).to_list()
    assert got == [None if v is None else mask_phone(v) for v in values]
