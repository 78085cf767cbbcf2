"""Sheets source: contact lists from CSV and XLSX files in a folder (local path or fsspec URL).

Configuration (dlt): ``SOURCES__SHEETS__BUCKET_URL`` (``data/sheets``, ``s3://bucket/crm``...),
optional ``file_glob`` and ``column_mapping`` (``{"file_stem": {"Header": "field"}}``).

One resource ``contacts`` (table ``contacts`` in ``raw_sheets``), merged on
(``source``, ``row_number``):

* ``source`` = file stem; ``row_number`` = 1-based data row after the header, continuing across
  the worksheets of a workbook; ``file_name`` = path relative to ``bucket_url``; ``sheet_name``
  (null for CSV); ``file_encoding`` = the encoding a CSV file was read with (null for XLSX);
  ``read_load_id`` = the dlt load that last read the row from its file.
* the other columns are the row's cells, every one as text (empty -> null), named by the header
  aliases in ``settings.FIELD_ALIASES`` (``E-mail`` -> ``email``); unknown headers are kept under
  their snake_case name, headerless cells as ``column_<n>``.
* XLSX: date cells -> ``YYYY-MM-DD`` (ISO datetime with a time part), numbers without a trailing
  ``.0``, error cells (``#REF!``...) as written. CSV: BOM, ``, ; TAB |``, CRLF, and UTF-8 / GBK /
  Latin-1 are detected; an undecodable file fails naming the file and byte offset.
* every run lists the whole folder, and reads a file only when it is new or its modification
  date or size changed since it was last read (kept in the resource state); a changed file is
  read whole, so all its current rows get the new ``read_load_id`` - unless rows were only
  appended (every row read last time parses to the same values under the same number, by a
  digest kept in the resource state): then only the new rows are merged, with the new
  ``read_load_id``, and the file keeps the ``read_load_id`` of its last whole read.
* deletions: the same resource keeps the per-file inventory ``raw_sheets.file_inventory``
  (merged on ``file_name``: ``source``, ``present``, ``modification_date``, ``size_in_bytes``,
  ``row_count`` data rows read, ``last_row_number``, ``read_load_id``), written when a file is
  read or has left the folder (``present`` false). A contacts row whose file is gone, whose
  ``row_number`` is beyond the file's ``last_row_number`` (the file shrank) or whose
  ``read_load_id`` is older than its file's (the row was emptied or the rows moved up) is no
  longer in the source: staging leaves it out and records it in ``quality.source_deletions``; the
  raw row itself stays. Row numbers are positions: a row removed from the middle of a file
  renumbers the rows after it (each then carries its new neighbour's values) and the last number
  is the one that is deleted.
* two files with one stem (``a.csv``, ``a.xlsx``) share keys.

Excel lock files (``~$*``) and hidden files are skipped; other file types are skipped with a
warning, except ``.xls`` which fails (save it as ``.xlsx``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import PurePosixPath
from typing import Any

import dlt
import polars as pl
import pyarrow as pa
from dlt.sources.filesystem import FileItemDict, filesystem

from .decoding import SheetDecodeError
from .readers import SUFFIX_FORMATS, SheetFormatError, file_frame
from .settings import INVENTORY_TABLE, READ_LOAD_COLUMN

__all__ = ["SheetDecodeError", "SheetFormatError", "files_source", "sheets_source", "split_glob"]

log = logging.getLogger(__name__)


@dlt.source(name="sheets")
def sheets_source(
    bucket_url: str = dlt.config.value,
    file_glob: str = "*",
    column_mapping: dict[str, dict[str, str]] | None = None,
) -> Any:
    """The ``contacts`` resource over the files in ``bucket_url`` (see the module docstring)."""
    dlt.current.source_schema().remove_type_detection("iso_timestamp")
    listing = filesystem(bucket_url=str(bucket_url), file_glob=file_glob)
    return read_contacts(lambda: listing, column_mapping=column_mapping)


def split_glob(path: str) -> tuple[str, str]:
    """``/data/pos/*.parquet`` -> (``/data/pos``, ``*.parquet``): the folder before the first wildcard
    and the glob below it (a plain file path globs for itself)."""
    parts = path.replace("\\", "/").split("/")
    for i, part in enumerate(parts):
        if any(c in part for c in "*?["):
            return "/".join(parts[:i]) or "/", "/".join(parts[i:])
    return "/".join(parts[:-1]) or "/", parts[-1]


def _listing(paths: list[str]) -> Callable[[], Iterator[FileItemDict]]:
    listings = [filesystem(bucket_url=folder, file_glob=glob) for folder, glob in map(split_glob, paths)]

    def listing() -> Iterator[FileItemDict]:
        for one in listings:
            yield from one

    return listing


@dlt.source(name="files")
def files_source(
    paths: list[str] = dlt.config.value,
    file_format: str = "auto",
    header_aliases: bool = True,
    column_mapping: dict[str, dict[str, str]] | None = None,
    purchases_paths: list[str] | None = None,
) -> Any:
    """The ``contacts`` resource over every file matching ``paths`` (paths or globs, local or fsspec
    URLs): CSV, XLSX, Parquet, JSON or JSONL by ending (or all of ``file_format``); with
    ``purchases_paths`` also ``purchases`` (orders or invoices files, read whole every run)."""
    dlt.current.source_schema().remove_type_detection("iso_timestamp")
    resources = [read_contacts(_listing(paths), column_mapping=column_mapping, file_format=file_format,
                               header_aliases=header_aliases)]
    if purchases_paths:
        resources.append(read_purchases(_listing(purchases_paths)))
    return resources


@dlt.resource(name="purchases", write_disposition="replace")
def read_purchases(listing: Callable[[], Iterable[FileItemDict]]) -> Iterator[Any]:
    """Every purchases file as text columns named by their headers (``billing.total`` -> ``billing_total``,
    no aliases), with ``file_name`` and ``row_number``; replaced whole every run."""
    for item in listing():
        name = PurePosixPath(item["relative_path"]).name
        if name.startswith(("~$", ".")):
            continue
        frame = file_frame(item.read_bytes(), item["relative_path"], aliases=False)
        if frame is not None:
            yield _arrow_for_dlt(frame.drop("source", "sheet_name", "file_encoding").to_arrow())


_KEY = ("source", "row_number")
_INVENTORY_HINTS = dlt.mark.make_hints(
    table_name=INVENTORY_TABLE, write_disposition="merge", primary_key="file_name",
    columns={"modification_date": {"data_type": "text"}, "size_in_bytes": {"data_type": "bigint"},
             "row_count": {"data_type": "bigint"}, "last_row_number": {"data_type": "bigint"},
             "present": {"data_type": "bool"}, READ_LOAD_COLUMN: {"data_type": "text"}},
)


@dlt.resource(name="contacts", primary_key=_KEY, write_disposition="merge")
def read_contacts(
    listing: Callable[[], Iterable[FileItemDict]], column_mapping: Mapping[str, Mapping[str, str]] | None = None,
    file_format: str = "auto", header_aliases: bool = True,
) -> Iterator[Any]:
    """Each new or changed CSV/XLSX file as one Arrow table of text columns, then the inventory
    rows of the files read or gone this run (``listing`` gives the folder's whole listing)."""
    known: dict[str, str] = dlt.current.resource_state().setdefault("files", {})
    reads: dict[str, dict] = dlt.current.resource_state().setdefault("file_reads", {})
    load_id = dlt.current.load_package_state()["load_id"]
    listed, inventory = set(), []
    for item in listing():
        relative = item["relative_path"]
        name = PurePosixPath(relative).name
        suffix = PurePosixPath(name).suffix.lower()
        if name.startswith(("~$", ".")):
            continue
        if file_format == "auto" and suffix not in (*SUFFIX_FORMATS, ".xls"):
            log.warning("file %s: not CSV, XLSX, Parquet, JSON or JSONL: skipped", relative)
            continue
        listed.add(relative)
        version = f"{item['modification_date']}|{item['size_in_bytes']}"
        if known.get(relative) == version:
            continue
        frame = file_frame(item.read_bytes(), relative, column_mapping=column_mapping, fmt=file_format,
                           aliases=header_aliases)
        rows = 0 if frame is None else frame.height
        last = 0 if frame is None else int(frame["row_number"].max())
        read_by = load_id
        if frame is not None:
            since = _appended_after(frame, reads.get(relative))
            if since is not None:   # rows appended, the others as read before: only the new rows merged
                read_by = reads[relative]["load_id"]
                log.info("sheets file %s: %d rows, %d appended", relative, rows, rows - since[1])
                new = frame.filter(pl.col("row_number") > since[0])
            else:
                log.info("sheets file %s: %d rows", relative, rows)
                new = frame
            yield _arrow_for_dlt(new.to_arrow().append_column(
                READ_LOAD_COLUMN, pa.array([load_id] * new.height, pa.string())))
            reads[relative] = _read_note(frame, last, read_by)
        else:
            reads.pop(relative, None)
        known[relative] = version
        inventory.append(_inventory_row(relative, present=True, modified=item["modification_date"],
                                        size=item["size_in_bytes"], rows=rows, last=last, load_id=read_by))
    for relative in sorted(set(known) - listed):
        log.info("sheets file %s: no longer in the folder, its rows count as deleted", relative)
        del known[relative]
        reads.pop(relative, None)
        inventory.append(_inventory_row(relative, present=False, modified=None, size=None, rows=0, last=0,
                                        load_id=load_id))
    if inventory:
        yield dlt.mark.with_hints(inventory, _INVENTORY_HINTS, create_table_variant=True)


def _rows_digest(frame: pl.DataFrame) -> list[int]:
    """Order-free digest of a file's parsed rows (row numbers included): two 32-bit halves of the
    row hashes summed, so the sums cannot overflow."""
    h = frame.hash_rows(seed=7)
    return [int((h % (1 << 32)).sum()), int((h // (1 << 32)).sum())]


def _read_note(frame: pl.DataFrame, last: int, load_id: str) -> dict[str, Any]:
    """What the next read of the file compares with: its rows then, and the load that read it whole."""
    return {"last_row_number": last, "rows": frame.height, "columns": frame.columns,
            "digest": _rows_digest(frame), "polars": pl.__version__, "load_id": load_id}


def _appended_after(frame: pl.DataFrame, note: dict[str, Any] | None) -> tuple[int, int] | None:
    """``(last row number, rows)`` of the file's last read when this read only added rows after them
    (those rows parse to exactly what was read then: same columns, same values, same numbers), else
    None (the file is merged whole). A file with rows appended keeps its rows as loaded, and
    only the new ones are merged (``read_load_id`` of the inventory stays the whole read's)."""
    if not note or note.get("polars") != pl.__version__ or note.get("columns") != frame.columns:
        return None
    last, rows = int(note["last_row_number"]), int(note["rows"])
    before = frame.filter(pl.col("row_number") <= last)
    if before.height != rows or before.height == frame.height or _rows_digest(before) != note["digest"]:
        return None
    return last, rows


def _inventory_row(relative: str, *, present: bool, modified: Any, size: int | None, rows: int, last: int,
                   load_id: str) -> dict[str, Any]:
    return {"file_name": relative, "source": PurePosixPath(relative).stem, "present": present,
            "modification_date": None if modified is None else str(modified), "size_in_bytes": size,
            "row_count": rows, "last_row_number": last, READ_LOAD_COLUMN: load_id}


def _arrow_for_dlt(table: pa.Table) -> pa.Table:
    """large_string -> string (dlt pads columns missing from a file as ``string``, and tables
    buffered together must share types) and non-null key fields (as the resource hints say)."""
    fields = []
    for f in table.schema:
        if pa.types.is_large_string(f.type):
            f = f.with_type(pa.string())
        fields.append(f.with_nullable(False) if f.name in _KEY else f)
    return table.cast(pa.schema(fields))
