"""REST presets: the id, change cursor, customer fields and purchases of well-known shop APIs.

A source with ``preset: shopify`` needs no ``fields:``; any field it does give overrides the preset's
(``fields: {phone: default_address.phone}``), and ``fields: {phone: null}`` switches one off.
"""

from __future__ import annotations

from typing import Any

SHOPIFY: dict[str, Any] = {
    "id": "id",
    "cursor": "updated_at",
    "resource": "customers",
    "fields": {
        "given_name": "first_name",
        "surname": "last_name",
        "company_name": "default_address.company",
        "email": "email",
        "phone": {"first": ["phone", "default_address.phone"]},
        "street": "default_address.address1",
        "postal_code": "default_address.zip",
        "city": "default_address.city",
        "country": "default_address.country_code",
        "created_at": "created_at",
        "updated_at": "updated_at",
    },
    "purchases": {"resource": "orders", "kind": "order", "id": "id", "customer": "customer.id",
                  "date": "created_at", "amount": "total_price", "currency": "currency"},
}

WOOCOMMERCE: dict[str, Any] = {
    "id": "id",
    "cursor": "date_modified_gmt",
    "resource": "customers",
    "fields": {
        "given_name": {"first": ["first_name", "billing.first_name"]},
        "surname": {"first": ["last_name", "billing.last_name"]},
        "company_name": "billing.company",
        "email": {"first": ["email", "billing.email"]},
        "phone": "billing.phone",
        "street": "billing.address_1",
        "postal_code": "billing.postcode",
        "city": "billing.city",
        "country": "billing.country",
        "created_at": "date_created_gmt",
        "updated_at": "date_modified_gmt",
    },
    "purchases": {"resource": "orders", "kind": "order", "id": "id", "customer": "customer_id",
                  "date": "date_created_gmt", "amount": "total", "currency": "currency"},
}

PRESETS: dict[str, dict[str, Any]] = {"shopify": SHOPIFY, "woocommerce": WOOCOMMERCE}
