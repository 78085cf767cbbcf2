"""Golden records: from matched clusters to one row per customer. Survivorship picks each field's
surviving value by configurable rules after repairs (spelling variants, typos, name and e-mail
fixes voted within the cluster); identity keeps golden ids stable across runs (a registry and the
retired-id history); history records every change of a golden row. It reads the canonical schema
(``dedupe.canonical``) and compares values in their normalised forms (``dedupe.normalize``); it
never needs the matching engine's internals, only the clusters it produced.
"""

from dedupe.golden.history import update_history
from dedupe.golden.identity import IdAssignment, assign_ids, empty_registry
from dedupe.golden.records import GoldenBuild, build_golden
from dedupe.golden.repair import REPAIRS, repair, repair_addresses, repair_emails, repair_names
from dedupe.golden.survivorship import RULES, SurvivorshipRules, survive

__all__ = [
    "REPAIRS", "RULES", "GoldenBuild", "IdAssignment", "SurvivorshipRules", "assign_ids", "build_golden",
    "empty_registry", "repair", "repair_addresses", "repair_emails", "repair_names", "survive", "update_history",
]
