"""Matching engine: declarative settings, blocking, Fellegi-Sunter scoring, clustering."""

from dedupe.blocking import BlockingRuleTooBroad, block
from dedupe.engine import DedupeResult, cluster, deduplicate, prepare, score
from dedupe.explain import explain_pair, waterfall
from dedupe.features import InputError
from dedupe.model import FSModel, calibrate
from dedupe.settings import (
                             BlockingRule,
                             CannotLink,
                             Comparison,
                             Level,
                             Settings,
                             SettingsError,
                             default_settings,
                             dump_settings,
                             load_settings,
                             settings_from_dict,
)

__all__ = [
    "BlockingRule", "BlockingRuleTooBroad", "CannotLink", "Comparison", "DedupeResult", "FSModel",
    "InputError", "Level", "Settings", "SettingsError", "block", "calibrate", "cluster", "deduplicate",
    "default_settings", "dump_settings", "explain_pair", "load_settings", "prepare", "score",
    "settings_from_dict", "waterfall",
]
