"""The calamine reading of XLSX sheets (``xlsx_fast``) gives the openpyxl reading's blocks, cell for cell.

Each workbook is read both ways: ``_xlsx_blocks_openpyxl`` (every cell through openpyxl and
``cell_text``) and ``xlsx_blocks`` (calamine where it can vouch for the result). Sheet names, header
values with their types, and the cells frames (text and row numbers) must be equal. Where a sheet is
expected to be read by calamine the test also says so, so the comparison is not between openpyxl and
itself.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import os
import random
import re
import zipfile
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from openpyxl.styles import Font, PatternFill
from openpyxl.utils.datetime import CALENDAR_MAC_1904
from polars.testing import assert_frame_equal

from connectors.sheets import readers, xlsx_fast
from connectors.sheets.readers import SheetFormatError, xlsx_blocks
from pipelines.demo.generator import main as demo_main

WHERE = "file fair.xlsx"


def openpyxl_blocks(data: bytes) -> list:
    return list(readers._xlsx_blocks_openpyxl(data, where=WHERE))


def assert_same(data: bytes) -> list:
    expected, got = openpyxl_blocks(data), list(xlsx_blocks(data, where=WHERE))
    assert [b.sheet_name for b in got] == [b.sheet_name for b in expected]
    for want, have in zip(expected, got, strict=True):
        assert [(type(h), h) for h in have.headers] == [(type(h), h) for h in want.headers], want.sheet_name
        assert_frame_equal(have.cells, want.cells)
        assert have.encoding is None
    return got


def calamine_reads(data: bytes) -> dict[str, str | None]:
    """Sheet title -> None when calamine reads it, else why it goes to openpyxl."""
    workbook = xlsx_fast.FastWorkbook.open(data)
    if workbook is None:
        return {}
    reasons = {}
    try:
        for title, part in workbook.sheets:
            try:
                workbook.read_sheet(title, part)
                reasons[title] = None
            except xlsx_fast.NeedsOpenpyxl as exc:
                reasons[title] = str(exc)
    finally:
        workbook.close()
    return reasons


def save(workbook: openpyxl.Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def rewrite(data: bytes, edits: dict[str, object]) -> bytes:
    """The workbook with parts replaced (bytes) or edited (a function of the old bytes)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        names = src.namelist()
        for name in names:
            body = src.read(name)
            edit = edits.get(name)
            dst.writestr(name, edit(body) if callable(edit) else edit if edit is not None else body)
        for name, body in edits.items():
            if name not in names:
                dst.writestr(name, body)
    return out.getvalue()


def sheet_part(n: int) -> str:
    return f"xl/worksheets/sheet{n}.xml"


def with_formulas(xml: bytes, formulas: dict[str, str]) -> bytes:
    """Cells turned into formulas that keep their value as the cached result (what Excel saves):
    numbers get ``<f>``, inline text becomes a ``t="str"`` formula result."""
    for ref, formula in formulas.items():
        r, f = ref.encode(), b"<f>" + formula.encode() + b"</f>"
        number = re.compile(rb'(<c r="' + r + rb'"[^>]*>)(<v>)')
        text = re.compile(rb'<c r="' + r + rb'"( s="[0-9]+")? t="inlineStr"><is><t[^>]*>([^<]*)</t></is></c>')
        xml, n = number.subn(lambda m, f=f: m.group(1) + f + m.group(2), xml)
        if not n:
            xml, n = text.subn(lambda m, r=r, f=f: b'<c r="' + r + b'"' + (m.group(1) or b"") + b' t="str">' + f
                               + b"<v>" + m.group(2) + b"</v></c>", xml)
        assert n == 1, ref
    return xml


def to_shared_strings(data: bytes) -> bytes:
    """The workbook with its inline strings moved to a shared-strings table, as Excel writes them."""
    strings: dict[bytes, int] = {}
    cell = re.compile(rb'<c r="([A-Z]+[0-9]+)"( s="[0-9]+")? t="inlineStr"><is>(.*?)</is></c>')

    def shared(match: re.Match) -> bytes:
        index = strings.setdefault(match.group(3), len(strings))
        return b'<c r="' + match.group(1) + b'"' + (match.group(2) or b"") + b' t="s"><v>%d</v></c>' % index

    with zipfile.ZipFile(io.BytesIO(data)) as src:
        sheets = {n: cell.sub(shared, src.read(n)) for n in src.namelist() if n.startswith("xl/worksheets/")}
    table = b"".join(b"<si>" + s + b"</si>" for s in strings)
    sst = (b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
           b'spreadsheetml/2006/main" count="%d" uniqueCount="%d">' % (len(strings), len(strings)) + table + b"</sst>")
    content_type = (b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
                    b'officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
    relation = (b'<Relationship Id="rIdStrings" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                b'relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>')
    return rewrite(data, {**sheets, "xl/sharedStrings.xml": sst,
                          "[Content_Types].xml": lambda b: b.replace(b"</Types>", content_type),
                          "xl/_rels/workbook.xml.rels": lambda b: b.replace(b"</Relationships>", relation)})


def every_kind_of_cell() -> bytes:
    """One sheet with a title row and each kind of value openpyxl reads, incl. a column of mixed types."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Leads"
    ws.append(["Trade fair leads 2024"])
    ws.append(["Name", "Amount", "Ratio", "Signed", "Met at", "Time", "Active", "Phone", "Mixed", "Error", "Note"])
    rows = [
        ["  Müller  ", 0, 0.1, dt.date(2024, 2, 29), dt.datetime(2024, 3, 1, 14, 30), dt.time(0, 0), True,
         4915112345678, "abc", "#N/A", "张伟"],
        ["Smith", 42, 1 / 3, dt.date(1900, 1, 1), dt.datetime(2024, 3, 1), dt.time(13, 45, 30), False,
         "+49 151 1234 5678", 12, "#DIV/0!", "北京市朝阳区"],
        ["", -17, 0.1 + 0.2, dt.date(1900, 2, 28), dt.datetime(1999, 12, 31, 23, 59, 59, 123456),
         dt.time(23, 59, 59, 999999), None, 8613912345678, 3.5, "#VALUE!", " lead "],
        [None, 10**15 - 1, -7.25, dt.date(1900, 3, 1), dt.datetime(2020, 6, 1, 12, 0, 0, 500), dt.time(6, 0, 0, 1500),
         True, "004915112345678", dt.date(2024, 1, 1), "#REF!", "tab\tin text"],
        ["Lee", 2.0, 123456.789, dt.date(2099, 12, 31), dt.datetime(2020, 6, 1, 12, 0, 0, 999500), dt.time(12),
         False, 7255060209, True, "#NAME?", "line\nbreak"],
        ["Ng", -3.0, 2**52 + 0.5, dt.date(1970, 1, 1), dt.datetime(1900, 1, 1, 0, 0, 1), dt.time(1, 2, 3), None,
         "7255060209", "2024-01-01 00:00:00", "#NUM!", "&lt;b&gt; <b>"],
        ["Øster", 1e15, 0.0001, dt.date(1900, 1, 2), dt.datetime(2024, 12, 31, 23, 59, 59, 999999), None, True,
         12345, "true", "#NULL!", "O'Brien \"Jr\""],
        ["Ana", -0.0, -0.5, None, None, dt.time(0, 0, 0, 1000), False, 1.5, "12", None, "x" * 300],
    ]
    for i, row in enumerate(rows):
        ws.append(row)
        if i == 2:
            ws.append([None] * 11)  # a blank row: counted, not kept
            ws.append(["", "", None, ""])  # only empty strings: blank too
    return save(wb)


@pytest.mark.parametrize("strings", ["inline", "shared_table"])
def test_every_kind_of_cell(strings):
    data = every_kind_of_cell()
    data = rewrite(data, {sheet_part(1): lambda x: with_formulas(x, {"B4": "B3*2", "C5": "1/3", "A4": "TRIM(A3)"})})
    if strings == "shared_table":
        data = to_shared_strings(data)
    assert calamine_reads(data) == {"Leads": None}
    (block,) = assert_same(data)
    assert block.headers[0] == "Name" and block.cells.height == 8
    row = block.cells.row(0, named=True)
    assert (row["c0"], row["c3"], row["c4"], row["c5"], row["c6"], row["c7"], row["c9"]) == (
        "  Müller  ", "2024-02-29", "2024-03-01T14:30:00", "00:00:00", "TRUE", "4915112345678", "#N/A")


def test_sheets_offsets_blank_rows_and_shifted_tables():
    wb = openpyxl.Workbook()
    first = wb.active
    first.title = "Leads"
    first.append(["Name", "E-mail", "Tel"])
    first.append(["Anna", "a@example.com", 4915112345678])
    first.append([None, None, None])
    first.append(["Bo", None, "+44 20 7946 0000"])
    wb.create_sheet("Empty")
    wb.create_sheet("Header only").append(["Name", "E-mail"])
    shifted = wb.create_sheet("Shifted")
    shifted["C3"] = "Spring fair"
    for r, row in enumerate([["Name", "Tel", "City"], ["Cy", 123, "Köln"], [None, None, None], ["Di", 4.5, None]],
                            start=5):
        for c, value in enumerate(row, start=3):
            shifted.cell(r, c, value)
    wb.create_sheet("Leads 2").append(["Name", "Tel"])
    wb["Leads 2"].append(["Ed", 1])
    data = save(wb)
    assert set(calamine_reads(data).values()) == {None}
    blocks = assert_same(data)
    assert [(b.sheet_name, b.cells.get_column("row_number").to_list()) for b in blocks] == [
        ("Leads", [1, 3]), ("Shifted", [4, 6]), ("Leads 2", [7])]


def test_styled_empty_cells_and_formulas_without_a_value():
    """Formatting on empty cells and formulas openpyxl wrote without a result: openpyxl counts them in
    the row's length, so the block gets their columns (all empty)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Name", "Tel", "City"])
    ws.append(["Anna", 4915112345678, "Berlin"])
    ws.append(["Bo", "=B2+1", None])
    ws["F1"].font = Font(bold=True)
    ws["H3"].fill = PatternFill("solid", fgColor="FFFF00")
    ws["E2"] = ""
    data = save(wb)
    assert calamine_reads(data) == {"Sheet": None}
    (block,) = assert_same(data)
    assert len(block.headers) == 6 and block.cells.width == 9  # c0..c7 + row_number


def test_random_numbers_dates_and_times():
    rng = random.Random(7)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["float", "int", "datetime", "time", "mixed"])
    for _ in range(3000):
        magnitude = 10 ** rng.uniform(-4, 15)
        stamp = dt.datetime(1900, 3, 1) + dt.timedelta(days=rng.uniform(0, 73000))
        stamp = stamp.replace(microsecond=rng.choice([0, 500, 999500, rng.randrange(10**6)]))
        ws.append([rng.choice([-1, 1]) * magnitude, rng.randrange(-(2**53) + 1, 2**53), stamp,
                   dt.time(rng.randrange(24), rng.randrange(60), rng.randrange(60), rng.randrange(10**6)),
                   rng.choice([str(rng.randrange(10**9)), rng.randrange(10**12), rng.random(), "n/a"])])
    data = save(wb)
    assert calamine_reads(data) == {"Sheet": None}
    assert_same(data)


def test_floats_print_like_repr():
    rng = random.Random(11)
    values = [rng.choice([-1, 1]) * 10 ** rng.uniform(-4, 15.6) for _ in range(100_000)]
    values = [v for v in [*values, 0.1, 0.30000000000000004, 1e-4, 2**51 + 0.5] if not v.is_integer()]
    text = xlsx_fast._float_text(pl.Series(values, dtype=pl.Float64)).to_list()
    assert text == [repr(v) for v in values]


def big_number(ws):
    ws.append(["Name", "Tel"])
    ws.append(["Anna", 12345678901234567890])
    ws.append(["Bo", 2**53])


def tiny_fraction(ws):
    ws.append(["Name", "Share"])
    ws.append(["Anna", 1.5e-7])


def numeric_header(ws):
    ws.append(["Name", 2024, dt.date(2024, 1, 1), True])
    ws.append(["Anna", 1, 2, 3])


def empty_header_text(ws):
    ws.append(["Name", "", "Tel", "City"])
    ws.append(["Anna", "x", 1, "Berlin"])


def duration(ws):
    ws.append(["Name", "Talk time"])
    ws.append(["Anna", dt.timedelta(hours=30, minutes=5)])


def escaped_text(ws):
    ws.append(["Name", "Note"])
    ws.append(["Anna", "_x000D_ stays literal"])


def carriage_return(ws):
    ws.append(["Name", "Note"])
    ws.append(["Anna", "two\r\nlines"])


def very_old_or_late_dates(ws):
    ws.append(["Name", "Date"])
    ws.append(["Anna", 3000000])
    ws["B2"].number_format = "yyyy-mm-dd"


@pytest.mark.parametrize("fill", [big_number, tiny_fraction, numeric_header, duration,
                                  escaped_text, carriage_return, very_old_or_late_dates])
def test_sheets_left_to_openpyxl_read_the_same(fill):
    wb = openpyxl.Workbook()
    fill(wb.active)
    ok = wb.create_sheet("Plain")
    ok.append(["Name", "Tel"])
    ok.append(["Cy", 4915112345678])
    data = save(wb)
    reasons = calamine_reads(data)
    assert reasons["Sheet"] and reasons["Plain"] is None
    assert_same(data)


@pytest.mark.parametrize("strings", ["inline", "shared_table"])
def test_empty_text_in_the_header(strings):
    """openpyxl writes "" as an empty inline cell (read back as None); a shared "" is read back as ""."""
    wb = openpyxl.Workbook()
    empty_header_text(wb.active)
    data = save(wb)
    if strings == "shared_table":
        data = rewrite(to_shared_strings(data), {sheet_part(1): lambda x: x.replace(
            b'<c r="B1" t="inlineStr" />', b'<c r="B1" t="s"><v>0</v></c>')})
    assert_same(data)


@pytest.mark.parametrize("edit", [
    # calamine trims unpreserved edge whitespace, openpyxl keeps it
    lambda x: x.replace(b'<t xml:space="preserve">', b"<t>"),
    # an ISO 8601 date cell
    lambda x: x.replace(b'<c r="B2" t="n"><v>4915112345678</v>', b'<c r="B2" t="d"><v>2024-03-01T10:00:00</v>'),
    # a cell element in another form (cell metadata)
    lambda x: x.replace(b'<c r="B2" t="n">', b'<c r="B2" t="n" cm="1">'),
    # a number openpyxl cannot read: both report it the same way
    lambda x: x.replace(b"<v>4915112345678</v>", b"<v>49 151</v>"),
])
def test_hand_edited_xml(edit):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Name", "Tel"])
    ws.append([" Anna ", 4915112345678])
    data = rewrite(save(wb), {sheet_part(1): edit})
    assert calamine_reads(data) != {"Sheet": None}
    try:
        expected = openpyxl_blocks(data)
    except SheetFormatError as exc:
        with pytest.raises(SheetFormatError) as info:
            list(xlsx_blocks(data, where=WHERE))
        assert str(info.value) == str(exc)
    else:
        assert expected and assert_same(data)


def outcome(read, data: bytes):
    try:
        return [(b.sheet_name, b.headers, b.cells.to_dicts()) for b in read(data)]
    except Exception as exc:  # noqa: BLE001 - the failure itself is compared
        return type(exc), str(exc)


@pytest.mark.parametrize("edit", [
    lambda x: x.replace(b"<t>Anna</t>", b"<t>An\x01na</t>"),  # a control character
    lambda x: x.replace(b"<t>Anna</t>", b"<t>An&#1;na</t>"),  # the same as a reference
    lambda x: x.replace(b"<t>Anna</t>", b"<t>An&#xFFFF;na</t>"),
    lambda x: x[:-40],  # cut after the cells
    lambda x: x.replace(b"<pageMargins", b'<pageMargins a="\x02"'),
    lambda x: x.replace(b"<t>Anna</t>", b"<t>An&nbsp;na</t>"),  # an entity XML does not define
    lambda x: x.replace(b"<t>Anna</t>", b"<t>Anna</b>"),
])
def test_malformed_sheet_xml_fails_the_same_way(edit):
    wb = openpyxl.Workbook()
    wb.active.append(["Name", "Tel", "City"])
    wb.active.append(["Anna", 1, "x"])
    data = rewrite(save(wb), {sheet_part(1): edit})
    expected = outcome(openpyxl_blocks, data)
    assert isinstance(expected, tuple)  # openpyxl refuses the sheet
    assert outcome(lambda d: list(xlsx_blocks(d, where=WHERE)), data) == expected


def test_rows_out_of_order_are_read_by_openpyxl():
    """openpyxl skips a row that comes after a later one; calamine keeps it."""
    wb = openpyxl.Workbook()
    for row in (["Name", "Tel", "City"], ["A", 1, "x"], ["B", 2, "y"]):
        wb.active.append(row)

    def swap(xml: bytes) -> bytes:
        rows = re.findall(rb'<row r="[0-9]+".*?</row>', xml)
        return xml.replace(rows[1] + rows[2], rows[2] + rows[1])

    data = rewrite(save(wb), {sheet_part(1): swap})
    assert calamine_reads(data) == {"Sheet": "rows out of order"}
    assert_same(data)


def test_1904_calendar_is_read_by_openpyxl():
    wb = openpyxl.Workbook()
    wb.epoch = CALENDAR_MAC_1904
    wb.active.append(["Name", "Date"])
    wb.active.append(["Anna", dt.date(2024, 3, 1)])
    data = save(wb)
    assert calamine_reads(data) == {}
    assert_same(data)


def test_calamine_and_openpyxl_sheets_in_one_workbook_keep_numbering():
    wb = openpyxl.Workbook()
    wb.active.title = "One"
    wb.active.append(["Name", "Tel"])
    wb.active.append(["Anna", 1])
    big_number(wb.create_sheet("Two"))
    three = wb.create_sheet("Three")
    three.append(["Name", "Tel"])
    three.append(["Cy", 3])
    data = save(wb)
    reasons = calamine_reads(data)
    assert reasons["One"] is None and reasons["Two"] and reasons["Three"] is None
    blocks = assert_same(data)
    assert [b.cells.get_column("row_number").to_list() for b in blocks] == [[1], [2, 3], [4]]


@pytest.mark.parametrize("data", [b"not a zip", b"PK\x03\x04broken", None])
def test_broken_workbook_error_is_unchanged(data):
    if data is None:  # a zip without the workbook part
        with zipfile.ZipFile(io.BytesIO(save(openpyxl.Workbook()))) as src:
            parts = {n: src.read(n) for n in src.namelist() if n != "xl/workbook.xml"}
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as dst:
            for name, body in parts.items():
                dst.writestr(name, body)
        data = out.getvalue()
    with pytest.raises(SheetFormatError) as expected:
        openpyxl_blocks(data)
    with pytest.raises(SheetFormatError) as got:
        list(xlsx_blocks(data, where=WHERE))
    assert str(got.value) == str(expected.value) and WHERE in str(got.value) and "\n" not in str(got.value)


def test_demo_generator_workbooks(tmp_path):
    demo_main([str(tmp_path / "demo"), "--entities", "2000"])
    files = sorted((tmp_path / "demo").rglob("*.xlsx"))
    assert files
    for path in files:
        data = path.read_bytes()
        assert set(calamine_reads(data).values()) == {None}, path.name
        assert_same(data)


def listed_files() -> list[Path]:
    return [Path(p) for p in os.environ.get("XLSX_EQUIVALENCE_FILES", "").split(os.pathsep) if p]


@pytest.mark.skipif(not listed_files(), reason="set XLSX_EQUIVALENCE_FILES to compare more workbooks")
@pytest.mark.parametrize("path", listed_files(), ids=str)
def test_listed_workbooks(path):
    assert_same(path.read_bytes())


def test_math_edges_of_date_rounding():
    """Serials whose time of day is half a millisecond off: openpyxl rounds half to even."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Name", "When"])
    for serial in (45000.5 + 0.5 / 86_400_000, 45000 + 1.5 / 86_400_000, 0.5 / 86_400_000, 59.99999999,
                   60.0, 61.0, 1.0, 0.0, math.nextafter(45001.0, 0)):
        ws.append(["x", serial])
        ws.cell(ws.max_row, 2).number_format = "yyyy-mm-dd hh:mm:ss"
    data = save(wb)
    assert calamine_reads(data) == {"Sheet": None}
    assert_same(data)
