"""Header aliases and file types of the spreadsheet source."""

from __future__ import annotations

# canonical field -> header spellings, compared after ``headers.header_key`` (case, accents,
# blanks and punctuation folded: "E-mail" -> "e_mail", "Full Name" -> "full_name").
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "full_name": ("name", "full_name", "fullname", "contact", "contact_name", "kontakt", "nom",
                  "nom_complet", "姓名"),
    "given_name": ("first_name", "firstname", "given_name", "vorname", "prenom"),
    "surname": ("last_name", "lastname", "surname", "family_name", "nachname"),
    "email": ("email", "e_mail", "mail", "email_address", "courriel", "邮箱", "电子邮件"),
    "phone": ("tel", "phone", "telephone", "telefon", "phone_number", "mobile", "handy", "电话", "手机"),
    "company_name": ("company", "company_name", "firma", "organisation", "organization", "societe",
                     "entreprise", "公司"),
    "city": ("city", "stadt", "ort", "ville", "城市"),
    "country": ("country", "land", "pays", "国家"),
    "last_activity": ("date", "last_contacted", "last_order", "last_activity", "datum", "日期"),
    "notes": ("notes", "note", "comment", "comments", "notizen", "bemerkung", "备注"),
    "street": ("street", "address", "adresse", "strasse", "address1", "地址"),
    "postal_code": ("zip", "zip_code", "postcode", "postal_code", "plz", "code_postal", "邮编"),
    "vat_id": ("vat", "vat_id", "vat_number", "ust_idnr", "tva", "tax_id"),
}

META_COLUMNS: tuple[str, ...] = ("source", "row_number", "file_name", "sheet_name", "file_encoding", "read_load_id")
"""Columns the source adds; a sheet header that maps onto one of them gets a ``_2`` suffix."""

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
XLSX_SUFFIXES = (".xlsx", ".xlsm")

INVENTORY_TABLE = "file_inventory"
"""Per-file inventory in ``raw_sheets`` (present, row count, last read): tells deleted rows apart."""
READ_LOAD_COLUMN = "read_load_id"
