"""Sheets source over real CSV/XLSX files: encodings, delimiters, Excel cell types, drift, reloads."""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil

import openpyxl
import polars as pl
import pytest

from connectors import loaded_rows, sheets_source
from connectors.sheets.decoding import SheetDecodeError, decode_text
from connectors.sheets.headers import column_names
from connectors.sheets.readers import _csv_block_polars, _csv_block_python, file_frame

from .conftest import Warehouse, root_message, truth_counts, truth_ids

#: sheet file stem -> source name in the truth (the same: the generator names sheet sources by file stem)
SHEET_SOURCES = {"trade_show_leads": "trade_show_leads", "sales_contacts": "sales_contacts",
                 "legacy_export": "legacy_export"}


@pytest.fixture(scope="module")
def sheets_loaded(synth_2k, module_warehouse, tmp_path_factory):
    """The generated dataset's three sheet files (copied, so mtimes can change) loaded twice."""
    folder = tmp_path_factory.mktemp("sheets")
    for f in (synth_2k / "sheets").iterdir():
        shutil.copy2(f, folder / f.name)
    pipeline = module_warehouse.pipeline("sheets")
    runs = []
    for _ in range(2):
        pipeline.run(sheets_source(str(folder)))
        runs.append(loaded_rows(pipeline))
    return module_warehouse, runs, folder, pipeline


def test_rows_match_the_truth(sheets_loaded, synth_2k):
    wh, (first, second), _, _ = sheets_loaded
    counts = truth_counts(synth_2k)
    assert first["contacts"] == sum(counts[s] for s in SHEET_SOURCES.values())
    assert first["file_inventory"] == len(SHEET_SOURCES)
    assert second == {}  # unchanged files are not read again
    for stem, truth_source in SHEET_SOURCES.items():
        numbers = {str(n) for (n,) in wh.sql("select row_number from raw_sheets.contacts where source = ?", [stem])}
        assert numbers == truth_ids(synth_2k, truth_source), stem
    [(rows, keys)] = wh.sql("select count(*), count(distinct (source, row_number)) from raw_sheets.contacts")
    assert rows == keys == first["contacts"]


@pytest.mark.parametrize(
    "stem, encoding, delimiter, fields",
    [
        ("sales_contacts", "utf-8-sig", ";", ["full_name", "company_name", "email", "phone", "city", "last_activity"]),
        ("legacy_export", "gbk", ",", ["full_name", "email", "phone", "city", "country", "last_activity"]),
    ],
)
def test_csv_values_are_the_file_text(sheets_loaded, synth_2k, stem, encoding, delimiter, fields):
    wh, _, _, _ = sheets_loaded
    with open(synth_2k / "sheets" / f"{stem}.csv", encoding=encoding, newline="") as f:
        records = list(csv.reader(f, delimiter=delimiter))[1:]
    expected = {(i, *(v or None for v in r)) for i, r in enumerate(records, start=1)}
    loaded = set(wh.sql(f"select row_number, {', '.join(fields)} from raw_sheets.contacts where source = ?", [stem]))
    assert loaded == expected
    if stem == "legacy_export":
        assert any("\u4e00" <= c <= "\u9fff" for row in loaded for v in row[1:] if v for c in v)  # GBK read


def test_xlsx_cells_become_text(sheets_loaded, synth_2k):
    wh, _, _, _ = sheets_loaded
    rows = wh.frame(
        "select row_number, sheet_name, file_name, phone, last_activity from raw_sheets.contacts"
        " where source = 'trade_show_leads'"
    )
    assert set(rows["sheet_name"]) == {"Leads"} and set(rows["file_name"]) == {"trade_show_leads.xlsx"}
    assert not rows["phone"].drop_nulls().str.ends_with(".0").any()
    iso = rows["last_activity"].drop_nulls().str.contains(r"^\d{4}-\d{2}-\d{2}$")
    assert iso.any() and not rows["last_activity"].drop_nulls().str.contains(r"\d{2}:\d{2}").any()
    ref_rows = {
        int(r) for r in truth_ids_of_kind(synth_2k, "trade_show_leads", "ref_error")
    }
    with_ref = {
        n for (n,) in wh.sql(
            "select row_number from raw_sheets.contacts where source = 'trade_show_leads' and"
            " (full_name = '#REF!' or email = '#REF!' or phone = '#REF!' or company_name = '#REF!'"
            " or city = '#REF!' or country = '#REF!' or notes = '#REF!' or last_activity = '#REF!')"
        )
    }
    assert ref_rows and ref_rows <= with_ref


def truth_ids_of_kind(dataset, source, kind):
    with open(dataset / "truth" / "bad_rows.csv", encoding="utf-8", newline="") as f:
        return [r["record_id"] for r in csv.DictReader(f) if r["source"] == source and r["kind"] == kind]


def _touch_later(path):
    later = path.stat().st_mtime + 5
    os.utime(path, (later, later))


def _current(wh) -> pl.DataFrame:
    contacts = pl.DataFrame(wh.sql("select * from raw_sheets.contacts where source = 'sales_contacts'"),
                            schema=[c for (c,) in wh.sql("select column_name from information_schema.columns where "
                                                         "table_schema = 'raw_sheets' and table_name = 'contacts' "
                                                         "order by ordinal_position")], orient="row")
    inventory = pl.DataFrame(wh.sql("select * from raw_sheets.file_inventory"),
                             schema=[c for (c,) in wh.sql("select column_name from information_schema.columns where "
                                                          "table_schema = 'raw_sheets' and table_name = "
                                                          "'file_inventory' order by ordinal_position")], orient="row")
    return contacts, inventory


def test_changed_file_alone_is_reloaded(sheets_loaded):
    """Rows appended to a file: only they are merged (the others parse as before); an edit above
    them: the file is merged whole. Either way no row of the file counts as deleted."""
    from pipelines.staging.deletions import sheet_deletions

    wh, _, folder, pipeline = sheets_loaded
    path = folder / "sales_contacts.csv"
    before = wh.sql("select count(*) from raw_sheets.contacts where source = 'sales_contacts'")[0][0]
    with open(path, "a", encoding="utf-8", newline="") as f:
        f.write("Neu, Nina;;nina@example.com;;Berlin;01/02/2025\r\n")
    _touch_later(path)
    pipeline.run(sheets_source(str(folder)))
    assert loaded_rows(pipeline) == {"contacts": 1, "file_inventory": 1}
    assert wh.sql("select present, row_count, last_row_number from raw_sheets.file_inventory"
                  " where file_name = 'sales_contacts.csv'") == [(True, before + 1, before + 1)]
    assert wh.sql(
        "select count(*), max(row_number) from raw_sheets.contacts where source = 'sales_contacts'"
    ) == [(before + 1, before + 1)]
    assert wh.sql("select full_name from raw_sheets.contacts where source = 'sales_contacts' and row_number = ?",
                  [before + 1]) == [("Neu, Nina",)]
    contacts, inventory = _current(wh)
    assert contacts["read_load_id"].n_unique() == 2 and sheet_deletions(contacts, inventory).height == 0

    # the second row edited and one more appended: read whole again, every row from this read
    lines = path.read_bytes().split(b"\r\n")
    lines[2] = lines[2].replace(b";", b"x;", 1)
    path.write_bytes(b"\r\n".join(lines[:-1]) + b"\r\nZweite, Zoe;;zoe@example.com;;Bonn;02/02/2025\r\n")
    _touch_later(path)
    pipeline.run(sheets_source(str(folder)))
    assert loaded_rows(pipeline) == {"contacts": before + 2, "file_inventory": 1}
    contacts, inventory = _current(wh)
    assert contacts["read_load_id"].n_unique() == 1 and sheet_deletions(contacts, inventory).height == 0
    assert contacts.filter(pl.col("row_number") == 2)["full_name"][0].endswith("x")


def write_xlsx(path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Leads"
    ws.append(["Name", "E-mail", "Tel", "Date", "Customer Tier", None, "客户等级"])
    ws.append(["Anna Schmidt", "a@example.com", 4915112345678, dt.date(2024, 3, 1), "gold", None, "甲"])
    ws.append([None] * 7)  # a blank row is counted, not loaded
    ws.append(["#REF!", "b@example.com", 4915112345679.0, dt.datetime(2024, 3, 2, 14, 30), None, "loose", None])
    ws.append(["Bo", None, 12.5, "03.04.2024", True, None, None])
    ws2 = wb.create_sheet("Leads 2")
    ws2.append(["Name", "E-mail", "Tel", "Date"])
    ws2.append(["Cy", "c@example.com", "+44 20 7946 0000", None])
    wb.create_sheet("Empty")
    wb.save(path)
    return path


def test_hand_made_xlsx(warehouse: Warehouse, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write_xlsx(folder / "fair.xlsx")
    (folder / "~$fair.xlsx").write_bytes(b"lock")  # Excel lock file: skipped
    (folder / "readme.md").write_text("not a sheet", encoding="utf-8")  # skipped with a warning
    pipeline = warehouse.pipeline("sheets")
    pipeline.run(sheets_source(str(folder)))
    assert loaded_rows(pipeline) == {"contacts": 4, "file_inventory": 1}  # lock file and readme not listed
    assert warehouse.sql("select file_name, row_count, last_row_number from raw_sheets.file_inventory") == [
        ("fair.xlsx", 4, 5)]
    rows = warehouse.sql(
        "select row_number, sheet_name, full_name, email, phone, last_activity, customer_tier, column_6, ke_hu_deng_ji"
        " from raw_sheets.contacts order by row_number"
    )
    assert rows == [
        (1, "Leads", "Anna Schmidt", "a@example.com", "4915112345678", "2024-03-01", "gold", None, "甲"),
        (3, "Leads", "#REF!", "b@example.com", "4915112345679", "2024-03-02T14:30:00", None, "loose", None),
        (4, "Leads", "Bo", None, "12.5", "03.04.2024", "TRUE", None, None),
        (5, "Leads 2", "Cy", "c@example.com", "+44 20 7946 0000", None, None, None, None),
    ]
    assert set(warehouse.column_types("raw_sheets", "contacts").values()) <= {"VARCHAR", "BIGINT"}


def test_latin1_tab_crlf_csv_and_column_mapping(warehouse: Warehouse, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    text = 'Ansprechpartner\tFirma\tStadt\tPLZ\tBemerkung\r\nJürgen Müller\tBäckerei Groß GmbH\tKöln\t50667\t"zwei\r\nZeilen"\r\n'
    (folder / "messe.csv").write_bytes(text.encode("latin-1"))
    mapping = {"messe": {"Ansprechpartner": "full_name", "Bemerkung": "notes"}}
    pipeline = warehouse.pipeline("sheets")
    pipeline.run(sheets_source(str(folder), column_mapping=mapping))
    assert warehouse.sql(
        "select row_number, full_name, company_name, city, postal_code, notes, sheet_name from raw_sheets.contacts"
    ) == [(1, "Jürgen Müller", "Bäckerei Groß GmbH", "Köln", "50667", "zwei\r\nZeilen", None)]


def test_new_column_in_a_new_file_is_kept(warehouse: Warehouse, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.csv").write_text("name,email\nAl,al@example.com\n", encoding="utf-8")
    pipeline = warehouse.pipeline("sheets")
    pipeline.run(sheets_source(str(folder)))
    (folder / "b.csv").write_text("name,email,Loyalty Points\nBe,be@example.com,120\n", encoding="utf-8")
    later = (folder / "a.csv").stat().st_mtime + 5
    os.utime(folder / "b.csv", (later, later))
    pipeline.run(sheets_source(str(folder)))
    assert loaded_rows(pipeline) == {"contacts": 1, "file_inventory": 1}
    assert warehouse.sql("select source, full_name, loyalty_points from raw_sheets.contacts order by source") == [
        ("a", "Al", None), ("b", "Be", "120"),
    ]


def test_undecodable_file_names_file_and_offset(warehouse: Warehouse, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "broken.csv").write_bytes(b"name,city\nx\x81\x8d\x8f,y\n")
    with pytest.raises(Exception) as info:
        warehouse.pipeline("sheets").run(sheets_source(str(folder)))
    message = root_message(info.value)
    assert "SheetDecodeError" in message and "broken.csv" in message and "byte offset 11" in message


def test_xls_is_refused_clearly(warehouse: Warehouse, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0" + b"\x00" * 60)
    with pytest.raises(Exception) as info:
        warehouse.pipeline("sheets").run(sheets_source(str(folder)))
    assert "old.xls" in root_message(info.value) and ".xlsx" in root_message(info.value)


@pytest.mark.parametrize(
    "data, encoding, text",
    [
        ("姓名,城市\n張偉,深圳\n王芳,上海\n".encode("gbk"), "gbk", "張偉"),
        ("nom;ville\nHélène Dupré;Besançon\nRené;Orléans\n".encode("cp1252"), "cp1252", "Hélène"),
        ("name\nMüller\n".encode("utf-8-sig"), "utf-8-sig", "Müller"),
        ("name\tcity\nZoë\tGenève\n".encode("utf-16"), "utf-16", "Genève"),
    ],
)
def test_encoding_guesses(data, encoding, text):
    decoded, guessed = decode_text(data, where="t.csv")
    assert guessed == encoding and text in decoded


def test_latin1_that_also_parses_as_gbk_stays_latin():
    data = "name\nMüller Straße\nLéon\n".encode("latin-1")
    data.decode("gbk")  # valid GBK bytes, but the pairs are not Chinese
    decoded, guessed = decode_text(data, where="t.csv")
    assert guessed == "cp1252" and "Müller Straße" in decoded


def test_nul_bytes_are_refused():
    with pytest.raises(SheetDecodeError, match="t.csv"):
        decode_text("name\nAl\n".encode("utf-16-le"), where="t.csv")


def test_header_names():
    headers = ["Name", " E-Mail ", "TEL", "Kontakt", "", "Source", "Straße", "1st Order", "email"]
    assert column_names(headers, where="t") == [
        "full_name", "email", "phone", "full_name_2", "column_5", "source_2", "street", "col_1st_order", "email_2",
    ]
    with pytest.raises(ValueError, match="t: column_mapping"):
        column_names(["A"], overrides={"A": "Bad Name"}, where="t")


def test_csv_parsers_agree_and_ragged_rows_are_kept():
    text = 'name;email;city\r\nAl;"a@x.org";"Le\r\nMans"\r\n\r\nBo;"";Rom\r\n;;\r\nCy;c@x.org\r\n'
    fast = _csv_block_polars(text, ";")
    slow = _csv_block_python(text, ";", where="t.csv")
    assert fast.headers == slow.headers == ["name", "email", "city"]
    assert fast.cells.to_dicts() == slow.cells.to_dicts() == [
        {"c0": "Al", "c1": "a@x.org", "c2": "Le\r\nMans", "row_number": 1},
        {"c0": "Bo", "c1": None, "c2": "Rom", "row_number": 3},
        {"c0": "Cy", "c1": "c@x.org", "c2": None, "row_number": 5},
    ]
    ragged = file_frame(b'name,email\nAl,a@x.org,extra\nB"o,b@x.org\n', "r.csv")
    assert ragged.select("row_number", "full_name", "email", "column_3").rows() == [
        (1, "Al", "a@x.org", "extra"), (2, 'B"o', "b@x.org", None),
    ]
    # the row with more fields than the header is kept in raw, marked for quarantine (values may have shifted)
    assert ragged["_row_error"].to_list() == [("3 fields where the header has 2: values may have shifted "
                                              "(an unquoted delimiter in a value?)"), None]
