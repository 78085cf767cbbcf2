"""Privacy: erasure with tombstones, suppression of erased records on re-load, masked tables
for analysts with PostgreSQL grants, and keyed link tokens.

Wiring: ``add_erase_parser``/``run_erase`` (CLI), ``filter_erased_on_load`` (raw loads),
``drop_erased`` (staging), ``masked_tables``/``grant_bi_access`` (publish).
"""

from pipelines.privacy.cli import add_erase_parser, run_erase
from pipelines.privacy.erase import ErasureReport, erase, find_values, purge_load_packages
from pipelines.privacy.hmac_tokens import link_token
from pipelines.privacy.keys import KEY_ENV, PrivacyError, hash_key
from pipelines.privacy.loadfilter import filter_erased_on_load
from pipelines.privacy.tombstones import (
    TOMBSTONES,
    current_source_keys,
    drop_erased,
    lift_tombstones,
    read_tombstones,
    suppressed,
)
from pipelines.privacy.views import (
    FULL_BI_TABLES,
    MASKED_BI_VIEWS,
    MASKED_TABLES,
    grant_bi_access,
    mask_customers,
    masked_tables,
    publish_masked,
)

__all__ = [
    "FULL_BI_TABLES", "KEY_ENV", "MASKED_BI_VIEWS", "MASKED_TABLES", "TOMBSTONES", "ErasureReport",
    "PrivacyError", "add_erase_parser", "current_source_keys", "drop_erased", "erase",
    "filter_erased_on_load", "find_values", "grant_bi_access", "hash_key", "lift_tombstones",
    "link_token", "mask_customers", "masked_tables", "publish_masked", "purge_load_packages",
    "read_tombstones", "run_erase", "suppressed",
]
