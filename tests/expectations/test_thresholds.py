"""Thresholds: shipped YAML, project overrides and clear errors."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
import yaml

import expectations.thresholds as thresholds_module
from expectations.countries import ISO_3166_ALPHA2
from expectations.thresholds import (
    THRESHOLDS_ENV,
    Thresholds,
    ThresholdsError,
    default_thresholds,
    load_thresholds,
    resolve_thresholds,
)

THRESHOLDS_YAML = thresholds_module._SHIPPED


def test_shipped_yaml_matches_dataclass_defaults():
    shipped = default_thresholds()
    assert shipped == Thresholds()
    assert shipped.source == "expectations/thresholds.yaml"
    documented = set(yaml.safe_load(THRESHOLDS_YAML.read_text(encoding="utf-8")))
    assert {f.name for f in dataclasses.fields(Thresholds) if f.compare} == documented


def test_iso_list_is_complete():
    assert len(ISO_3166_ALPHA2) == 249
    assert {"US", "GB", "DE", "FR", "CN", "TW", "HK"} <= ISO_3166_ALPHA2
    assert "XK" not in ISO_3166_ALPHA2


def test_project_file_overrides_some_keys(tmp_path):
    path = tmp_path / "dq.yaml"
    path.write_text("email_valid_mostly: 0.5\nallowed_countries: [US, GB]\nearliest_date: 1950-06-01\n")
    t = load_thresholds(path)
    assert t.email_valid_mostly == 0.5
    assert t.allowed_countries == frozenset({"US", "GB"})
    assert t.earliest_date == dt.date(1950, 6, 1)
    assert t.phone_valid_mostly == Thresholds().phone_valid_mostly


def test_environment_variable_names_the_override(tmp_path, monkeypatch):
    path = tmp_path / "dq.yaml"
    path.write_text("name_present_mostly: 0.5\n")
    monkeypatch.setenv(THRESHOLDS_ENV, str(path))
    assert resolve_thresholds(None).name_present_mostly == 0.5
    assert resolve_thresholds({"sample_size": 3}).name_present_mostly == 0.5


def test_unknown_key_is_named_with_the_file(tmp_path):
    path = tmp_path / "dq.yaml"
    path.write_text("email_vaild_mostly: 0.9\n")
    with pytest.raises(ThresholdsError, match=r"dq\.yaml.*email_vaild_mostly"):
        load_thresholds(path)


@pytest.mark.parametrize(("text", "message"), [
    ("email_valid_mostly: 1.5\n", "email_valid_mostly must be a number in"),
    ("sample_size: -1\n", "sample_size must be a whole number"),
    ("phone_pattern: '[unclosed'\n", "phone_pattern is not a valid regular expression"),
    ("allowed_countries: [us]\n", "allowed_countries must be non-empty upper-case ISO-2"),
    ("earliest_date: yesterday\n", "earliest_date 'yesterday' is not a date"),
    ("- a list\n", "expected a mapping"),
])
def test_bad_values_are_reported(tmp_path, text, message):
    path = tmp_path / "dq.yaml"
    path.write_text(text)
    with pytest.raises(ThresholdsError, match=message) as info:
        load_thresholds(path)
    assert "dq.yaml" in str(info.value)


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(ThresholdsError, match="not found"):
        load_thresholds(tmp_path / "absent.yaml")
