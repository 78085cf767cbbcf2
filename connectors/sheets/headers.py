"""Header names -> column names: canonical fields by alias, everything else kept in snake_case."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Mapping, Sequence
from functools import cache

from .settings import FIELD_ALIASES, META_COLUMNS

log = logging.getLogger(__name__)

_NON_WORD = re.compile(r"[\W_]+")
_NON_ASCII_NAME = re.compile(r"[^a-z0-9]+")
_VALID_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_ALIAS_TO_FIELD = {alias: field for field, aliases in FIELD_ALIASES.items() for alias in aliases}


@cache
def header_key(header: str) -> str:
    """Fold case, accents, blanks and punctuation: ``" E-Mail "`` -> ``e_mail``, ``Straße`` -> ``strasse``."""
    text = unicodedata.normalize("NFKC", header).casefold()
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return _NON_WORD.sub("_", text).strip("_")


def snake_name(header: str) -> str:
    """An ASCII snake_case column name for an unknown header (Chinese romanised in pinyin).

    Empty when nothing usable is left; the caller numbers such columns.
    """
    key = header_key(header)
    if not key.isascii():
        from pypinyin import lazy_pinyin

        key = "_".join(lazy_pinyin(key, errors=lambda chars: [c for c in chars if c.isascii()]))
    name = _NON_ASCII_NAME.sub("_", key.lower()).strip("_")
    return f"col_{name}" if name[:1].isdigit() else name


def column_names(
    headers: Sequence[object], *, overrides: Mapping[str, str] | None = None, where: str, aliases: bool = True
) -> list[str]:
    """Column name for each header cell, unique and never one of ``META_COLUMNS``.

    ``overrides`` maps a header (as written, or by ``header_key``) to a field; other headers
    go through ``FIELD_ALIASES``, then ``snake_name``; a blank header becomes ``column_<n>``
    (1-based position). A repeated name gets ``_2``, ``_3``... so no column is dropped.
    """
    by_key = {header_key(h): f for h, f in (overrides or {}).items()}
    for header, field in (overrides or {}).items():
        if not _VALID_NAME.match(field):
            raise ValueError(
                f"{where}: column_mapping for header {header!r} -> {field!r}: field names are"
                " lower-case ASCII snake_case starting with a letter"
            )
    taken = set(META_COLUMNS)
    names = []
    for position, cell in enumerate(headers, start=1):
        header = "" if cell is None else str(cell)
        key = header_key(header)
        name = (
            (overrides or {}).get(header)
            or by_key.get(key)
            or (_ALIAS_TO_FIELD.get(key) if aliases else None)
            or snake_name(header)
            or f"column_{position}"
        )
        unique, n = name, 1
        while unique in taken:
            n += 1
            unique = f"{name}_{n}"
        if unique != name:
            log.warning("%s: header %d repeats column %r: loaded as %r", where, position, name, unique)
        taken.add(unique)
        names.append(unique)
    return names
