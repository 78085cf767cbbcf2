"""Read CSV and XLSX files into text-only tables with source, row number, file and sheet columns."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import polars as pl

from connectors.frames import flatten_structs

from .decoding import decode_text
from .headers import column_names
from .settings import CSV_SUFFIXES, XLSX_SUFFIXES

log = logging.getLogger(__name__)

_DELIMITERS = (",", ";", "\t", "|")
ROW_ERROR = "_row_error"
"""Column marking a row whose shape does not fit its header (staging quarantines it, rule ``malformed_row``)."""


class SheetFormatError(ValueError):
    """A spreadsheet that cannot be parsed; the message names file, sheet and row."""


@dataclass
class Block:
    """The header and data rows of one CSV file or one worksheet.

    ``cells`` holds text columns ``c0``, ``c1``... by position plus ``row_number``; rows whose
    cells are all empty are already dropped (their numbers are skipped, not reused).
    """

    sheet_name: str | None
    headers: list[Any]
    cells: pl.DataFrame
    encoding: str | None = None
    """The text encoding a CSV file was read with (None for XLSX)."""


def rows_frame(rows: Sequence[Sequence[str | None]], row_numbers: Sequence[int], width: int) -> pl.DataFrame:
    """Text rows (padded to ``width``) as positional String columns plus ``row_number``."""
    if rows and min(map(len, rows)) < width:
        rows = [list(r) + [None] * (width - len(r)) for r in rows]
    frame = pl.DataFrame(rows, schema=[(f"c{i}", pl.String) for i in range(width)], orient="row")
    return frame.with_columns(pl.Series("row_number", row_numbers, pl.Int64))


def cell_text(value: Any) -> str | None:
    """An XLSX cell value as text: dates ISO, whole numbers without ``.0``, errors as written."""
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def sniff_delimiter(header_line: str) -> str:
    """The most frequent of ``, ; TAB |`` in the header line (comma when there is none)."""
    counts = {d: header_line.count(d) for d in _DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def sniff_delimiters(text: str, *, sample_lines: int = 50) -> tuple[str, str]:
    """(header delimiter, row delimiter): the delimiter that splits the first records into the same
    number of fields most consistently (more fields on a tie; quoted newlines respected), and, only when
    the header does not split with it at all, the one that splits the header into that many fields (a
    header written with ``;`` over rows written with ``,``)."""
    sample = "\n".join(text.splitlines()[: sample_lines + 1])
    header = sample.split("\n", 1)[0]

    def fields(line: str, d: str) -> int:
        return len(next(csv.reader([line], delimiter=d), []))

    def score(d: str) -> tuple[int, int]:
        try:
            records = [r for r in csv.reader(io.StringIO(sample, newline=""), delimiter=d) if any(x.strip() for x in r)]
        except csv.Error:
            return (0, 0)
        counts = [len(r) for r in records[1:]]
        if not counts:
            return (0, 0)
        modal = max(set(counts), key=lambda n: (counts.count(n), n))
        return (counts.count(modal) if modal > 1 else 0, modal)

    row_delim = max(_DELIMITERS, key=score)
    if score(row_delim)[0] == 0:
        single = sniff_delimiter(header)
        return single, single
    width = score(row_delim)[1]
    if fields(header, row_delim) > 1:
        return row_delim, row_delim
    header_delim = next((d for d in _DELIMITERS if fields(header, d) == width), row_delim)
    return header_delim, row_delim


def csv_blocks(data: bytes, *, where: str) -> Iterator[Block]:
    """One block for a CSV file: encoding and delimiter detected, CRLF/quoted newlines handled.

    Row numbers count records after the header (1 = first); blank records are counted, not kept.
    polars parses the well-formed files; ragged or loosely quoted ones go through ``csv``.
    """
    text, encoding = decode_text(data, where=where)
    if encoding != "utf-8":
        log.info("%s: read as %s", where, encoding)
    text = text.removeprefix("\ufeff")
    header_delim, delimiter = sniff_delimiters(text)
    if header_delim != delimiter:
        log.warning("%s: the header is separated by %r, the rows by %r: each read with its own", where,
                    header_delim, delimiter)
    try:
        if header_delim != delimiter:
            raise pl.exceptions.ComputeError("mixed delimiters")
        block = _csv_block_polars(text, delimiter)
    except pl.exceptions.PolarsError:
        block = _csv_block_python(text, delimiter, where=where, header_delimiter=header_delim)
    if block is not None:
        block.encoding = encoding
        yield block


def _csv_block_polars(text: str, delimiter: str) -> Block | None:
    raw = pl.read_csv(
        io.BytesIO(text.encode("utf-8")), has_header=False, infer_schema=False, separator=delimiter,
        quote_char='"', raise_if_empty=False,
    )
    if raw.height == 0:
        return None
    raw = raw.rename({c: f"c{i}" for i, c in enumerate(raw.columns)})
    headers = list(raw.row(0))
    cells = raw.slice(1).with_columns(
        pl.all().replace("", None), pl.int_range(1, raw.height, dtype=pl.Int64).alias("row_number")
    )
    return Block(None, headers, cells.filter(~pl.all_horizontal(pl.exclude("row_number").is_null())))


def _csv_block_python(text: str, delimiter: str, *, where: str, header_delimiter: str | None = None) -> Block | None:
    """The csv module's reading of a ragged or loosely quoted file; a row with more fields than the
    header is kept but marked (``ROW_ERROR``): its values may have shifted, so staging quarantines it."""
    stream = io.StringIO(text, newline="")
    if header_delimiter is not None and header_delimiter != delimiter:
        first = stream.readline()
        header = next(csv.reader([first], delimiter=header_delimiter), None)
        reader = csv.reader(stream, delimiter=delimiter)
    else:
        reader = csv.reader(stream, delimiter=delimiter)
        header = None
    rows, numbers, errors = [], [], []
    try:
        if header is None:
            header = next(reader, None)
        if header is None:
            return None
        for number, record in enumerate(reader, start=1):
            if any(record):
                rows.append([v or None for v in record])
                numbers.append(number)
                errors.append(f"{len(record)} fields where the header has {len(header)}: values may have "
                              "shifted (an unquoted delimiter in a value?)" if len(record) > len(header) else None)
    except csv.Error as exc:
        raise SheetFormatError(f"{where}: line {reader.line_num}: {exc}") from None
    width = max(len(header), *map(len, rows)) if rows else len(header)
    frame = rows_frame(rows, numbers, width)
    if any(errors):
        frame = frame.with_columns(pl.Series(ROW_ERROR, errors, pl.String))
    return Block(None, header, frame)


def _is_title(first: list, second: list) -> bool:
    """A first row with one filled cell above a row with three or more: a title, not the header."""
    filled = sum(1 for v in first if v is not None and str(v).strip())
    below = sum(1 for v in second if v is not None and str(v).strip())
    return filled == 1 and below >= 3


def xlsx_blocks(data: bytes, *, where: str) -> Iterator[Block]:
    """One block per non-empty worksheet, in workbook order.

    The first non-empty row of a sheet is its header; row numbers continue across sheets
    (``Leads 2`` starts after the last data row of ``Leads``). A sheet is read with calamine
    (``xlsx_fast``) when that gives exactly openpyxl's reading, otherwise with openpyxl read-only;
    a workbook calamine cannot open goes to openpyxl whole, which names what is wrong with it.
    """
    # fastexcel and openpyxl are loaded only when a workbook is read
    from .xlsx_fast import FastWorkbook, NeedsOpenpyxl

    fast = FastWorkbook.open(data)
    if fast is None:
        yield from _xlsx_blocks_openpyxl(data, where=where)
        return
    workbook = None
    offset = 0
    try:
        for title, part in fast.sheets:
            try:
                rows = fast.read_sheet(title, part)
            except Exception as exc:  # noqa: BLE001 - whatever the fast path cannot vouch for, openpyxl reads
                expected = isinstance(exc, NeedsOpenpyxl)
                (log.debug if expected else log.warning)("%s: sheet %r read with openpyxl: %s", where, title,
                                                         exc if expected else repr(exc))
                if workbook is None:
                    workbook = _openpyxl_workbook(data, where=where)
                block, last = _openpyxl_sheet_block(workbook[title], where=where, offset=offset)
            else:
                block, last = _fast_sheet_block(rows, title, where=where, offset=offset)
            if block is not None:
                yield block
            offset += last
    finally:
        fast.close()
        if workbook is not None:
            workbook.close()


def _fast_sheet_block(rows, title: str, *, where: str, offset: int) -> tuple[Block | None, int]:
    """(block or None, last row number) of a sheet read by ``xlsx_fast``."""
    if rows is None:
        return None, 0
    if rows.title_row is not None:
        log.info("%s: sheet %r row %d is a title above the header: skipped", where, title, rows.title_row)
    if rows.cells.height == 0:
        return None, rows.last
    return Block(title, rows.headers, rows.cells.with_columns(pl.col("row_number") + offset)), rows.last


def _openpyxl_workbook(data: bytes, *, where: str):
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        return openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, TypeError, OSError) as exc:
        raise SheetFormatError(f"{where}: not a readable .xlsx workbook ({exc.__class__.__name__})") from None


def _xlsx_blocks_openpyxl(data: bytes, *, where: str) -> Iterator[Block]:
    """Every worksheet read with openpyxl read-only (``cell_text`` per cell)."""
    workbook = _openpyxl_workbook(data, where=where)
    offset = 0
    try:
        for sheet in workbook.worksheets:
            block, last = _openpyxl_sheet_block(sheet, where=where, offset=offset)
            if block is not None:
                yield block
            offset += last
    finally:
        workbook.close()


def _openpyxl_sheet_block(sheet, *, where: str, offset: int) -> tuple[Block | None, int]:
    """(block or None, last row number) of one worksheet read with openpyxl."""
    sheet.reset_dimensions()
    headers: list[Any] | None = None
    rows: list[list[str | None]] = []
    numbers: list[int] = []
    header_at = last = 0
    try:
        for index, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [cell_text(v) for v in values]
            if not any(cells):
                continue
            if headers is None:
                headers, header_at = list(values), index
                continue
            if not rows and _is_title(headers, cells):
                log.info("%s: sheet %r row %d is a title above the header: skipped", where, sheet.title,
                         header_at)
                headers, header_at = list(values), index
                continue
            last = index - header_at
            rows.append(cells)
            numbers.append(offset + last)
    except (ValueError, TypeError, OverflowError, KeyError) as exc:
        raise SheetFormatError(
            f"{where}: sheet {sheet.title!r}, row {index}: cannot read cell values"
            f" ({exc.__class__.__name__})"
        ) from None
    if not rows:
        return None, last
    width = max(len(headers), *map(len, rows))
    return Block(sheet.title, headers, rows_frame(rows, numbers, width)), last


def blocks_frame(
    blocks: Sequence[Block], *, source: str, file_name: str, overrides: Mapping[str, str] | None, where: str,
    aliases: bool = True,
) -> pl.DataFrame | None:
    """All blocks of one file as one text frame with the META_COLUMNS first; None when empty.

    ``file_encoding`` is the encoding a CSV file was decoded with (``utf-8``, ``utf-8-sig``, ``gbk``,
    ``cp1252``...), null for XLSX: staging reports files that were not UTF-8.

    Headerless columns without any value (formatting residue) are dropped.
    """
    frames = []
    for block in blocks:
        label = where if block.sheet_name is None else f"{where} sheet {block.sheet_name!r}"
        if looks_like_data(block.headers):
            block = _headerless(block, where=label)
        cells = block.cells
        if cells.height == 0:
            continue
        width = sum(1 for c in cells.columns if c[:1] == "c" and c[1:].isdigit())
        headers = list(block.headers) + [None] * (width - len(block.headers))
        names = column_names(headers, overrides=overrides, where=label, aliases=aliases)
        nulls = cells.null_count().row(0, named=True)
        keep = [
            pl.col(f"c{i}").alias(name)
            for i, (name, header) in enumerate(zip(names, headers, strict=True))
            if (header is not None and str(header) != "") or nulls[f"c{i}"] < cells.height
        ]
        frames.append(
            cells.select(
                pl.lit(source, pl.String).alias("source"),
                pl.col("row_number"),
                pl.lit(file_name, pl.String).alias("file_name"),
                pl.lit(block.sheet_name, pl.String).alias("sheet_name"),
                pl.lit(block.encoding, pl.String).alias("file_encoding"),
                *keep,
                *([pl.col(ROW_ERROR)] if ROW_ERROR in cells.columns else []),
            )
        )
    if not frames:
        return None
    return pl.concat(frames, how="diagonal") if len(frames) > 1 else frames[0]


_EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", re.IGNORECASE)
_PHONE_LIKE = re.compile(r"^\+?[\d ()./-]{7,}$")
_DATE_LIKE = re.compile(r"^\d{1,4}[-./]\d{1,2}[-./]\d{1,4}")


def looks_like_data(headers: list) -> bool:
    """A first row that holds values, not names: an e-mail address, a phone number or a date in it, and
    no cell that is a known header (``E-Mail``, ``Tel`` ...)."""
    from .headers import _ALIAS_TO_FIELD, header_key

    cells = [str(h).strip() for h in headers if h is not None and str(h).strip()]
    if not cells or any(header_key(c) in _ALIAS_TO_FIELD for c in cells):
        return False
    return any(_EMAIL_LIKE.search(c) or _PHONE_LIKE.match(c) or _DATE_LIKE.match(c) for c in cells)


def _headerless(block: Block, *, where: str) -> Block:
    """A block whose first row is data: that row is data row 1, the columns get positional names
    (``column_<n>``: no cell value becomes a column name) and every row is marked for quarantine, since
    which column holds what cannot be told."""
    log.warning("%s: the first row holds values, not column names (no header row): its %d rows are "
                "quarantined until a header is added", where, block.cells.height + 1)
    positional = [c for c in block.cells.columns if c[:1] == "c" and c[1:].isdigit()]
    first = pl.DataFrame([[None if v is None or str(v) == "" else cell_text(v) for v in block.headers]
                          + [None] * (len(positional) - len(block.headers))],
                         schema=[(c, pl.String) for c in positional[: max(len(block.headers), len(positional))]],
                         orient="row")
    rest = block.cells.with_columns(pl.col("row_number") + 1)
    cells = pl.concat([first.with_columns(pl.lit(1, pl.Int64).alias("row_number")), rest], how="diagonal_relaxed")
    cells = cells.with_columns(pl.lit("the file has no header row: its columns cannot be named")
                               .alias(ROW_ERROR))
    return Block(block.sheet_name, [None] * len(positional), cells, block.encoding)


def table_blocks(data: bytes, *, fmt: str, where: str) -> Iterator[Block]:
    """One block for a Parquet, JSON (an array of objects, or an object holding one) or JSONL file.

    Nested objects are flattened with ``__`` (``billing.city`` -> ``billing__city``, as dlt names
    them); lists are kept as JSON text; every value becomes text (timestamps ISO).
    """
    try:
        if fmt == "parquet":
            frame = pl.read_parquet(io.BytesIO(data))
        elif fmt == "jsonl":
            frame = pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)
        else:
            frame = _json_frame(data, where=where)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise SheetFormatError(f"{where}: not a readable {fmt} file ({exc.__class__.__name__}: "
                               f"{str(exc).splitlines()[0][:120] if str(exc) else ''})") from None
    if frame.height == 0:
        return
    frame = flatten_structs(frame)
    headers = list(frame.columns)
    cells = frame.select(
        [_as_text(frame, c).alias(f"c{i}") for i, c in enumerate(headers)]
    ).with_columns(pl.int_range(1, frame.height + 1, dtype=pl.Int64).alias("row_number"))
    yield Block(None, headers, cells.filter(~pl.all_horizontal(pl.exclude("row_number").is_null())))


def _json_frame(data: bytes, *, where: str) -> pl.DataFrame:
    try:
        value = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SheetFormatError(f"{where}: not valid JSON ({exc})") from None
    if isinstance(value, dict):
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise SheetFormatError(f"{where}: expected an array of objects, or an object holding one array")
        value = lists[0]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise SheetFormatError(f"{where}: expected an array of objects")
    # nested lists (order line items ...) stay one JSON text value; nested objects are flattened
    lists = {k for v in value for k, x in v.items() if isinstance(x, list)}
    if lists:
        value = [{k: (json.dumps(x, ensure_ascii=False) if k in lists and x is not None else x) for k, x in v.items()}
                 for v in value]
    return pl.from_dicts(value, infer_schema_length=None) if value else pl.DataFrame()


def _as_text(frame: pl.DataFrame, name: str) -> pl.Expr:
    dtype = frame.schema[name]
    col = pl.col(name)
    if isinstance(dtype, pl.Datetime):
        return col.dt.to_string("%Y-%m-%dT%H:%M:%S%z" if dtype.time_zone else "%Y-%m-%d %H:%M:%S")
    if isinstance(dtype, pl.List | pl.Array):
        return col.list.eval(pl.element().cast(pl.Utf8)).list.join(", ") if isinstance(dtype, pl.List) \
            else col.cast(pl.Utf8, strict=False)
    if dtype.is_float():
        return pl.when(col == col.round(0)).then(col.cast(pl.Int64, strict=False).cast(pl.Utf8)) \
            .otherwise(col.cast(pl.Utf8))
    if dtype == pl.Null:
        return col.cast(pl.Utf8)
    return col.cast(pl.Utf8, strict=False).replace("", None)


#: file ending -> format read by ``file_frame`` (``format: auto``)
SUFFIX_FORMATS = {**{s: "csv" for s in CSV_SUFFIXES}, **{s: "xlsx" for s in XLSX_SUFFIXES},
                  ".parquet": "parquet", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def file_frame(
    data: bytes, relative_path: str, *, column_mapping: Mapping[str, Mapping[str, str]] | None = None,
    fmt: str = "auto", aliases: bool = True,
) -> pl.DataFrame | None:
    """Parse one CSV/XLSX/Parquet/JSON/JSONL file into the ``contacts`` shape; None for an empty file."""
    path = PurePosixPath(relative_path)
    suffix = path.suffix.lower()
    where = f"file {relative_path}"
    if suffix == ".xls":
        raise SheetFormatError(f"{where}: legacy binary .xls is not supported; save it as .xlsx or CSV")
    kind = SUFFIX_FORMATS.get(suffix) if fmt == "auto" else fmt
    if kind == "xlsx":
        blocks = list(xlsx_blocks(data, where=where))
    elif kind == "csv":
        blocks = list(csv_blocks(data, where=where))
    elif kind in ("parquet", "json", "jsonl"):
        blocks = list(table_blocks(data, fmt=kind, where=where))
    else:
        raise SheetFormatError(f"{where}: unsupported file type {suffix!r}")
    overrides = (column_mapping or {}).get(path.stem)
    return blocks_frame(blocks, source=path.stem, file_name=relative_path, overrides=overrides, where=where,
                        aliases=aliases)
