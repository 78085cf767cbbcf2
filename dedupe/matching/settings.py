"""Declarative matching settings: what to block on, what to compare, where to cut.

Kept apart from the engine so a table other than the canonical customer schema can be matched
by writing a YAML file instead of code. Column names in levels and blocking rules may name a
derived feature, ``<column>__<transform>`` (e.g. ``email__canonical``), or a feature that a
library comparison adds, ``<comparison>__<suffix>`` (e.g. ``name__key``); ``prepare`` computes them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from dedupe.matching.comparisons import comparison_from_template
from dedupe.matching.levels import Comparison, Level, SettingsError

LINK_TYPES = ("dedupe_only", "link_only", "link_and_dedupe")
#: where the matching runs; the settings pick one, a command-line flag or resource overrides it
ENGINES = ("polars", "spark")


@dataclass(frozen=True)
class BlockingRule:
    """Records that agree on every column in ``on`` (all non-null) become candidate pairs.

    ``max_block``: key values shared by more records than this are skipped (a name that 3,000
    customers in one city share says nothing); other rules still pair those records."""

    name: str
    on: tuple[str, ...]
    max_block: int | None = None

    def __post_init__(self) -> None:
        if not self.on:
            raise SettingsError(f"blocking rule {self.name!r} needs at least one column")
        if self.max_block is not None and self.max_block < 2:
            raise SettingsError(f"blocking rule {self.name!r}: max_block must be at least 2")


@dataclass(frozen=True)
class CannotLink:
    """Strong negative evidence: pairs at one of these levels must not share a cluster, unless
    the pair is at one of the ``unless`` levels of another comparison (e.g. the same personal
    e-mail outweighs a name that changed at marriage)."""

    comparison: str
    levels: tuple[str, ...]
    unless: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: further comparisons that must also be at one of the given levels
    also: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Settings:
    """Everything the engine needs to know about one table's matching."""

    unique_id: str
    comparisons: tuple[Comparison, ...]
    blocking_rules: tuple[BlockingRule, ...]
    link_type: str = "dedupe_only"
    threshold: float = 0.9
    review_band: tuple[float, float] = (0.5, 0.9)
    max_pairs_per_rule: int = 20_000_000
    training_rules: tuple[BlockingRule, ...] = ()
    u_sample_pairs: int = 300_000
    em_max_pairs: int = 2_000_000
    em_iterations: int = 25
    cannot_link: tuple[CannotLink, ...] = ()
    cannot_link_weight: float | None = None
    seed: int = 42
    engine: str = "polars"

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise SettingsError(f"engine {self.engine!r} is not one of {ENGINES}")
        if self.link_type not in LINK_TYPES:
            raise SettingsError(f"link_type {self.link_type!r} is not one of {LINK_TYPES}")
        if not 0.0 < self.threshold < 1.0:
            raise SettingsError(f"threshold must be in (0, 1), got {self.threshold}")
        lo, hi = self.review_band
        if not 0.0 <= lo <= hi <= 1.0:
            raise SettingsError(f"review_band must be 0 <= low <= high <= 1, got {self.review_band}")
        names = [c.name for c in self.comparisons]
        if len(set(names)) != len(names):
            raise SettingsError(f"comparison names must be unique: {names}")
        rules = [r.name for r in self.blocking_rules]
        if len(set(rules)) != len(rules):
            raise SettingsError(f"blocking rule names must be unique: {rules}")
        if not self.comparisons:
            raise SettingsError("settings need at least one comparison")
        if not self.blocking_rules:
            raise SettingsError("settings need at least one blocking rule")
        by_name = {c.name: c for c in self.comparisons}
        for cl in self.cannot_link:
            for name, levels in ((cl.comparison, cl.levels), *cl.unless, *cl.also):
                comp = by_name.get(name)
                if comp is None:
                    raise SettingsError(f"cannot_link names unknown comparison {name!r}")
                labels = {lv.name for lv in comp.levels}
                for lab in levels:
                    if lab not in labels:
                        raise SettingsError(
                            f"cannot_link: comparison {name!r} has no level {lab!r} (has {sorted(labels)})")

    def comparison(self, name: str) -> Comparison:
        for c in self.comparisons:
            if c.name == name:
                return c
        raise KeyError(name)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain data (the YAML form); library comparisons are written out level by level."""
        def level(lv: Level) -> dict:
            d = {"kind": lv.kind}
            if lv.columns:
                d["columns"] = list(lv.columns)
            for k in ("label", "scorer", "threshold", "same", "compatible", "overlap", "when_any", "when_both",
                      "unless_any", "tf_column", "m", "peer_flag", "peer_key"):
                v = getattr(lv, k)
                if v not in (None, "", ()):
                    d[k] = list(v) if isinstance(v, tuple) else v
            return d
        return {
            "unique_id": self.unique_id,
            "link_type": self.link_type,
            "threshold": self.threshold,
            "review_band": list(self.review_band),
            "max_pairs_per_rule": self.max_pairs_per_rule,
            "u_sample_pairs": self.u_sample_pairs,
            "em_max_pairs": self.em_max_pairs,
            "em_iterations": self.em_iterations,
            "seed": self.seed,
            "cannot_link_weight": self.cannot_link_weight,
            "engine": self.engine,
            "blocking_rules": [_rule_dict(r) for r in self.blocking_rules],
            "training_rules": [_rule_dict(r) for r in self.training_rules],
            "comparisons": [{"name": c.name, **c.template} if c.template else
                            {"name": c.name, "description": c.description,
                             "levels": [level(lv) for lv in c.levels]} for c in self.comparisons],
            "cannot_link": [{"comparison": c.comparison, "levels": list(c.levels),
                             **({"unless": {k: list(v) for k, v in c.unless}} if c.unless else {}),
                             **({"also": {k: list(v) for k, v in c.also}} if c.also else {})}
                            for c in self.cannot_link],
        }


def _rule_dict(r: BlockingRule) -> dict:
    return {"name": r.name, "columns": list(r.on), **({"max_block": r.max_block} if r.max_block else {})}


def _level_from(d: dict, where: str) -> Level:
    if not isinstance(d, dict) or "kind" not in d:
        raise SettingsError(f"{where}: a level needs a 'kind'")
    d = dict(d)
    if d["kind"] is None:   # YAML reads a bare `kind: null` as None
        d["kind"] = "null"
    cols = d.pop("columns", None)
    col = d.pop("column", None)
    columns = tuple(cols) if cols else ((col,) if col else ())
    allowed = {f.name for f in dataclasses.fields(Level)} - {"columns"}
    unknown = set(d) - allowed
    if unknown:
        raise SettingsError(f"{where}: unknown level keys {sorted(unknown)}")
    for k in ("same", "compatible", "overlap", "peer_key"):
        if k in d:
            d[k] = (d[k],) if isinstance(d[k], str) else tuple(d[k])
    try:
        return Level(columns=columns, **d)
    except SettingsError as exc:
        raise SettingsError(f"{where}: {exc}") from None


def _rule_from(d: Any, where: str) -> BlockingRule:
    if isinstance(d, str):
        return BlockingRule(name=d, on=tuple(x.strip() for x in d.split("&")))
    # YAML 1.1 reads a bare ``on:`` key as boolean true; accept it as well as ``columns:``
    cols = d.get("columns", d.get("on", d.get(True))) if isinstance(d, dict) else None
    if not cols:
        raise SettingsError(f"{where}: a blocking rule needs 'columns' (a list of columns)")
    on = (cols,) if isinstance(cols, str) else tuple(cols)
    unknown = set(d) - {"name", "columns", "on", True, "max_block"}
    if unknown:
        raise SettingsError(f"{where}: unknown blocking rule keys {sorted(map(str, unknown))}")
    return BlockingRule(name=d.get("name") or "&".join(on), on=on, max_block=d.get("max_block"))


#: Sections of the settings YAML read by other parts (golden records, customer_360), not by matching.
OTHER_SECTIONS = ("survivorship", "customer_360")


def settings_from_dict(data: dict, *, source: str = "settings") -> Settings:
    """Build settings from plain data (parsed YAML); library comparisons via ``template``."""
    if not isinstance(data, dict):
        raise SettingsError(f"{source}: expected a mapping at the top level")
    if "unique_id" not in data and "comparisons" not in data:
        # a file with only some sections (threshold, survivorship, customer_360 ...) adjusts the defaults
        text = resources.files("dedupe").joinpath("default_settings.yaml").read_text(encoding="utf-8")
        data = {**yaml.safe_load(text), **data}
    if "unique_id" not in data:
        raise SettingsError(f"{source}: 'unique_id' is required")
    comps = []
    for i, c in enumerate(data.get("comparisons") or []):
        where = f"{source}: comparisons[{i}]"
        if not isinstance(c, dict) or "name" not in c:
            raise SettingsError(f"{where}: a comparison needs a 'name'")
        if "template" in c:
            opts = {k: v for k, v in c.items() if k not in ("template", "name")}
            try:
                comps.append(comparison_from_template(c["template"], name=c["name"], **opts))
            except (TypeError, KeyError) as exc:
                raise SettingsError(f"{where} ({c['name']}): {exc}") from None
            continue
        levels = tuple(_level_from(lv, f"{where} ({c['name']}) level {j}")
                       for j, lv in enumerate(c.get("levels") or []))
        try:
            comps.append(Comparison(name=c["name"], levels=levels, description=c.get("description", "")))
        except SettingsError as exc:
            raise SettingsError(f"{where}: {exc}") from None
    rules = tuple(_rule_from(r, f"{source}: blocking_rules[{i}]")
                  for i, r in enumerate(data.get("blocking_rules") or []))
    training = tuple(_rule_from(r, f"{source}: training_rules[{i}]")
                     for i, r in enumerate(data.get("training_rules") or []))
    cannot = tuple(CannotLink(comparison=c["comparison"], levels=tuple(c["levels"]),
                              unless=tuple((k, tuple(v)) for k, v in (c.get("unless") or {}).items()),
                              also=tuple((k, tuple(v)) for k, v in (c.get("also") or {}).items()))
                   for c in data.get("cannot_link") or [])
    simple = {k: data[k] for k in ("link_type", "threshold", "max_pairs_per_rule", "u_sample_pairs",
                                    "em_max_pairs", "em_iterations", "seed", "cannot_link_weight", "engine")
              if k in data}
    if "review_band" in data:
        simple["review_band"] = tuple(float(x) for x in data["review_band"])
    known = set(simple) | {"unique_id", "comparisons", "blocking_rules", "training_rules", "cannot_link",
                           "review_band", *OTHER_SECTIONS}
    unknown = set(data) - known
    if unknown:
        raise SettingsError(f"{source}: unknown keys {sorted(unknown)}")
    try:
        return Settings(unique_id=data["unique_id"], comparisons=tuple(comps), blocking_rules=rules,
                        training_rules=training, cannot_link=cannot, **simple)
    except SettingsError as exc:
        raise SettingsError(f"{source}: {exc}") from None


def load_settings(path: str | Path) -> Settings:
    """Read settings from a YAML file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"settings file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"settings file {path} is not valid YAML: {exc}") from None
    return settings_from_dict(data, source=str(path))


def dump_settings(settings: Settings, path: str | Path) -> None:
    """Write settings as YAML (every level spelled out)."""
    Path(path).write_text(yaml.safe_dump(settings.to_dict(), sort_keys=False, allow_unicode=True),
                          encoding="utf-8")


def default_settings() -> Settings:
    """Settings for the canonical customer schema (``dedupe/default_settings.yaml``)."""
    text = resources.files("dedupe").joinpath("default_settings.yaml").read_text(encoding="utf-8")
    return settings_from_dict(yaml.safe_load(text), source="dedupe/default_settings.yaml")
