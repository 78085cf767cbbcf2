"""The demo data generator: source formats, shop page chain, complete truth, noise, determinism."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import sqlite3
import subprocess
import sys
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from pipelines.demo import SOURCES, generate

REPO = Path(__file__).resolve().parents[1]
ERP_COLUMNS = ["customer_no", "company_name", "contact_name", "street", "postal_code", "city", "country",
               "phone", "email", "vat_id", "created_at", "updated_at"]
LEADS_HEADER = ["Name", "Company", "E-mail", "Tel", "City", "Country", "Notes", "Date"]
SALES_HEADER = ["full_name", "company", "email", "phone", "city", "last_contacted"]
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TRADITIONAL = set("張劉陳楊黃趙吳孫馬鄭偉靜麗強軍傑濤華國紅東龍")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "sources"
    return out, generate(out, entities=300, seed=42, page_size=50)


def _csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _erp(out: Path) -> list[dict]:
    con = sqlite3.connect(out / "erp.sqlite")
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("SELECT * FROM customers ORDER BY customer_no")]
    finally:
        con.close()


def _follow_pages(folder: Path) -> list[tuple[str, dict]]:
    """Walk the page chain the way an API client would: first page, then next_page_info tokens."""
    index = json.loads((folder / "_index.json").read_text(encoding="utf-8"))
    name, pages = index["first_page"], []
    while name is not None:
        page = json.loads((folder / name).read_text(encoding="utf-8"))
        pages.append((name, page))
        token = page["next_page_info"]
        name = index["next_page_info_to_file"][token] if token else None
    return pages


def _shop(out: Path, kind: str = "customers") -> list[dict]:
    return [obj for _, page in _follow_pages(out / "shop" / kind) for obj in page[kind]]


def _leads(out: Path) -> list[dict]:
    wb = openpyxl.load_workbook(out / "sheets" / "trade_show_leads.xlsx")
    rows = list(wb["Leads"].iter_rows(values_only=True))
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def _sales(out: Path) -> list[dict]:
    with open(out / "sheets" / "sales_contacts.csv", encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f, delimiter=";"))


def _emitted(out: Path) -> dict[str, dict[str, dict]]:
    """Every record in the source files, keyed by source and source_record_id."""
    return {
        "erp": {r["customer_no"]: r for r in _erp(out)},
        "shop": {str(c["id"]): c for c in _shop(out)},
        "trade_show_leads": {str(i): r for i, r in enumerate(_leads(out), 1)},
        "sales_contacts": {str(i): r for i, r in enumerate(_sales(out), 1)},
    }


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_erp_tables_columns_and_counts(demo):
    out, counts = demo
    con = sqlite3.connect(out / "erp.sqlite")
    try:
        info = {t: con.execute(f"PRAGMA table_info({t})").fetchall() for t in ("customers", "invoices")}
        orphans = con.execute("SELECT COUNT(*) FROM invoices WHERE customer_no NOT IN "
                              "(SELECT customer_no FROM customers)").fetchone()[0]
        n_invoices = con.execute("SELECT COUNT(*) FROM invoices").fetchone()[0]
        amount_types = {t for (t,) in con.execute("SELECT DISTINCT typeof(amount) FROM invoices")}
    finally:
        con.close()
    assert [c[1] for c in info["customers"]] == ERP_COLUMNS
    assert [c[1] for c in info["customers"] if c[5]] == ["customer_no"]
    assert [c[1] for c in info["invoices"]] == ["invoice_no", "customer_no", "invoice_date", "amount", "currency"]
    assert [c[1] for c in info["invoices"] if c[5]] == ["invoice_no"]
    assert orphans == 0
    assert n_invoices == counts["erp_invoices"] > 0
    assert amount_types <= {"real", "integer"}
    rows = _erp(out)
    assert len(rows) == counts["erp"]
    assert all(re.fullmatch(r"C\d{6}", r["customer_no"]) for r in rows)
    # Contact names are one "Surname, Given" field, often upper-case.
    assert sum(", " in (r["contact_name"] or "") for r in rows) > len(rows) / 2
    assert any(r["contact_name"] and r["contact_name"] == r["contact_name"].upper() and ", " in r["contact_name"]
               for r in rows)


def test_shop_page_chain_reaches_every_page(demo):
    out, counts = demo
    for kind, n_key, pages_key in (("customers", "shop", "shop_customer_pages"),
                                   ("orders", "shop_orders", "shop_order_pages")):
        folder = out / "shop" / kind
        index = json.loads((folder / "_index.json").read_text(encoding="utf-8"))
        pages = _follow_pages(folder)
        on_disk = sorted(p.name for p in folder.glob("page-*.json"))
        assert [name for name, _ in pages] == on_disk
        assert index["pages"] == len(on_disk) == counts[pages_key] > 1
        sizes = [len(page[kind]) for _, page in pages]
        assert all(s == 50 for s in sizes[:-1]) and 1 <= sizes[-1] <= 50
        assert pages[-1][1]["next_page_info"] is None
        objects = [o for _, page in pages for o in page[kind]]
        assert len(objects) == counts[n_key]
        twin = [json.loads(line) for line in (out / "shop" / f"{kind}.jsonl").read_text("utf-8").splitlines()]
        assert twin == objects


def test_shop_objects_look_like_the_api(demo):
    out, _ = demo
    customers, orders = _shop(out), _shop(out, "orders")
    bad = {(r["record_id"], r["kind"]) for r in _csv(out / "truth" / "bad_rows.csv") if r["source"] == "shop"}
    ids = [c["id"] for c in customers]
    assert all(isinstance(i, int) and len(str(i)) == 13 for i in ids)
    assert ids == sorted(set(ids))
    keys = {"id", "email", "first_name", "last_name", "phone", "created_at", "updated_at", "accepts_marketing",
            "orders_count", "total_spent", "default_address"}
    address_keys = {"address1", "address2", "city", "province", "zip", "country_code", "company"}
    spent = defaultdict(Decimal)
    n_orders = Counter()
    for o in orders:
        assert set(o) == {"id", "customer", "created_at", "total_price", "currency", "line_items"}
        items_total = sum(i["quantity"] * Decimal(i["price"]) for i in o["line_items"])
        assert Decimal(o["total_price"]) == items_total
        assert dt.datetime.fromisoformat(o["created_at"]).utcoffset() is not None
        spent[o["customer"]["id"]] += Decimal(o["total_price"])
        n_orders[o["customer"]["id"]] += 1
    assert set(spent) <= set(ids)
    for c in customers:
        assert set(c) == keys and set(c["default_address"]) == address_keys
        assert Decimal(c["total_spent"]) == spent[c["id"]]
        assert c["orders_count"] == n_orders[c["id"]]
        assert dt.datetime.fromisoformat(c["updated_at"]).utcoffset() is not None
        if (str(c["id"]), "impossible_date") not in bad:
            assert dt.datetime.fromisoformat(c["created_at"]).utcoffset() is not None


def test_page_size_option_and_rerun_replaces_old_pages(tmp_path):
    counts = generate(tmp_path, entities=40, seed=5, page_size=7)
    assert counts["shop_customer_pages"] == -(-counts["shop"] // 7)
    counts = generate(tmp_path, entities=40, seed=5, page_size=20)
    folder = tmp_path / "shop" / "customers"
    assert [n for n, _ in _follow_pages(folder)] == sorted(p.name for p in folder.glob("page-*.json"))
    assert len(list(folder.glob("page-*.json"))) == counts["shop_customer_pages"] == -(-counts["shop"] // 20)


def test_xlsx_header_dates_and_numeric_phones(demo):
    out, counts = demo
    wb = openpyxl.load_workbook(out / "sheets" / "trade_show_leads.xlsx")
    assert wb.sheetnames == ["Leads"]
    rows = list(wb["Leads"].iter_rows(values_only=True))
    assert list(rows[0]) == LEADS_HEADER
    assert len(rows) - 1 == counts["trade_show_leads"] > 0
    dates = [r[7] for r in rows[1:]]
    assert any(isinstance(d, dt.datetime) for d in dates)          # real date cells
    assert any(isinstance(d, str) and re.fullmatch(r"\d\d\.\d\d\.\d{4}", d) for d in dates)
    assert any(isinstance(d, str) and re.fullmatch(r"\d\d/\d\d/\d{4}", d) for d in dates)
    assert any(isinstance(r[3], int) for r in rows[1:])               # phone that became a number


def test_sales_csv_bom_semicolons_crlf(demo):
    out, counts = demo
    raw = (out / "sheets" / "sales_contacts.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.count(b"\n") == raw.count(b"\r\n") == counts["sales_contacts"] + 1
    assert raw[3:].split(b"\r\n")[0].decode() == ";".join(SALES_HEADER)
    rows = _sales(out)
    assert len(rows) == counts["sales_contacts"]
    assert all(list(r) == SALES_HEADER and None not in r.values() for r in rows)
    assert sum(bool(re.fullmatch(r"\d\d/\d\d/\d{4}", r["last_contacted"])) for r in rows) == len(rows)


def test_truth_covers_every_emitted_record_exactly_once(demo):
    out, counts = demo
    truth = _csv(out / "truth" / "records.csv")
    keys = [(r["source"], r["source_record_id"]) for r in truth]
    emitted = _emitted(out)
    assert len(keys) == len(set(keys)) == counts["records"]
    assert set(keys) == {(s, rid) for s, recs in emitted.items() for rid in recs}
    assert {s: len(recs) for s, recs in emitted.items()} == {s: counts[s] for s in SOURCES}
    entities = _csv(out / "truth" / "entities.csv")
    ids = [e["entity_id"] for e in entities]
    assert len(ids) == len(set(ids)) == counts["entities"] == 300
    assert {r["entity_id"] for r in truth} == set(ids)            # nobody without a record
    per_entity = Counter(r["entity_id"] for r in truth)
    assert set(per_entity.values()) == {1, 2, 3}
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"] == counts


def test_same_seed_gives_identical_bytes(demo, tmp_path):
    out, _ = demo
    generate(tmp_path / "again", entities=300, seed=42, page_size=50)
    subprocess.run([sys.executable, "-m", "pipelines.demo", str(tmp_path / "cli"), "--entities", "300",
                    "--seed", "42"], cwd=REPO, check=True, capture_output=True)
    first = _files(out)
    assert {"erp.sqlite", "sheets/trade_show_leads.xlsx", "sheets/sales_contacts.csv",
            "truth/records.csv", "truth/entities.csv", "shop/customers/_index.json"} <= set(first)
    for other in ("again", "cli"):
        second = _files(tmp_path / other)
        assert sorted(second) == sorted(first)
        assert [name for name in first if first[name] != second[name]] == []
    generate(tmp_path / "other_seed", entities=300, seed=43, page_size=50)
    third = _files(tmp_path / "other_seed")
    assert third["erp.sqlite"] != first["erp.sqlite"]
    assert third["truth/entities.csv"] != first["truth/entities.csv"]


def _bad_value(source: str, record: dict, field: str):
    if field == "first_name,last_name":
        return (record["first_name"] or "") + (record["last_name"] or "")
    return record[field]


def _parses(source: str, value) -> bool:
    if isinstance(value, dt.date):
        return True
    formats = {"erp": ["%Y-%m-%d %H:%M:%S"], "sales_contacts": ["%d/%m/%Y"],
               "trade_show_leads": ["%d.%m.%Y", "%m/%d/%Y", "%Y-%m-%d"]}
    if source == "shop":
        try:
            dt.datetime.fromisoformat(value)
            return True
        except ValueError:
            return False
    for fmt in formats[source]:
        try:
            dt.datetime.strptime(value, fmt)
            return True
        except ValueError:
            pass
    return False


DATE_FIELD = {"erp": "created_at", "shop": "created_at", "trade_show_leads": "Date",
              "sales_contacts": "last_contacted"}
NAME_FIELD = {"erp": "contact_name", "shop": "first_name,last_name", "trade_show_leads": "Name",
              "sales_contacts": "full_name"}
EMAIL_FIELD = {"erp": "email", "shop": "email", "trade_show_leads": "E-mail", "sales_contacts": "email"}


def test_bad_rows_are_listed_and_only_those_are_bad(demo):
    out, counts = demo
    emitted = _emitted(out)
    listed = {(r["source"], r["record_id"]): r for r in _csv(out / "truth" / "bad_rows.csv")}
    assert len(listed) == counts["bad_rows"]
    assert {r["kind"] for r in listed.values()} == {"malformed_email", "empty_name", "impossible_date"}
    for source, records in emitted.items():
        for rid, rec in records.items():
            kind = listed.get((source, rid), {}).get("kind")
            if kind:
                assert listed[(source, rid)]["detail"] in (EMAIL_FIELD[source], NAME_FIELD[source],
                                                           DATE_FIELD[source])
            email = rec[EMAIL_FIELD[source]]
            assert bool(email) and not EMAIL.match(email) if kind == "malformed_email" else (
                not email or EMAIL.match(email)), (source, rid)
            name = _bad_value(source, rec, NAME_FIELD[source])
            assert (not name) == (kind == "empty_name"), (source, rid)
            assert _parses(source, rec[DATE_FIELD[source]]) == (kind != "impossible_date"), (source, rid)


def _by_entity(out: Path) -> dict[str, list[tuple[str, dict]]]:
    emitted = _emitted(out)
    grouped = defaultdict(list)
    for r in _csv(out / "truth" / "records.csv"):
        grouped[r["entity_id"]].append((r["source"], emitted[r["source"]][r["source_record_id"]]))
    return grouped


def _digits(text) -> str:
    return "".join(c for c in str(text or "") if c.isdigit())


def test_households_and_namesakes_look_alike_but_differ(demo):
    out, _ = demo
    entities = {e["entity_id"]: e for e in _csv(out / "truth" / "entities.csv")}
    pairs = _csv(out / "truth" / "hard_negatives.csv")
    assert {p["kind"] for p in pairs} == {"household", "namesake"}
    records = _by_entity(out)
    shared_landline_seen = 0
    for p in pairs:
        a, b = entities[p["entity_id_a"]], entities[p["entity_id_b"]]
        assert a["email"] != b["email"] and a["phone_e164"] != b["phone_e164"]
        if p["kind"] == "household":
            assert (a["street"], a["postal_code"], a["city"]) == (b["street"], b["postal_code"], b["city"])
            assert a["landline_e164"] == b["landline_e164"] != ""
            assert a["given_name"] != b["given_name"]
            landline = _digits(a["landline_e164"])[-8:]
            shared_landline_seen += all(
                any(landline in _digits(rec.get("phone") or rec.get("Tel")) for _, rec in records[e["entity_id"]])
                for e in (a, b))
        else:
            assert (a["given_name"], a["surname"], a["city"]) == (b["given_name"], b["surname"], b["city"])
            assert a["street"] != b["street"] or a["postal_code"] != b["postal_code"]
    assert shared_landline_seen >= 1


def _updated(source: str, rec: dict) -> dt.datetime | None:
    if source == "erp":
        return dt.datetime.fromisoformat(rec["updated_at"])
    if source == "shop":
        return dt.datetime.fromisoformat(rec["updated_at"]).replace(tzinfo=None)
    return None


def test_movers_have_a_newer_record_at_the_new_address(demo):
    out, _ = demo
    movers = [e for e in _csv(out / "truth" / "entities.csv") if e["prev_street"]]
    assert movers
    records = _by_entity(out)
    checked = 0
    for e in movers:
        assert (e["prev_street"], e["prev_postal_code"]) != (e["street"], e["postal_code"])
        dated = []
        for source, rec in records[e["entity_id"]]:
            postal = rec.get("postal_code") or (rec.get("default_address") or {}).get("zip")
            if _updated(source, rec) and postal in (e["postal_code"], e["prev_postal_code"]):
                dated.append((_updated(source, rec), postal == e["postal_code"]))
        if any(new for _, new in dated) and not all(new for _, new in dated):
            assert max(dated)[1], e["entity_id"]          # the latest update carries the new address
            checked += 1
    assert checked >= 1


def test_locales_chinese_forms_and_noise(demo):
    out, _ = demo
    entities = {e["entity_id"]: e for e in _csv(out / "truth" / "entities.csv")}
    assert {e["country"] for e in entities.values()} == {"US", "GB", "DE", "FR", "CN"}
    cn = [e for e in entities.values() if e["country"] == "CN"]
    assert all(e["phone_e164"].startswith("+861") and len(e["phone_e164"]) == 14 for e in cn)
    records = _by_entity(out)
    names = []
    for eid, recs in records.items():
        for source, rec in recs:
            value = rec.get("contact_name") or rec.get("Name") or rec.get("full_name")
            if source == "shop":
                value = f"{rec['first_name'] or ''} {rec['last_name'] or ''}".strip()
            names.append((entities[eid], value or ""))
    cn_names = [v for e, v in names if e["country"] == "CN"]
    assert any(set(v) & TRADITIONAL for v in cn_names)
    assert any(v == e["surname"] + e["given_name"] for e, v in names if e["country"] == "CN")
    latin = {(e["surname_latin"], e["given_name_latin"]) for e in cn}
    assert any(tuple(v.split(" ")) in latin for v in cn_names)               # "Wang Wei"
    assert any(tuple(v.split(" ")[::-1]) in latin for v in cn_names)         # "Wei Wang"
    nicknames = {("Robert", "Bob"), ("William", "Bill"), ("Katherine", "Kate"), ("Johannes", "Hans"),
                 ("Thomas", "Tom"), ("Michael", "Mike")}
    assert any((e["given_name"], word) in nicknames for e, v in names for word in re.split(r"[ ,]+", v))
    erp = _erp(out)
    assert any("Str." in (r["street"] or "") or "str." in (r["street"] or "") for r in erp)
    assert any((r["street"] or "").endswith((" St.", " St", " Rd", " Ave")) for r in erp)
    phones = [c["phone"] for c in _shop(out) if c["phone"]]
    assert any(re.fullmatch(r"\+\d{10,14}", p) for p in phones)
    assert any(" " in p and not p.startswith("+") for p in [r["phone"] or "" for r in erp])
    companies = {v for r in erp for v in [r["company_name"]] if v}
    suffixes = {s for s in ("GmbH", "Gmbh", "G.m.b.H.", "GMBH", "Inc.", "Inc", "Incorporated", "Ltd", "Limited")
                if any(c.endswith(" " + s) for c in companies | {r["Company"] or "" for r in _leads(out)})}
    assert len(suffixes) >= 3
    gmail = [c["email"] for c in _shop(out) if c["email"] and "+" in c["email"]]
    assert gmail


def test_invalid_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="entities"):
        generate(tmp_path, entities=0)
    with pytest.raises(ValueError, match="page_size"):
        generate(tmp_path, page_size=0)
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        generate(tmp_path / "a_file", entities=5)
    run = subprocess.run([sys.executable, "-m", "pipelines.demo", str(tmp_path / "x"), "--entities", "-3"],
                         check=False, cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 2 and "entities" in run.stderr
