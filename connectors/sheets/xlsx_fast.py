"""XLSX sheets read with calamine (``fastexcel``) into exactly the blocks the openpyxl reader gives.

openpyxl builds a Python object per cell, which costs seconds for a sheet of 20k rows. Here calamine
parses the sheet in Rust and hands over its text cells as columns; the other cells (numbers, dates,
booleans, errors) are taken from the sheet XML with one regular expression and converted with polars
the way openpyxl converts them (``_cast_number``, ``from_excel``, ``cell_text``), so their text does
not depend on how calamine types or formats them.

Where the two readers could still differ the sheet raises ``NeedsOpenpyxl`` and the caller reads it
with openpyxl: text calamine trims or unescapes and openpyxl keeps (unpreserved edge whitespace,
``_xHHHH_``), cells not written as ``<c r=".." s=".." t="..">``, text cells without a value, ISO dates,
durations, the 1904 calendar, numbers or serials outside the ranges converted here, and any cell the
two do not both see.
"""

from __future__ import annotations

import io
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import fastexcel
import polars as pl
import pyarrow as pa
from openpyxl.reader.excel import SHARED_STRINGS, ExcelReader
from openpyxl.styles.stylesheet import apply_stylesheet
from openpyxl.utils import column_index_from_string
from openpyxl.utils.datetime import WINDOWS_EPOCH


class NeedsOpenpyxl(Exception):
    """The fast path cannot show that its reading of this sheet equals openpyxl's."""


@dataclass
class SheetRows:
    """One sheet as the openpyxl reader gives it, row numbers not yet offset by earlier sheets."""

    headers: list[Any]
    cells: pl.DataFrame
    """``c0``, ``c1``... as text plus ``row_number`` = sheet row - header row (no rows: no block)."""
    last: int
    """``row_number`` of the last data row (0 without data rows): where the next sheet's numbers start."""
    title_row: int | None
    """The sheet row of a title skipped above the header."""


# cells that are not text (no t, or t n/b/e/d) and empty text cells, written as openpyxl, Excel,
# LibreOffice and most writers write them: reference, style, type, type of an empty text cell, value
_VALUE_CELL = re.compile(
    rb'<c r="([A-Z]{1,3}[0-9]+)"(?: s="([0-9]+)")?(?: t="([nbed])"| t="(inlineStr|s|str)"(?= ?/>))? ?/?>'
    rb'(?:<f[ >/][^<]*(?:</f>)?)?(?:<v>([^<]*)</v>)?')
_TEXT_TYPES = (b'" t="s', b'" t="i')
"""A text cell's type after its r or s (``s``, ``str``, ``inlineStr``): other types are matched above."""
_ROW = re.compile(rb'<row(?: r="([0-9]+)")?[ >/]')
# text calamine trims (no xml:space="preserve") and openpyxl keeps: leading or trailing whitespace,
# written as is or as a character reference
_UNPRESERVED_EDGE = re.compile(
    rb'<t(?:>| (?!xml:space="preserve")[^>]*>)(?:[ \t\n]|&#|[^<]*(?:[ \t\n]|&#[xX]?[0-9a-fA-F]+;)</t>)')
# characters XML 1.0 forbids, as bytes or as references: openpyxl's parser rejects the part, calamine
# reads on
_FORBIDDEN_CONTROLS = bytes([*range(9), 11, 12, *range(14, 32)])
_FORBIDDEN_REFERENCE = re.compile(
    rb"&#(?:[xX]0*(?:[0-8bBcCeE]|1[0-9a-fA-F]|[fF]{3}[eEfF])|0*(?:[0-8]|1[124-9]|2[0-9]|3[01]|6553[45]));")
_INT_TEXT = r"^-?[0-9]{1,18}$"
_FLOAT_TEXT = r"^-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"
_MAX_SERIAL = 2958465.0
"""9999-12-31: later serials overflow Python's datetime (openpyxl then writes ``#VALUE!``)."""
_TWO_53 = float(2**53)


def text_hazard(xml: bytes, *, shared_strings: bool = False) -> str | None:
    """What in a sheet or shared-strings part calamine would read differently from openpyxl, if anything."""
    if b"\r" in xml:
        return "carriage return in the XML"
    if len(xml.translate(None, _FORBIDDEN_CONTROLS)) != len(xml) \
            or (b"\xef\xbf" in xml and (b"\xef\xbf\xbe" in xml or b"\xef\xbf\xbf" in xml)) \
            or (b"&#" in xml and _FORBIDDEN_REFERENCE.search(xml)):
        return "characters XML forbids"
    if b"_x00" in xml or (shared_strings and b"x005F_" in xml):
        return "_xHHHH_ escapes (calamine decodes them, openpyxl keeps or strips them)"
    # every <t... preserved (the count also takes <tableParts> and the like: then the search decides)
    all_preserved = xml.count(b"<t") == xml.count(b'<t xml:space="preserve">')
    if not all_preserved and _UNPRESERVED_EDGE.search(xml):
        return "text with edge whitespace not marked xml:space=preserve (calamine trims it)"
    return None


class FastWorkbook:
    """A workbook opened by calamine, with openpyxl's list of its worksheets and date styles."""

    def __init__(self, reader: Any, archive: Any, sheets: list[tuple[str, str]], date_styles: set[int],
                 timedelta_styles: set[int]):
        self._reader = reader
        self._archive = archive
        self.sheets = sheets
        """(title, XML part) of each worksheet, in workbook order, as openpyxl lists them."""
        self._date_styles = date_styles
        self._timedelta_styles = timedelta_styles
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="calamine")

    @classmethod
    def open(cls, data: bytes) -> FastWorkbook | None:
        """The workbook, or None when the fast path cannot read it at all (then openpyxl reads it, or
        raises the error the caller reports)."""
        try:
            reader = fastexcel.read_excel(data)
            # openpyxl's own steps of load_workbook(read_only=True) but the shared strings: the same
            # sheets, parts, calendar and date styles as the openpyxl path, and the same errors
            excel = ExcelReader(io.BytesIO(data), read_only=True, data_only=True)
            excel.read_manifest()
            excel.read_workbook()
            excel.read_properties()
            excel.read_custom()
            excel.read_theme()
            apply_stylesheet(excel.archive, excel.wb)
            excel.read_worksheets()
            workbook = excel.wb
            strings = excel.package.find(SHARED_STRINGS)
            strings_xml = excel.archive.read(strings.PartName[1:]) if strings is not None else b""
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # noqa: BLE001 - whatever either cannot read (Rust panics included), the
            return None  # openpyxl path reports
        if workbook.epoch != WINDOWS_EPOCH or text_hazard(strings_xml, shared_strings=True):
            excel.archive.close()
            return None
        sheets = [(ws.title, ws._worksheet_path) for ws in workbook.worksheets]
        return cls(reader, excel.archive, sheets, set(workbook._date_formats), set(workbook._timedelta_formats))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._archive.close()

    def read_sheet(self, title: str, part: str) -> SheetRows | None:
        """The sheet's header and data rows as openpyxl gives them; None for a sheet without values.

        calamine parses the sheet in a thread (it releases the GIL) while the XML is checked here."""
        calamine = self._pool.submit(self._calamine_sheet, title)
        xml = self._archive.read(part)
        hazard = text_hazard(xml)
        if hazard:
            raise NeedsOpenpyxl(hazard)
        # calamine stops at </sheetData>, openpyxl parses the whole part: a cut rest is its error
        if not xml[-64:].rstrip().endswith(b"</worksheet>"):
            raise NeedsOpenpyxl("a worksheet part that is cut short")
        _check_row_order(xml)
        cells = self._value_cells(xml)
        # each <c> is a text cell (by its t) or one matched above, and calamine holds every cell that has
        # a value: then the text columns of calamine are exactly the text cells
        elements = xml.count(b"<c ")
        empty_text = cells.get_column("empty_text").sum()
        if elements != sum(xml.count(t) for t in _TEXT_TYPES) + cells.height - empty_text:
            raise NeedsOpenpyxl("a cell element in another form than <c r=.. s=.. t=..>")
        infos, batch, errors = calamine.result()
        # calamine's range starts at sheet row 1 (header_row=None, skip_rows=0) and at its first column
        col_off = infos[0].absolute_index if infos else 0
        if [i.absolute_index for i in infos] != list(range(col_off, col_off + len(infos))):
            raise NeedsOpenpyxl("calamine columns not contiguous")
        raw = pl.from_arrow(batch) if infos else pl.DataFrame()
        raw = raw.rename({info.name: f"c{col_off + j}" for j, info in enumerate(infos)})
        error_cells = [(e.position[0], col_off + e.position[1]) for e in errors.errors] if errors else []
        present = sum(raw.get_column(c).count() for c in raw.columns)
        if elements != present + len(error_cells) + cells.filter(~pl.col("has_value")).height:
            raise NeedsOpenpyxl("text cells without a value, or cells calamine and the XML count differently")
        if not infos:
            if cells.get_column("has_value").any():
                raise NeedsOpenpyxl("value cells calamine does not hold")
            return None
        return _rows(raw, cells, error_cells, col_off)

    def _calamine_sheet(self, title: str) -> tuple[list, Any, Any]:
        """calamine's columns (all as text), Arrow batch and cell errors of one sheet."""
        try:
            sheet = self._reader.load_sheet(title, header_row=None, skip_rows=0, dtypes="string")
            batch, errors = sheet.to_arrow_with_errors()
            return sheet.selected_columns, batch, errors
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - calamine's errors, and Rust panics (BaseException)
            raise NeedsOpenpyxl(f"calamine: {exc.__class__.__name__}") from None

    def _value_cells(self, xml: bytes) -> pl.DataFrame:
        """The sheet's cells that are not text, with openpyxl's text of their value: ``idx`` (sheet row
        - 1), ``col`` (0-based), ``has_value`` (False: no value, still part of the row), ``is_error``,
        ``text``."""
        found = _VALUE_CELL.findall(xml)
        if not found:
            return pl.DataFrame(schema={"idx": pl.Int64, "col": pl.Int64, "has_value": pl.Boolean,
                                        "empty_text": pl.Boolean, "is_error": pl.Boolean, "text": pl.String})
        names = ("ref", "s", "t", "text_t", "v")
        columns = pa.table({name: pa.array(column, pa.binary()) for name, column in zip(names, zip(*found), strict=True)})
        cells = pl.from_arrow(columns).with_columns(
            pl.col("ref").cast(pl.String).str.extract_groups("^([A-Z]+)([0-9]+)$").alias("ref"))
        cells = cells.unnest("ref", separator="_")
        letters = {c: column_index_from_string(c) - 1 for c in cells.get_column("ref_1").unique()}
        cells = cells.select(
            pl.col("ref_1").replace_strict(letters, return_dtype=pl.Int64).alias("col"),
            (pl.col("ref_2").cast(pl.Int64) - 1).alias("idx"),
            pl.col("s").cast(pl.String).replace("", "0").cast(pl.Int64).alias("style"),
            pl.col("t").cast(pl.String).alias("t"),
            (pl.col("text_t") != b"").alias("empty_text"),
            # openpyxl: findtext("v") or None; calamine: no value either - no <v> or an empty one
            (pl.col("v") != b"").alias("has_value"),
            pl.col("v").cast(pl.String).alias("v"),
        )
        if cells.get_column("t").is_in(["d"]).any():
            raise NeedsOpenpyxl("ISO 8601 date cells")
        numeric = pl.col("has_value") & pl.col("t").is_in(["", "n"])
        if cells.filter(numeric & pl.col("style").is_in(list(self._timedelta_styles))).height:
            raise NeedsOpenpyxl("duration cells")
        is_date = numeric & pl.col("style").is_in(list(self._date_styles))
        is_number = numeric & ~is_date
        is_bool = pl.col("has_value") & (pl.col("t") == "b")
        is_error = pl.col("has_value") & (pl.col("t") == "e")
        positions = cells.with_row_index("pos")
        text = pl.repeat(None, cells.height, dtype=pl.String, eager=True).alias("text")
        for kind, convert in ((is_number, _number_text), (is_date, _date_text), (is_bool, _bool_text),
                              (is_error, _error_text)):
            part = positions.filter(kind)
            if part.height:
                text.scatter(part.get_column("pos"), convert(part.get_column("v")))
        return cells.select("idx", "col", "has_value", "empty_text", is_error.alias("is_error"), text)


def _check_row_order(xml: bytes) -> None:
    """openpyxl numbers rows by their ``r`` and skips one that comes after a later row; calamine places
    cells by their own reference. Rows numbered and in order read the same."""
    numbers = _ROW.findall(xml)
    if b"" in numbers:
        raise NeedsOpenpyxl("rows without a number")
    if numbers and not (pl.Series(numbers, dtype=pl.Binary).cast(pl.String).cast(pl.Int64).diff().drop_nulls() > 0
                        ).all():
        raise NeedsOpenpyxl("rows out of order")


def _rows(raw: pl.DataFrame, cells: pl.DataFrame, error_cells: list[tuple[int, int]], col_off: int
          ) -> SheetRows | None:
    """Header (a title row skipped as ``_is_title`` does), data rows, width and row numbers."""
    calamine_cols = list(range(col_off, col_off + raw.width))
    values = cells.filter(pl.col("has_value"))
    # every value cell of the XML is one calamine holds (its calamine text is replaced), every error
    # cell one calamine reported
    errors_xml = values.filter(pl.col("is_error")).select("idx", "col").rows()
    if sorted(errors_xml) != sorted(error_cells):
        raise NeedsOpenpyxl("error cells calamine and the XML place differently")
    height = raw.height
    texts = raw.select([pl.when(pl.col(f"c{a}") == "").then(None).otherwise(pl.col(f"c{a}")).alias(f"c{a}")
                        for a in calamine_cols])
    exists = raw.select([pl.col(f"c{a}").is_not_null().alias(f"c{a}") for a in calamine_cols])
    is_text = exists.clone()
    replaced = []
    for (a,), part in values.partition_by("col", as_dict=True, maintain_order=True).items():
        if not col_off <= a < col_off + raw.width or not part.get_column("idx").is_between(0, height - 1).all():
            raise NeedsOpenpyxl("a value cell outside calamine's range")
        idx = part.get_column("idx")
        seen = exists.get_column(f"c{a}").gather(idx)
        if (seen != ~part.get_column("is_error")).any():
            raise NeedsOpenpyxl("a value cell calamine does not hold")
        replaced.append(texts.get_column(f"c{a}").scatter(idx, part.get_column("text")))
        is_text_a = is_text.get_column(f"c{a}").scatter(idx, False)
        is_text = is_text.with_columns(is_text_a)
        exists = exists.with_columns(exists.get_column(f"c{a}").scatter(idx, True))
    if replaced:
        texts = texts.with_columns(replaced)
    # openpyxl's row length: the column of the row's last <c>, value or not
    lengths = pl.max_horizontal([pl.when(pl.col(f"c{a}")).then(a + 1).otherwise(0) for a in calamine_cols]) \
        if calamine_cols else pl.lit(0)
    frame = texts.with_columns(
        pl.any_horizontal([pl.col(f"c{a}").is_not_null() for a in calamine_cols]).alias("_filled")
        if calamine_cols else pl.lit(False).alias("_filled"),
        exists.select(lengths.alias("_length")).to_series(),
        pl.int_range(height, dtype=pl.Int64).alias("_idx"))
    empties = cells.filter(~pl.col("has_value")).group_by("idx").agg((pl.col("col").max() + 1).alias("_empty"))
    frame = frame.join(empties, left_on="_idx", right_on="idx", how="left", maintain_order="left").with_columns(
        pl.max_horizontal("_length", pl.col("_empty").fill_null(0)).alias("_length"))
    filled = frame.filter(pl.col("_filled"))
    if filled.height == 0:
        return None
    header_idx, title_row = filled.item(0, "_idx"), None
    if filled.height > 1:
        first = [filled.item(0, f"c{a}") for a in calamine_cols]
        second = [filled.item(1, f"c{a}") for a in calamine_cols]
        if _filled_count(first) == 1 and _filled_count(second) >= 3:
            title_row = header_idx + 1
            header_idx = filled.item(1, "_idx")
    data = filled.filter(pl.col("_idx") > header_idx)
    if data.height == 0:
        return SheetRows([], pl.DataFrame(), 0, title_row)
    header = frame.row(header_idx, named=True)
    header_exists = exists.row(header_idx, named=True)
    header_is_text = is_text.row(header_idx, named=True)
    length = header["_length"]
    headers: list[Any] = [None] * length
    for a in calamine_cols:
        if header_exists[f"c{a}"]:
            # openpyxl keeps header values as they are: only text is known here ("" may be None there)
            value = raw.item(header_idx, f"c{a}")
            if not header_is_text[f"c{a}"] or not value:
                raise NeedsOpenpyxl("a header cell that is not text, or empty text")
            headers[a] = value
    width = max(length, data.get_column("_length").max())
    out = data.select(
        *[(pl.col(f"c{a}") if col_off <= a < col_off + raw.width else pl.lit(None, pl.String)).alias(f"c{a}")
          for a in range(width)],
        (pl.col("_idx") - header_idx).alias("row_number"))
    return SheetRows(headers, out, int(data.item(-1, "_idx")) - header_idx, title_row)


def _filled_count(values: list) -> int:
    return sum(1 for v in values if v is not None and str(v).strip())


def _float_text(values: pl.Series) -> pl.Series:
    """``cell_text`` of floats: whole numbers below 2**53 without ``.0``, others as ``repr`` prints them.

    polars prints fractions as ``repr`` does from 1e-4 up; smaller fractions, non-finite values and
    whole numbers from 2**53 (exponent form in ``repr``) are left to openpyxl."""
    frame = pl.DataFrame({"x": values})
    x = pl.col("x")
    whole = x == x.floor()
    if frame.select((x.is_nan() | x.is_infinite() | (whole & (x.abs() >= _TWO_53))
                     | (~whole & (x.abs() < 1e-4))).any()).item():
        raise NeedsOpenpyxl("a number outside the range printed like Python")
    return frame.select(pl.when(whole).then(x.cast(pl.Int64).cast(pl.String)).otherwise(x.cast(pl.String))
                        ).to_series()


def _number_text(texts: pl.Series) -> pl.Series:
    """``cell_text`` of openpyxl's number for each ``<v>``: an int when the text has no ``.``/``e``/``E``."""
    frame = pl.DataFrame({"v": texts}).with_row_index("pos")
    is_float = pl.col("v").str.contains("[.eE]")
    if not frame.select(pl.when(is_float).then(pl.col("v").str.contains(_FLOAT_TEXT))
                        .otherwise(pl.col("v").str.contains(_INT_TEXT)).all()).item():
        raise NeedsOpenpyxl("a number written in a form openpyxl may read differently")
    text = pl.repeat(None, frame.height, dtype=pl.String, eager=True)
    floats = frame.filter(is_float)
    if floats.height:
        text.scatter(floats.get_column("pos"), _float_text(floats.get_column("v").cast(pl.Float64)))
    ints = frame.filter(~is_float)
    if ints.height:
        text.scatter(ints.get_column("pos"), ints.get_column("v").cast(pl.Int64).cast(pl.String))
    return text


def _date_text(texts: pl.Series) -> pl.Series:
    """``cell_text`` of openpyxl's ``from_excel`` (1900 calendar) for each serial: the time of day
    rounded half-even to the millisecond, a time for serials below 1, a date at midnight."""
    frame = pl.DataFrame({"v": texts})
    if not frame.select(pl.col("v").str.contains(_FLOAT_TEXT).all()).item():
        raise NeedsOpenpyxl("a date serial written in a form openpyxl may read differently")
    frame = frame.select(pl.col("v").cast(pl.Float64))
    if not frame.select(pl.col("v").is_between(0.0, _MAX_SERIAL, closed="left").all()).item():
        raise NeedsOpenpyxl("a date serial before 1900 or after 9999")
    v = pl.col("v")
    day = v.floor()
    frame = frame.with_columns(
        day.cast(pl.Int64).alias("day"),
        (((v - day) * 86400.0) * 1000.0).round(0, mode="half_to_even").cast(pl.Int64).alias("ms"))
    shift = pl.when((v > 0) & (v < 60)).then(1).otherwise(0)  # Excel's 29 February 1900
    stamp = pl.lit(WINDOWS_EPOCH, pl.Datetime("ms")) + pl.duration(days=pl.col("day") + shift,
                                                                   milliseconds=pl.col("ms"))
    fraction = pl.when(pl.col("ms") % 1000 != 0).then(
        pl.format(".{}000", (pl.col("ms") % 1000).cast(pl.String).str.zfill(3))).otherwise(pl.lit(""))
    midnight = stamp.dt.truncate("1d") == stamp
    return frame.select(
        pl.when((v < 1) & (pl.col("ms") < 86_400_000)).then(pl.concat_str(stamp.dt.strftime("%H:%M:%S"), fraction))
        .when(midnight).then(stamp.dt.strftime("%Y-%m-%d"))
        .otherwise(pl.concat_str(stamp.dt.strftime("%Y-%m-%dT%H:%M:%S"), fraction))
    ).to_series()


def _bool_text(texts: pl.Series) -> pl.Series:
    if not texts.is_in(["0", "1"]).all():
        raise NeedsOpenpyxl("a boolean cell other than 0 or 1")
    return texts.replace_strict({"1": "TRUE", "0": "FALSE"}, return_dtype=pl.String)


def _error_text(texts: pl.Series) -> pl.Series:
    """openpyxl keeps an error cell's ``<v>`` (``#N/A``, ``#DIV/0!``...) as its value."""
    return texts
