"""Endpoints, cursors and defaults of the Shopify-style shop source."""

from __future__ import annotations

API_VERSION = "2024-01"
PAGE_SIZE = 250
INITIAL_UPDATED_AT = "1970-01-01T00:00:00+00:00"
TOKEN_HEADER = "X-Shopify-Access-Token"

# resource -> (cursor field, request parameter). Orders in the crm_synth data carry no
# updated_at (they never change after creation), so they follow created_at; point this at
# ("updated_at", "updated_at_min") for a real shop whose orders are edited after creation.
CURSORS: dict[str, tuple[str, str]] = {
    "customers": ("updated_at", "updated_at_min"),
    "orders": ("created_at", "created_at_min"),
}

# ISO timestamps are kept as the text the API sent (with their UTC offset; some are impossible
# dates such as 2022-04-31): staging parses them.
TEXT_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("created_at", "updated_at"),
    "orders": ("created_at", "updated_at"),
}
