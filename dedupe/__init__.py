"""crm-golden's data library, three packages and the schema they share:

- ``dedupe.normalize``: normalisation of names, e-mails, phones, addresses, companies and Chinese
  text (used by staging and by the match features);
- ``dedupe.matching``: the matching engine (settings, features, blocking, model, clustering);
- ``dedupe.golden``: golden records (survivorship, repairs, stable ids, history);
- ``dedupe.canonical``: the canonical customer schema they all read.

The matching engine's public names are re-exported here, so ``from dedupe import deduplicate``
keeps working:

    settings = default_settings()             # or load_settings("settings.yaml")
    result = deduplicate(df, settings)        # prepare -> block -> score -> cluster
"""

from dedupe.matching import (
    BlockingRule,
    BlockingRuleTooBroad,
    CannotLink,
    Comparison,
    DedupeResult,
    FSModel,
    InputError,
    LargeResult,
    Level,
    ModelMismatch,
    Progress,
    Settings,
    SettingsError,
    block,
    calibrate,
    cluster,
    deduplicate,
    deduplicate_large,
    default_settings,
    dump_settings,
    explain_pair,
    load_settings,
    prepare,
    score,
    settings_from_dict,
    waterfall,
    with_level_labels,
)

__all__ = [
    "BlockingRule", "BlockingRuleTooBroad", "CannotLink", "Comparison", "DedupeResult", "FSModel",
    "InputError", "LargeResult", "Level", "ModelMismatch", "Progress", "Settings", "SettingsError", "block",
    "calibrate", "cluster", "deduplicate", "deduplicate_large", "default_settings", "dump_settings", "explain_pair",
    "load_settings", "prepare", "score", "settings_from_dict", "waterfall", "with_level_labels",
]
