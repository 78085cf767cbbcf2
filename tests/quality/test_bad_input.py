"""Bad input reaching the connectors, on small hand-made files and a real local HTTP shop:
a page cut mid-body (retried, then salvaged or failed naming the page, nothing half-loaded), CSV
files in legacy encodings, XLSX error cells, and error texts safe to log."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import openpyxl
import polars as pl
import pytest

from connectors import ShopServer, make_pipeline, sheets_source, shop_source
from connectors.common import describe_load_error, mask_error
from connectors.shop import RECOVERED_COLUMN, ShopResponseError
from connectors.shop.pages import page_label, salvage_objects
from pipelines.staging import stage_sheets, stage_shop, truncated_pages

TOKEN = "shpat_bad_input_token"
NOW = datetime(2025, 8, 1, tzinfo=UTC)


def customer(cid: int, updated_at: str = "2024-05-01T12:00:00+08:00", **extra) -> dict:
    return {"id": cid, "email": f"c{cid}@example.com", "first_name": "Anna", "last_name": f"Doe{cid}",
            "phone": None, "created_at": "2024-01-01T00:00:00+00:00", "updated_at": updated_at, **extra}


def write_shop(root: Path, pages: dict[str, list[list[dict]]]) -> tuple[Path, dict[str, list[str]]]:
    """A crm_synth-layout shop folder; returns it and each resource's page tokens (None for page 1)."""
    tokens: dict[str, list[str]] = {}
    for resource, resource_pages in pages.items():
        folder = root / resource
        folder.mkdir(parents=True)
        names = [f"page-{i:04d}.json" for i in range(1, len(resource_pages) + 1)]
        toks = [secrets.token_hex(12) for _ in names[1:]]
        for i, objects in enumerate(resource_pages):
            body = {resource: objects, "next_page_info": toks[i] if i < len(toks) else None}
            (folder / names[i]).write_text(json.dumps(body), encoding="utf-8")
        (folder / "_index.json").write_text(json.dumps(
            {"first_page": names[0], "next_page_info_to_file": dict(zip(toks, names[1:], strict=True))}))
        tokens[resource] = [None, *toks]
    return root, tokens


def three_pages() -> dict[str, list[list[dict]]]:
    return {
        "customers": [[customer(i) for i in range(1, 6)], [customer(i) for i in range(6, 11)],
                      [customer(i) for i in range(11, 14)]],
        "orders": [[{"id": 70, "customer": {"id": 1}, "created_at": "2024-05-01T12:00:00+08:00",
                     "total_price": "9.99"}]],
    }


class Wh:
    def __init__(self, root: Path) -> None:
        self.path, self.pipelines = root / "warehouse.duckdb", root / "dlt"

    def pipeline(self, source: str):
        return make_pipeline(source, self.path, pipelines_dir=self.pipelines)

    def frame(self, sql: str) -> pl.DataFrame:
        with duckdb.connect(str(self.path), read_only=True) as con:
            return con.sql(sql).pl()


# -- a shop page cut mid-body -------------------------------------------------------------------

@pytest.mark.parametrize("share", [0.35, 0.6, 0.8, 0.999])
def test_salvage_keeps_exactly_the_complete_objects(share):
    objects = [customer(i, city="Zürich 北京") for i in range(1, 9)]
    body = json.dumps({"customers": objects, "next_page_info": "x"}, ensure_ascii=False).encode()
    cut = body[: int(len(body) * share)]  # may end inside a multi-byte character
    ends = [body.index(json.dumps(o, ensure_ascii=False).encode()) + len(json.dumps(o, ensure_ascii=False).encode())
            for o in objects]
    complete = sum(1 for end in ends if end <= len(cut))
    assert complete > 0
    assert salvage_objects(cut, "customers") == objects[:complete]


def test_salvage_needs_the_array_it_names():
    assert salvage_objects(b'{"orders":[{"id":1},{"id"', "customers") is None
    assert salvage_objects(b"<html>502 Bad Gateway", "customers") is None
    assert salvage_objects(b' {\n "customers" : [ {"id":1} ,\n {"id":2}, {"i', "customers") == [{"id": 1}, {"id": 2}]
    assert page_label("http://h/admin/api/2024-01/customers.json?limit=250&page_info=abc.eyJ1") == "page:abc"
    assert page_label("http://h/admin/api/2024-01/customers.json?limit=250") == "page:first"


def test_cut_page_is_retried_then_salvaged_and_paging_goes_on(tmp_path):
    shop, tokens = write_shop(tmp_path / "shop", three_pages())
    wh, pages = Wh(tmp_path), []
    with ShopServer(shop, access_token=TOKEN, truncate_pages={"customers/page-0002.json": 0.6}) as server:
        wh.pipeline("shop").run(shop_source(server.url, TOKEN, on_invalid_page="salvage", invalid_pages=pages,
                                            request_backoff_factor=0.01))
    customers_requests = [p for p, _ in server.requests if p.endswith("customers.json")]
    assert len(customers_requests) == 3 + 2  # the cut page fetched 3 times in all
    [page] = pages
    assert page.page == f"page:{tokens['customers'][1]}" and page.resource == "customers"
    rows = wh.frame(f"select id, {RECOVERED_COLUMN} as page from raw_shop.customers order by id")
    recovered = rows.filter(pl.col("page").is_not_null())
    assert 0 < recovered.height < 5 and recovered.height == page.objects_recovered
    assert set(recovered["page"]) == {page.page}
    assert set(rows["id"]) == set(range(1, 6)) | set(recovered["id"]) | set(range(11, 14))  # page 3 loaded
    # staging: each kept row carries an issue naming the page; the page itself is quarantined
    staged = stage_shop(wh.frame("select * from raw_shop.customers"), now=NOW)
    issues = staged.field_issues.filter(pl.col("rule") == "recovered_from_truncated_page")
    assert sorted(issues["source_record_id"].cast(pl.Int64)) == sorted(recovered["id"])
    assert set(issues["raw_value"]) == {page.page}
    logged = pl.DataFrame([{"resource": page.resource, "page": page.page, "bytes": page.bytes,
                            "objects_recovered": page.objects_recovered}])
    q = truncated_pages(logged, source="shop", resource="customers").row(0, named=True)
    assert (q["source"], q["source_record_id"], q["rule"]) == ("shop", page.page, "truncated_json_page")
    assert f"{page.objects_recovered} complete objects recovered" in q["raw_value"]


def test_customers_lost_on_a_cut_page_arrive_once_the_page_is_whole(tmp_path):
    """The cursor does not pass a salvaged page: the next run asks from the same point, and every
    customer of the repaired page arrives (none twice), even the ones dated before later pages."""
    pages = three_pages()
    shop, _ = write_shop(tmp_path / "shop", pages)
    wh, cut = Wh(tmp_path), []
    with ShopServer(shop, access_token=TOKEN, truncate_pages={"customers/page-0002.json": 0.6}) as server:
        wh.pipeline("shop").run(shop_source(server.url, TOKEN, on_invalid_page="salvage", invalid_pages=cut,
                                            request_backoff_factor=0.01))
    [page] = cut
    assert page.objects_lost == 5 - page.objects_recovered > 0  # as full as page 1 (5 objects)
    first = set(wh.frame("select id from raw_shop.customers")["id"])
    assert len(first) == 13 - page.objects_lost
    with ShopServer(shop, access_token=TOKEN) as server:  # the same export, page 2 now whole
        wh.pipeline("shop").run(shop_source(server.url, TOKEN, on_invalid_page="salvage", invalid_pages=[]))
    rows = wh.frame("select id, count(*) as n from raw_shop.customers group by id")
    assert set(rows["id"]) == set(range(1, 14)) and rows["n"].max() == 1


def test_cut_page_that_recovers_on_retry_loads_whole(tmp_path):
    shop, _ = write_shop(tmp_path / "shop", three_pages())
    wh, pages = Wh(tmp_path), []
    with ShopServer(shop, truncate_pages={"customers/page-0002.json": 0.6}, truncate_first=1) as server:
        wh.pipeline("shop").run(shop_source(server.url, TOKEN, on_invalid_page="fail", invalid_pages=pages))
    assert pages == []
    assert len([p for p, _ in server.requests if p.endswith("customers.json")]) == 4
    rows = wh.frame("select * from raw_shop.customers")
    assert rows.height == 13 and RECOVERED_COLUMN not in rows.columns


def test_cut_page_fails_naming_the_page_and_nothing_is_half_loaded(tmp_path):
    pages = three_pages()
    shop, _ = write_shop(tmp_path / "shop_v1", pages)
    wh = Wh(tmp_path)
    with ShopServer(shop) as server:
        wh.pipeline("shop").run(shop_source(server.url, TOKEN))
    before = wh.frame("select * exclude (_dlt_load_id) from raw_shop.customers order by id")
    # the next export changes a customer and cuts the orders page: customers extract fine, orders do not
    pages["customers"][0][0] = customer(1, "2024-06-01T00:00:00+00:00", first_name="Changed")
    pages["orders"] = [pages["orders"][0], [{"id": 71, "customer": {"id": 2}, "created_at": "2024-06-01T00:00:00Z"}]]
    shop2, tokens = write_shop(tmp_path / "shop_v2", pages)
    with ShopServer(shop2, truncate_pages={"orders/page-0002.json": 0.5}) as server, \
            pytest.raises(Exception) as info:
        wh.pipeline("shop").run(shop_source(server.url, TOKEN, invalid_page_attempts=2))
    message = describe_load_error(info.value)
    assert message.startswith("ShopResponseError: shop API orders page:" + tokens["orders"][1])
    assert "not valid JSON after 2 attempt(s)" in message and "/admin/api/2024-01/orders.json" in message
    assert isinstance(_root(info.value), ShopResponseError)
    after = wh.frame("select * exclude (_dlt_load_id) from raw_shop.customers order by id")
    assert after.equals(before)  # the changed customer was extracted but nothing of the source was loaded


def _root(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__
    return exc


# -- spreadsheets: encodings and error cells ----------------------------------------------------

def test_legacy_encodings_are_read_recorded_and_reported(tmp_path):
    folder = tmp_path / "sheets"
    folder.mkdir()
    (folder / "legacy.csv").write_bytes("NAME,EMAIL,CITY\r\n张伟,zw@example.cn,北京\r\nANDR?E MULLER,am@example.fr,Paris\r\n"
                                        .encode("gbk"))
    (folder / "messe.csv").write_bytes("Name;Stadt\nJürgen Groß;Köln\n".encode("cp1252"))
    (folder / "sales.csv").write_bytes("\ufefffull_name;city\nAnna Smith;Leeds\n".encode())
    wh = Wh(tmp_path)
    wh.pipeline("sheets").run(sheets_source(str(folder)))
    raw = wh.frame("select * from raw_sheets.contacts order by source, row_number")
    assert dict(raw.select("source", "file_encoding").unique().iter_rows()) == {
        "legacy": "gbk", "messe": "cp1252", "sales": "utf-8-sig"}
    assert raw.filter(pl.col("source") == "legacy")["full_name"].to_list() == ["张伟", "ANDR?E MULLER"]
    staged = stage_sheets(raw, now=NOW)
    files = staged.field_issues.filter(pl.col("rule") == "non_utf8_encoding")
    assert sorted(files.select("source", "source_record_id", "raw_value").iter_rows()) == [
        ("legacy", "file", "gbk"), ("messe", "file", "cp1252")]
    damaged = staged.field_issues.filter(pl.col("rule") == "encoding_damage")
    assert damaged.select("source", "source_record_id", "field").rows() == [("legacy", "2", "name")]
    assert staged.customers.height == 4  # the rows themselves are kept


def test_xlsx_error_cells_are_nulled_and_named(tmp_path):
    folder = tmp_path / "sheets"
    folder.mkdir()
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Leads"
    ws.append(["Name", "E-mail", "Tel", "City", "Date"])
    ws.append(["Anna Schmidt", "a.schmidt@example.de", "+49 151 1234567", "Berlin", "01.03.2024"])
    ws.append(["#REF!", "b@example.de", "+49 151 1234568", "#N/A", "02.03.2024"])
    ws.append(["Bo Berg", "#VALUE!", "+49 151 1234569", "Hamburg", "#DIV/0!"])
    wb.save(folder / "fair.xlsx")
    wh = Wh(tmp_path)
    wh.pipeline("sheets").run(sheets_source(str(folder)))
    raw = wh.frame("select * from raw_sheets.contacts")
    staged = stage_sheets(raw, now=NOW)
    errors = staged.field_issues.filter(pl.col("rule") == "excel_error")
    assert sorted(errors.select("source_record_id", "field", "raw_value", "action").iter_rows()) == [
        ("2", "city", "#N/A", "nulled"), ("2", "name", "#REF!", "nulled"),
        ("3", "created_at", "#DIV/0!", "nulled"), ("3", "email", "#VALUE!", "nulled"),
        ("3", "updated_at", "#DIV/0!", "nulled")]
    row2 = staged.customers.filter(pl.col("source_record_id") == "2").row(0, named=True)
    assert row2["full_name"] is None and row2["city"] is None and row2["email"] == "b@example.de"
    assert staged.customers.height == 3


# -- error texts safe for logs and tables -------------------------------------------------------

@pytest.mark.parametrize("raw, hidden, kept", [
    (("(psycopg.OperationalError) connection to server at \"10.0.0.5\", port 5432 failed for "
     "postgresql+psycopg://crm:Sup3rS3cret@10.0.0.5:5432/crm"), ["Sup3rS3cret"], ["crm:***@10.0.0.5", "port 5432"]),
    ("IntegrityError: UNIQUE constraint failed\n[SQL: INSERT INTO c VALUES (?)]\n[parameters: ('anna@x.de',)]",
     ["anna@x.de", "INSERT"], ["UNIQUE constraint failed"]),
    ("GET https://shop.example/admin?access_token=shpat_123&page_info=abc for john.doe@example.com",
     ["shpat_123", "john.doe@"], ["page_info=abc", "j***@example.com"]),
    ("header X-Shopify-Access-Token: shpat_999 phone +49 (0)30 1234567 on 2024-05-01 12:00:00",
     ["shpat_999", "1234567"], ["2024-05-01 12:00:00"]),
    # a digit run inside a page token or id is not a phone: the page must stay nameable
    ("shop API orders page:6c0b8e7939458421203eb1b4 failed; call 030 12345678 or +1 (212) 555-0100",
     ["12345678", "555-0100"], ["page:6c0b8e7939458421203eb1b4"]),
])
def test_error_texts_are_masked(raw, hidden, kept):
    text = mask_error(raw)
    assert not any(h in text for h in hidden), text
    assert all(k in text for k in kept), text


def test_load_error_names_its_innermost_cause():
    try:
        try:
            raise FileNotFoundError("ERP database file /data/erp.sqlite not found")
        except FileNotFoundError as inner:
            raise RuntimeError("Pipeline execution failed at stage extract") from inner
    except RuntimeError as outer:
        assert describe_load_error(outer) == "FileNotFoundError: ERP database file /data/erp.sqlite not found"
    assert len(mask_error("x" * 2000)) == 500
