"""Sheets source: contact lists from CSV and XLSX files in a folder (local path or fsspec URL).

Configuration (dlt): ``SOURCES__SHEETS__BUCKET_URL`` (``data/sheets``, ``s3://bucket/crm``...),
optional ``file_glob`` and ``column_mapping`` (``{"file_stem": {"Header": "field"}}``).

One resource ``contacts`` (table ``contacts`` in ``raw_sheets``), merged on
(``source``, ``row_number``):

* ``source`` = file stem; ``row_number`` = 1-based data row after the header, continuing across
  the worksheets of a workbook; ``file_name`` = path relative to ``bucket_url``; ``sheet_name``
  (null for CSV); ``file_encoding`` = the encoding a CSV file was read with (null for XLSX).
* the other columns are the row's cells, every one as text (empty -> null), named by the header
  aliases in ``settings.FIELD_ALIASES`` (``E-mail`` -> ``email``); unknown headers are kept under
  their snake_case name, headerless cells as ``column_<n>``.
* XLSX: date cells -> ``YYYY-MM-DD`` (ISO datetime with a time part), numbers without a trailing
  ``.0``, error cells (``#REF!``...) as written. CSV: BOM, ``, ; TAB |``, CRLF, and UTF-8 / GBK /
  Latin-1 are detected; an undecodable file fails naming the file and byte offset.
* incremental on the file's modification date: unchanged files are not read again. Rows of a
  file that shrank stay until a full refresh; a file copied in with an older modification date
  than the last load is not seen; two files with one stem (``a.csv``, ``a.xlsx``) share keys.

Excel lock files (``~$*``) and hidden files are skipped; other file types are skipped with a
warning, except ``.xls`` which fails (save it as ``.xlsx``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from pathlib import PurePosixPath
from typing import Any

import dlt
import pyarrow as pa
from dlt.sources.filesystem import FileItemDict, filesystem

from .decoding import SheetDecodeError
from .readers import SheetFormatError, file_frame
from .settings import CSV_SUFFIXES, XLSX_SUFFIXES

__all__ = ["SheetDecodeError", "SheetFormatError", "sheets_source"]

log = logging.getLogger(__name__)


@dlt.source(name="sheets")
def sheets_source(
    bucket_url: str = dlt.config.value,
    file_glob: str = "*",
    column_mapping: dict[str, dict[str, str]] | None = None,
) -> Any:
    """The ``contacts`` resource over the files in ``bucket_url`` (see the module docstring)."""
    dlt.current.source_schema().remove_type_detection("iso_timestamp")
    files = filesystem(
        bucket_url=str(bucket_url),
        file_glob=file_glob,
        incremental=dlt.sources.incremental("modification_date"),
    )
    return files | read_contacts(column_mapping=column_mapping)


_KEY = ("source", "row_number")


@dlt.transformer(name="contacts", primary_key=_KEY, write_disposition="merge")
def read_contacts(
    items: Iterable[FileItemDict], column_mapping: Mapping[str, Mapping[str, str]] | None = None
) -> Iterator[Any]:
    """Each listed CSV/XLSX file as one Arrow table of text columns."""
    for item in items:
        relative = item["relative_path"]
        name = PurePosixPath(relative).name
        suffix = PurePosixPath(name).suffix.lower()
        if name.startswith(("~$", ".")):
            continue
        if suffix not in (*CSV_SUFFIXES, *XLSX_SUFFIXES, ".xls"):
            log.warning("sheets file %s: not CSV/XLSX, skipped", relative)
            continue
        frame = file_frame(item.read_bytes(), relative, column_mapping=column_mapping)
        if frame is not None:
            log.info("sheets file %s: %d rows", relative, frame.height)
            yield _arrow_for_dlt(frame.to_arrow())


def _arrow_for_dlt(table: pa.Table) -> pa.Table:
    """large_string -> string (dlt pads columns missing from a file as ``string``, and tables
    buffered together must share types) and non-null key fields (as the resource hints say)."""
    fields = []
    for f in table.schema:
        if pa.types.is_large_string(f.type):
            f = f.with_type(pa.string())
        fields.append(f.with_nullable(False) if f.name in _KEY else f)
    return table.cast(pa.schema(fields))
