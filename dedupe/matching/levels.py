"""What a comparison is: its ordered levels, and the error bad settings raise. Shared by the
settings (which read them from YAML) and the comparison library (which builds them), so neither
imports the other's module for the types."""

from __future__ import annotations

from dataclasses import dataclass

LEVEL_KINDS = ("null", "exact", "fuzzy", "distance", "swapped", "abs_diff", "overlap", "if", "else")


class SettingsError(ValueError):
    """Settings that cannot be used, with the offending key named."""


@dataclass(frozen=True)
class Level:
    """One ordered level of a comparison; the first level whose test passes wins.

    kind: ``null`` (a column missing on either side), ``exact`` (all ``columns`` equal),
    ``fuzzy`` (``scorer`` similarity in 0..1 >= ``threshold``), ``distance`` (edit distance <=
    ``threshold``), ``swapped`` (columns[0]/columns[1] equal crosswise), ``abs_diff`` (numeric or
    date difference <= ``threshold``, days for dates), ``overlap`` (list columns share an element),
    ``if`` (only the conditions below), ``else``. ``same``: further columns that must be equal (and present); ``compatible``: columns
    that must be equal where both sides have a value; ``overlap``: list columns that must share an
    element.
    ``when_any``: a boolean feature that must be true on at least one side; ``when_both``: on
    both sides; ``unless_any``: must be false on both sides.
    ``tf_column``: adjust the weight of this level by the frequency of the value (common names,
    big cities weigh less).
    ``peer_flag`` / ``peer_key``: at least one record of the pair shares its ``peer_key`` values
    with some record (itself included) whose boolean feature ``peer_flag`` is true, anywhere in the
    table (e.g. a Jr. of the same name lives in the same city).
    """

    kind: str
    columns: tuple[str, ...] = ()
    label: str = ""
    scorer: str | None = None
    threshold: float | None = None
    same: tuple[str, ...] = ()
    compatible: tuple[str, ...] = ()
    overlap: tuple[str, ...] = ()
    when_any: str | None = None
    when_both: str | None = None
    unless_any: str | None = None
    tf_column: str | None = None
    m: float | None = None
    peer_flag: str | None = None
    peer_key: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in LEVEL_KINDS:
            raise SettingsError(f"level kind {self.kind!r} is not one of {LEVEL_KINDS}")
        if bool(self.peer_flag) != bool(self.peer_key):
            raise SettingsError(f"level {self.label or self.kind!r}: peer_flag and peer_key go together")
        conditions = (self.same, self.compatible, self.overlap, self.when_any, self.when_both, self.unless_any,
                      self.peer_flag)
        if self.kind == "if" and not any(conditions):
            raise SettingsError(f"level {self.label or self.kind!r} of kind 'if' needs a condition")
        if self.kind == "else" and any(conditions):
            raise SettingsError(f"level {self.label or self.kind!r}: an 'else' level takes no conditions (use 'if')")
        if self.kind not in ("else", "if") and not self.columns:
            raise SettingsError(f"level {self.label or self.kind!r} needs columns")
        if self.kind in ("fuzzy", "distance", "abs_diff") and self.threshold is None:
            raise SettingsError(f"level {self.label or self.kind!r} needs a threshold")
        if self.kind == "fuzzy" and not self.scorer:
            raise SettingsError(f"level {self.label or self.kind!r} needs a scorer")
        if self.kind == "swapped" and len(self.columns) != 2:
            raise SettingsError(f"level {self.label or self.kind!r} needs exactly two columns")

    @property
    def name(self) -> str:
        return self.label or f"{self.kind}({','.join(self.columns)})"


@dataclass(frozen=True)
class Comparison:
    """A named comparison: ordered levels, null first and ``else`` last."""

    name: str
    levels: tuple[Level, ...]
    description: str = ""
    #: the library call that built it ({"template": ..., options}); kept so YAML round-trips and
    #: ``prepare`` can add the features the template needs
    template: dict | None = None

    def __post_init__(self) -> None:
        if not self.levels or self.levels[-1].kind != "else":
            raise SettingsError(f"comparison {self.name!r}: the last level must be kind 'else'")
        non_null = [lv for lv in self.levels if lv.kind != "null"]
        if len(non_null) < 2:
            raise SettingsError(f"comparison {self.name!r} needs at least one level besides null/else")
        seen_other = False
        for lv in self.levels:
            if lv.kind == "null" and seen_other:
                raise SettingsError(f"comparison {self.name!r}: null levels must come first")
            seen_other |= lv.kind != "null"

    @property
    def scored_levels(self) -> tuple[Level, ...]:
        """Levels other than null, best first (gamma counts down to 0 = else)."""
        return tuple(lv for lv in self.levels if lv.kind != "null")

    def columns(self) -> set[str]:
        cols: set[str] = set()
        for lv in self.levels:
            cols.update(lv.columns)
            cols.update(lv.same)
            cols.update(lv.compatible)
            cols.update(lv.overlap)
            cols.update(c for c in (lv.when_any, lv.when_both, lv.unless_any, lv.tf_column, lv.peer_flag) if c)
            cols.update(lv.peer_key)
        return cols
