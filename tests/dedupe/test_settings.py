"""Settings: the YAML form, the shipped defaults, and errors that say what is wrong where."""

from __future__ import annotations

from pathlib import Path

import pytest

from dedupe import SettingsError, default_settings, dump_settings, load_settings, settings_from_dict

REPO = Path(__file__).resolve().parents[2]


def test_default_settings_target_the_canonical_schema():
    from dedupe.canonical import CANONICAL_SCHEMA
    from dedupe.matching.features import base_columns, referenced_columns

    s = default_settings()
    assert s.unique_id == "record_id"
    assert 0 < s.review_band[0] < s.review_band[1] <= 1 and 0 < s.threshold < 1
    inputs = set().union(*(base_columns(c, s) for c in referenced_columns(s)))
    assert inputs <= set(CANONICAL_SCHEMA), inputs - set(CANONICAL_SCHEMA)
    assert {"name", "email", "phone", "address", "company"} <= {c.name for c in s.comparisons}


def test_yaml_round_trip(tmp_path):
    s = default_settings()
    path = tmp_path / "s.yaml"
    dump_settings(s, path)
    again = load_settings(path)
    assert again == s
    assert "template: person_name" in path.read_text(encoding="utf-8")


def test_febrl_settings_load():
    s = load_settings(REPO / "benchmarks" / "settings" / "febrl.yaml")
    assert s.unique_id == "rec_id"
    assert s.comparison("soc_sec_id").levels[0].kind == "null"     # YAML `kind: null` is accepted


def test_yaml_on_key_and_string_rules_are_accepted(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("unique_id: id\nblocking_rules:\n  - {name: e, on: [email__canonical]}\n  - city__city & name__key\n"
                    "comparisons:\n  - {name: email, template: email}\n", encoding="utf-8")
    s = load_settings(path)
    assert [r.on for r in s.blocking_rules] == [("email__canonical",), ("city__city", "name__key")]


@pytest.mark.parametrize("data, message", [
    ({"comparisons": []}, "'unique_id' is required"),
    ({"unique_id": "id", "blocking_rules": ["a__alnum"], "comparisons": [{"name": "x", "template": "nope"}]},
     "unknown comparison template 'nope'"),
    ({"unique_id": "id", "blocking_rules": ["a__alnum"], "comparisons": [{"name": "x", "template": "email"}],
      "threshold": 1.5}, "threshold must be in"),
    ({"unique_id": "id", "blocking_rules": ["a__alnum"], "comparisons": [{"name": "x", "template": "email"}],
      "speed": 1}, r"unknown keys \['speed'\]"),
    ({"unique_id": "id", "blocking_rules": ["a__alnum"],
      "comparisons": [{"name": "x", "levels": [{"kind": "exact"}, {"kind": "else"}]}]}, r"comparisons\[0\] \(x\)"),
    ({"unique_id": "id", "blocking_rules": ["a__alnum"], "comparisons": [{"name": "x", "template": "email"}],
      "cannot_link": [{"comparison": "x", "levels": ["nope"]}]}, "has no level 'nope'"),
])
def test_errors_name_the_setting(data, message):
    with pytest.raises(SettingsError, match=message):
        settings_from_dict(data)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("unique_id: [unclosed\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_settings(bad)
