"""Link tokens: equal for equal normalised values, keyed, kind-separated."""

from __future__ import annotations

import hashlib
import hmac

import polars as pl
import pytest

from pipelines.privacy import link_token
from pipelines.privacy.keys import purpose_key


def tokens(values, *, key="shared-secret", kind="email") -> list:
    return pl.DataFrame({"v": values}, schema={"v": pl.Utf8}).select(link_token("v", key=key, kind=kind))["v"].to_list()


def test_two_departments_link_the_same_person():
    crm = tokens(["J.Doe+news@GoogleMail.com", "anna@example.com", "  Bob@Example.COM"])
    shop = tokens(["jdoe@gmail.com", "ANNA@example.com", "bob@example.com"])
    assert crm == shop
    assert len(set(crm)) == 3


def test_token_is_hmac_sha256_of_the_normalised_value():
    key = b"shared-secret"
    expected = hmac.new(purpose_key(key, "link:email"), b"anna@example.com", hashlib.sha256).hexdigest()
    assert tokens(["Anna@Example.com"]) == [expected]


def test_phone_tokens_ignore_formatting():
    t = tokens(["+49 30 1234567", "0049 (30) 123-4567", "+49301234567", "12", None], kind="phone")
    assert t[0] == t[1] == t[2]
    assert t[3] is None and t[4] is None


def test_key_and_kind_separate_token_spaces():
    assert tokens(["anna@example.com"], key="a") != tokens(["anna@example.com"], key="b")
    same = "4930123456@x.de"
    assert tokens([same], kind="email") != tokens([same], kind="phone")
    assert tokens([None, "not-an-email"]) == [None, None]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="kind must be one of email, phone"):
        link_token("v", key="k", kind="name")
    with pytest.raises(ValueError, match="key is empty"):
        link_token("v", key="", kind="email")
