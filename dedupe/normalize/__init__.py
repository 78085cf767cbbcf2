"""Normalisation: the one library that turns raw customer values into clean, comparable ones.

Staging uses the column normalisers exported here (expressions that keep their input column's
name: data positional, options keyword-only) to write ``staging.customers``; the match features
and the golden-record repairs use the match keys of ``dedupe.normalize.keys`` (``fold``,
``city_key``, ``street_key``, ``email_match_key`` ...), Chinese run keys of
``dedupe.normalize.hanzi`` and the nickname table (``names.nickname_pairs``). Where a display form
and a match key differ (``email_canonical`` validates, ``email_match_key`` does not), both live
here under different names, so a fix in one is visible next to the other. Library calls without a
vectorised form (opencc, pypinyin, phonenumbers fallback) run once per distinct value.
"""

from dedupe.normalize.addresses import (
    city_country,
    country_code,
    house_number,
    normalize_city,
    normalize_postcode,
    normalize_street,
)
from dedupe.normalize.cjk import has_cjk, to_pinyin, to_simplified
from dedupe.normalize.companies import company_core, normalize_company, normalize_vat
from dedupe.normalize.emails import (
    email_canonical,
    email_country,
    email_domain,
    is_valid_email,
    normalize_email,
)
from dedupe.normalize.names import clean_name_part, name_suffix_of, split_name, strip_name_suffix
from dedupe.normalize.phones import (
    normalize_phone,
    phone_country,
    phone_layout_country,
    phone_national_number,
)
from dedupe.normalize.text import clean_text, is_excel_error, is_placeholder, proper_case, squish

__all__ = [
    "city_country",
    "clean_name_part",
    "clean_text",
    "company_core",
    "country_code",
    "email_canonical",
    "email_country",
    "email_domain",
    "has_cjk",
    "house_number",
    "is_excel_error",
    "is_placeholder",
    "is_valid_email",
    "name_suffix_of",
    "normalize_city",
    "normalize_company",
    "normalize_email",
    "normalize_phone",
    "normalize_postcode",
    "normalize_street",
    "normalize_vat",
    "phone_country",
    "phone_layout_country",
    "phone_national_number",
    "proper_case",
    "split_name",
    "squish",
    "strip_name_suffix",
    "to_pinyin",
    "to_simplified",
]
