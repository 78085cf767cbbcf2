"""Sheets whose rows do not fit their header are quarantined or read correctly, never shifted into
other fields, and no cell value becomes a column name."""

from __future__ import annotations

import io
import logging

import polars as pl
from openpyxl import Workbook

from connectors.sheets.readers import file_frame, sniff_delimiters
from pipelines.staging import stage_sheets


def staged(data: bytes, name: str):
    return stage_sheets(file_frame(data, name))


def test_a_row_with_an_unquoted_delimiter_is_quarantined_not_shifted():
    result = staged(b"name;email;phone;city\nAnna Berg;anna@x.de;030123456;Berlin\n"
                    b"Robert Sql;ACME; Ltd;robert.sql@example.org;Rom\n", "sales.csv")
    assert result.customers["source_record_id"].to_list() == ["1"]
    assert result.customers["city"].to_list() == ["Berlin"]
    q = result.quarantine.row(0, named=True)
    assert (q["source"], q["source_record_id"], q["rule"]) == ("sales", "2", "malformed_row")
    assert "5 fields where the header has 4" in q["raw_value"]


def test_a_header_with_another_delimiter_than_its_rows_is_read_field_by_field():
    text = "name;email;phone;city\nAnna Berg,anna@x.de,030123456,Berlin\nBen Ott,ben@x.de,040111222,Hamburg\n"
    assert sniff_delimiters(text) == (";", ",")
    result = staged(text.encode(), "mixed.csv")
    assert result.quarantine.height == 0
    assert result.customers.select("email", "city").rows() == [("anna@x.de", "Berlin"), ("ben@x.de", "Hamburg")]


def test_a_file_without_a_header_keeps_every_row_in_quarantine_and_no_value_as_a_column_name(caplog):
    data = b"Anna Berg,anna@x.de,+49 30 1234567,Berlin\nBen Ott,ben@x.de,+49 40 1112223,Hamburg\n"
    with caplog.at_level(logging.INFO):
        frame = file_frame(data, "noheader.csv")
    assert not any("@" in c or "+49" in c for c in frame.columns)
    assert "anna@x.de" not in caplog.text and "1234567" not in caplog.text
    result = stage_sheets(frame)
    assert result.customers.height == 0
    assert sorted(result.quarantine["source_record_id"]) == ["1", "2"]  # the first person is not lost
    assert set(result.quarantine["rule"]) == {"malformed_row"}


def test_an_xlsx_title_row_above_the_header_is_skipped():
    wb = Workbook()
    ws = wb.active
    ws.append(["Trade show leads, Hannover 2025"])
    ws.append([])
    ws.append(["Name", "E-Mail", "Tel", "City"])
    ws.append(["Anna Berg", "anna@x.de", "030123456", "Berlin"])
    ws.append(["Ben Ott", "ben@x.de", "040111222", "Hamburg"])
    buf = io.BytesIO()
    wb.save(buf)
    result = staged(buf.getvalue(), "leads.xlsx")
    assert result.quarantine.height == 0
    assert result.customers.sort("source_record_id").select("source_record_id", "email").rows() == [
        ("1", "anna@x.de"), ("2", "ben@x.de")]


def test_well_formed_files_are_read_as_before():
    result = staged(b"name,email\nAnna Berg,anna@x.de\n", "ok.csv")
    assert result.customers.height == 1 and result.quarantine.height == 0
    assert pl.Series(result.customers["full_name"]).to_list() == ["Anna Berg"]
