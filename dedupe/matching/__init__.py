"""The matching engine: declarative settings (which blocking rules, which comparisons, where to
cut), features (the comparable form of each field, built on ``dedupe.normalize``), blocking,
a Fellegi-Sunter model trained by EM, scoring, clustering with cannot-link constraints, and
explanations of every score. ``engine`` runs it in memory; ``large`` runs the same steps over
chunks on disk for tables of millions of records (``dedupe.spark`` on a Spark cluster).

    settings = default_settings()             # or load_settings("settings.yaml")
    result = deduplicate(df, settings)        # prepare -> block -> score -> cluster
"""

from dedupe.matching.blocking import BlockingRuleTooBroad, block
from dedupe.matching.engine import DedupeResult, cluster, deduplicate, prepare, score
from dedupe.matching.explain import explain_pair, waterfall, with_level_labels
from dedupe.matching.features import InputError
from dedupe.matching.large import LargeResult, Progress, deduplicate_large
from dedupe.matching.model import FSModel, ModelMismatch, calibrate
from dedupe.matching.settings import (
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
    "load_settings", "prepare", "score", "settings_from_dict", "waterfall", "with_level_labels",
]
