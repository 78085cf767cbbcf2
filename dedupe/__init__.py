"""Matching engine: declarative settings, blocking, Fellegi-Sunter scoring, clustering, explanations.

    settings = default_settings()             # or load_settings("settings.yaml")
    result = deduplicate(df, settings)        # prepare -> block -> score -> cluster
"""

from dedupe.blocking import BlockingRuleTooBroad, block
from dedupe.engine import DedupeResult, cluster, deduplicate, prepare, score
from dedupe.explain import explain_pair, waterfall, with_level_labels
from dedupe.features import InputError
from dedupe.large import LargeResult, Progress, deduplicate_large
from dedupe.model import FSModel, ModelMismatch, calibrate
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
    "InputError", "LargeResult", "Level", "ModelMismatch", "Progress", "Settings", "SettingsError", "block",
    "calibrate", "cluster", "deduplicate", "deduplicate_large", "default_settings", "dump_settings", "explain_pair",
    "load_settings", "prepare", "score",
    "settings_from_dict", "waterfall", "with_level_labels",
]
