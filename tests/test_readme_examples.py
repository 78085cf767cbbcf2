"""Every YAML example in the README loads with the loader that reads it in a real run."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from connectors.config import parse_config
from dedupe.golden.survivorship import SurvivorshipRules
from dedupe.matching.settings import settings_from_dict

README = Path(__file__).resolve().parents[1] / "README.md"


def yaml_blocks() -> list[dict]:
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", README.read_text(), re.DOTALL)]


def test_every_yaml_example_in_the_readme_loads(tmp_path, monkeypatch):
    # the survivorship example names a rule of the user's own package: give it one
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "rules.py").write_text(
        "def best_name(members, field):\n    return members.group_by('golden_id').agg(members[field].first())\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    blocks = yaml_blocks()
    kinds = set()
    for data in blocks:
        if "sources" in data:
            config = parse_config(data, where="README example")
            assert config.names(), data
            kinds |= {s.kind for s in config.sources}
        else:
            settings_from_dict(data, source="README example")
            if "survivorship" in data:
                SurvivorshipRules.from_dict(data["survivorship"])
    assert {"sql", "rest", "files"} <= kinds
    assert any("survivorship" in d for d in blocks)
