"""Thresholds of the data-quality suites: defaults shipped in ``thresholds.yaml``, overridable."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from collections.abc import Mapping
from pathlib import Path

import yaml

from expectations.countries import ISO_3166_ALPHA2

#: Environment variable naming a project YAML file whose keys override the shipped defaults.
THRESHOLDS_ENV = "CRM_GOLDEN_THRESHOLDS"

_SHIPPED = Path(__file__).with_name("thresholds.yaml")


class ThresholdsError(ValueError):
    """A thresholds file or mapping has an unknown key or a value out of range."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Thresholds:
    """Tunable limits of the suites; every ``*_mostly`` is a share of non-null values (0..1)."""

    email_valid_mostly: float = 0.98
    phone_valid_mostly: float = 0.98
    country_allowed_mostly: float = 0.99
    dates_plausible_mostly: float = 1.0
    name_present_mostly: float = 0.95
    contact_present_mostly: float = 1.0
    raw_dates_plausible_mostly: float = 1.0
    amounts_non_negative_mostly: float = 1.0
    earliest_date: dt.date = dt.date(1900, 1, 1)
    future_slack_days: int = 1
    email_pattern: str = r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$"
    phone_pattern: str = r"^\+[1-9]\d{6,14}$"
    allowed_countries: frozenset[str] = dataclasses.field(default=ISO_3166_ALPHA2, repr=False)
    sample_size: int = 10
    #: Where the last overrides came from (a file path), named in error messages.
    source: str = dataclasses.field(default="Thresholds", repr=False, compare=False)

    def __post_init__(self) -> None:
        _check(self, source=self.source)

    def replace(self, overrides: Mapping[str, object], *, source: str = "overrides") -> Thresholds:
        """A copy with ``overrides`` applied (validated; ``source`` names them in errors)."""
        return dataclasses.replace(self, **_coerce(overrides, source=source), source=source)


_FIELDS = {f.name for f in dataclasses.fields(Thresholds)} - {"source"}


def _coerce(raw: Mapping[str, object], *, source: str) -> dict[str, object]:
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise ThresholdsError(
            f"{source}: unknown threshold key(s) {unknown}; known keys: {sorted(_FIELDS)}"
        )
    out = dict(raw)
    if "allowed_countries" in out:
        countries = out["allowed_countries"]
        if countries is None:
            out["allowed_countries"] = ISO_3166_ALPHA2
        elif isinstance(countries, list | tuple | set | frozenset):
            out["allowed_countries"] = frozenset(str(c) for c in countries)
        else:
            raise ThresholdsError(f"{source}: allowed_countries must be a list of ISO-2 codes or null")
    if isinstance(out.get("earliest_date"), str):
        try:
            out["earliest_date"] = dt.date.fromisoformat(str(out["earliest_date"]))
        except ValueError as exc:
            raise ThresholdsError(f"{source}: earliest_date {out['earliest_date']!r} is not a date") from exc
    return out


def _check(t: Thresholds, *, source: str) -> None:
    for f in dataclasses.fields(t):
        if f.name == "source":
            continue
        value = getattr(t, f.name)
        if f.name.endswith("_mostly"):
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ThresholdsError(f"{source}: {f.name} must be a number in [0, 1], got {value!r}")
        elif f.name in ("future_slack_days", "sample_size"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ThresholdsError(f"{source}: {f.name} must be a whole number >= 0, got {value!r}")
        elif f.name.endswith("_pattern"):
            try:
                re.compile(value)
            except (re.error, TypeError) as exc:
                raise ThresholdsError(f"{source}: {f.name} is not a valid regular expression: {exc}") from exc
    if not isinstance(t.earliest_date, dt.date):
        raise ThresholdsError(f"{source}: earliest_date must be a date, got {t.earliest_date!r}")
    bad = sorted(c for c in t.allowed_countries if not re.fullmatch(r"[A-Z]{2}", c))
    if bad or not t.allowed_countries:
        raise ThresholdsError(
            f"{source}: allowed_countries must be non-empty upper-case ISO-2 codes, bad: {bad[:10]}"
        )


def _read_yaml(text: str, *, source: str) -> dict[str, object]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ThresholdsError(f"{source}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ThresholdsError(f"{source}: expected a mapping of threshold keys, got {type(data).__name__}")
    return data


def default_thresholds() -> Thresholds:
    """The thresholds shipped in the package's ``thresholds.yaml``."""
    text = _SHIPPED.read_text(encoding="utf-8")
    source = "expectations/thresholds.yaml"
    return Thresholds().replace(_read_yaml(text, source=source), source=source)


def load_thresholds(path: str | os.PathLike[str] | None = None) -> Thresholds:
    """Shipped defaults, overridden by ``path`` or else by the file named in ``$CRM_GOLDEN_THRESHOLDS``."""
    base = default_thresholds()
    override = path if path is not None else os.environ.get(THRESHOLDS_ENV) or None
    if override is None:
        return base
    file = Path(override)
    if not file.is_file():
        raise ThresholdsError(f"{file}: thresholds file not found")
    return base.replace(_read_yaml(file.read_text(encoding="utf-8"), source=str(file)), source=str(file))


def resolve_thresholds(thresholds: Thresholds | Mapping[str, object] | str | os.PathLike[str] | None) -> Thresholds:
    """Accept what ``run_suite(thresholds=...)`` accepts: None, a Thresholds, overrides or a path."""
    if thresholds is None:
        return load_thresholds()
    if isinstance(thresholds, Thresholds):
        return thresholds
    if isinstance(thresholds, Mapping):
        return load_thresholds().replace(thresholds)
    return load_thresholds(thresholds)
