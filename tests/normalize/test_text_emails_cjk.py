"""Text cleanup, e-mail and Chinese-script normalisers on hand-labelled values."""

from __future__ import annotations

import polars as pl
import pytest

from dedupe.normalize import (
    clean_text,
    email_canonical,
    email_country,
    has_cjk,
    is_excel_error,
    is_valid_email,
    normalize_email,
    proper_case,
    to_pinyin,
    to_simplified,
)


def _run(expr_fn, values, dtype=pl.Utf8):
    return pl.DataFrame({"v": values}, schema={"v": dtype}).select(expr_fn(pl.col("v"))).to_series().to_list()


@pytest.mark.parametrize(("raw", "want"), [
    ("  Anna\u00a0 Schmidt ", "Anna Schmidt"),
    ("ｊｏｈｎ　１２３", "john 123"),
    ("", None), ("N/A", None), ("n/a", None), ("-", None), ("null", None), ("NULL", None), ("none", None),
    ("#REF!", None), ("#N/A", None), ("#VALUE!", None), ("#DIV/0!", None), ("#NAME?", None),
    ("Na", "Na"),  # a Chinese given name, not a placeholder
    (None, None),
])
def test_clean_text(raw, want):
    assert _run(clean_text, [raw]) == [want]


def test_excel_error_detection_only_flags_errors():
    assert _run(is_excel_error, ["#REF!", " #n/a ", "REF", "Hash #1", None]) == [True, True, False, False, False]


@pytest.mark.parametrize(("raw", "want"), [
    ("WÄHNER", "Wähner"), ("o'brien", "O'Brien"), ("mcdonald", "McDonald"), ("jean-pierre", "Jean-Pierre"),
    ("McDonald", "McDonald"), ("van der Berg", "van der Berg"), ("DeLuca", "DeLuca"), ("刘波宏", "刘波宏"),
])
def test_proper_case_only_touches_single_case_values(raw, want):
    assert _run(proper_case, [raw]) == [want]


def test_normalize_email_trims_and_lowercases():
    assert _run(normalize_email, [" Glindsey4199@Yahoo.com ", "n/a", "-", None]) == [
        "glindsey4199@yahoo.com", None, None, None]


@pytest.mark.parametrize(("raw", "valid"), [
    ("anna.schmidt@web.de", True), ("a+tag@sub.example.co.uk", True), ("ziweigu6246@outlook.com", True),
    ("a@@b.com", False), ("a@b", False), ("a b.com", False), ("a@b.com..", False), ("@b.com", False),
    ("a@", False), ("a.b.com", False), ("a..b@c.com", False), ("a@-b.com", False),
])
def test_is_valid_email(raw, valid):
    assert _run(is_valid_email, [raw]) == [valid]


def test_missing_email_is_not_invalid():
    assert _run(is_valid_email, [None, "n/a"]) == [None, None]


@pytest.mark.parametrize(("raw", "want"), [
    ("J.Smith+news@GoogleMail.com", "jsmith@gmail.com"),
    ("j.smith@gmail.com", "jsmith@gmail.com"),
    ("roussel.antoine1953+crm@orange.fr", "roussel.antoine1953@orange.fr"),  # dots kept outside Gmail
    ("a@@b.com", None),
])
def test_email_canonical_is_a_matching_key(raw, want):
    assert _run(email_canonical, [raw]) == [want]


def test_email_country_from_domain():
    assert _run(email_country, ["x@web.de", "x@qq.com", "x@hotmail.co.uk", "x@gmail.com", None]) == [
        "DE", "CN", "GB", None, None]


def test_cjk_simplified_and_pinyin():
    values = ["張偉", "张伟", "歐陽娜", "Zhang Wei", None]
    assert _run(has_cjk, values) == [True, True, True, False, None]
    assert _run(to_simplified, values) == ["张伟", "张伟", "欧阳娜", "Zhang Wei", None]
    assert _run(to_pinyin, values) == ["zhang wei", "zhang wei", "ou yang na", "zhang wei", None]


def test_cjk_helpers_call_the_library_once_per_distinct_value(monkeypatch):
    from dedupe.normalize import cjk

    calls: list[str] = []
    cjk._simplified.cache_clear()
    real = cjk.t2s_converter().convert
    monkeypatch.setattr(cjk, "t2s_converter", lambda: type("C", (), {"convert": staticmethod(
        lambda v: calls.append(v) or real(v))}))
    out = _run(to_simplified, ["張偉", "張偉", "劉波", "張偉"] * 50)
    assert out[:4] == ["张伟", "张伟", "刘波", "张伟"]
    assert sorted(calls) == ["劉波", "張偉"]
    cjk._simplified.cache_clear()
