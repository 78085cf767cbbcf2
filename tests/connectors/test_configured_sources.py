"""Sources configured in a YAML file, end to end: a layout unlike the demo's, switched-off and extra
sources, and misconfigurations that name the source, the key and the column."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import polars as pl
import pytest
import yaml

from connectors.config import ConfigError, load_config, parse_config
from connectors.sheets.readers import file_frame
from dedupe.evaluation import evaluate
from pipelines.runner import run_pipeline
from pipelines.warehouse import Warehouse

pytestmark = pytest.mark.slow

#: the sources file of the converted layout, as a user would write it from the README
GERMAN_LAYOUT = """
version: 1
sources:
  - name: erp
    kind: sql
    url: sqlite:///kunden.sqlite
    table: kunden
    id: kundennr
    cursor: geaendert_am
    fields:
      company_name: firma
      surname: nachname
      given_name: vorname
      street: strasse
      postal_code: plz
      city: ort
      country: land
      phone: telefon
      email: email
      vat_id: ust_id
      created_at: angelegt_am
      updated_at: geaendert_am
    purchases:
      table: rechnungen
      kind: invoice
      id: rechnungsnr
      customer: kundennr
      date: datum
      amount: betrag
      currency: waehrung
  - name: shop
    kind: files
    path: woo/customers.json
    id: id
    header_aliases: false
    fields:
      given_name: first_name
      surname: last_name
      email: email
      phone: billing.phone
      street: billing.address_1
      postal_code: billing.postcode
      city: billing.city
      country: billing.country
      company_name: billing.company
      created_at: date_created
      updated_at: date_modified
    purchases:
      path: woo/orders.json
      kind: order
      id: id
      customer: customer_id
      date: date_created
      amount: total
      currency: currency
  - name: trade_show_leads
    kind: files
    path: pos/leads.parquet
    id: row
    header_aliases: false
    fields:
      full_name: name
      company_name: company
      email: e_mail
      phone: tel
      city: city
      country: country
      created_at: date
  - name: sales_contacts
    kind: files
    path: vertrieb/kontakte.csv
    fields:
      full_name: Name
      company_name: Firma
      email: E-Mail
      phone: Telefon
      city: Ort
      created_at: Letzter Kontakt
    date_format: "%d/%m/%Y"
"""


def _split_contact(name: str | None) -> tuple[str | None, str | None]:
    """ERP ``Surname, Given`` -> (surname, given); a name without a comma stays whole in the surname."""
    if name is None:
        return None, None
    if "," in name:
        surname, given = name.split(",", 1)
        return surname.strip() or None, given.strip() or None
    return name, None


def convert(demo: Path, out: Path) -> None:
    """The demo sources in another layout: German ERP tables, a WooCommerce export, Parquet leads and
    a UTF-8 CSV with German headers (same records, same ids)."""
    out.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(demo / "erp.sqlite")
    dst = sqlite3.connect(out / "kunden.sqlite")
    dst.execute("create table kunden (kundennr text primary key, firma text, nachname text, vorname text, "
                "strasse text, plz text, ort text, land text, telefon text, email text, ust_id text, "
                "angelegt_am text, geaendert_am text)")
    rows = src.execute("select customer_no, company_name, contact_name, street, postal_code, city, country, "
                       "phone, email, vat_id, created_at, updated_at from customers").fetchall()
    dst.executemany("insert into kunden values (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [(r[0], r[1], *_split_contact(r[2]), *r[3:]) for r in rows])
    dst.execute("create table rechnungen (rechnungsnr text primary key, kundennr text, datum text, betrag numeric, "
                "waehrung text)")
    dst.executemany("insert into rechnungen values (?,?,?,?,?)", src.execute(
        "select invoice_no, customer_no, invoice_date, amount, currency from invoices").fetchall())
    dst.commit()
    customers = [json.loads(line) for line in (demo / "shop" / "customers.jsonl").read_text().splitlines() if line]
    woo = [{"id": c["id"], "email": c.get("email"), "first_name": c.get("first_name"),
            "last_name": c.get("last_name"), "date_created": c.get("created_at"),
            "date_modified": c.get("updated_at"),
            "billing": {"phone": c.get("phone"), "address_1": (c.get("default_address") or {}).get("address1"),
                        "postcode": (c.get("default_address") or {}).get("zip"),
                        "city": (c.get("default_address") or {}).get("city"),
                        "country": (c.get("default_address") or {}).get("country_code"),
                        "company": (c.get("default_address") or {}).get("company")}} for c in customers]
    (out / "woo").mkdir()
    (out / "woo" / "customers.json").write_text(json.dumps(woo, ensure_ascii=False))
    orders = [json.loads(line) for line in (demo / "shop" / "orders.jsonl").read_text().splitlines() if line]
    (out / "woo" / "orders.json").write_text(json.dumps(
        [{"id": o["id"], "customer_id": o["customer"]["id"], "date_created": o["created_at"],
          "total": o["total_price"], "currency": o["currency"], "line_items": o.get("line_items")} for o in orders]))
    leads = file_frame((demo / "sheets" / "trade_show_leads.xlsx").read_bytes(), "trade_show_leads.xlsx",
                       aliases=False)
    (out / "pos").mkdir()
    leads.select(pl.col("row_number").cast(pl.Utf8).alias("row"), "name", "company", "e_mail", "tel", "city",
                 "country", "date").write_parquet(out / "pos" / "leads.parquet")
    sales = pl.read_csv(demo / "sheets" / "sales_contacts.csv", separator=";", infer_schema=False)
    (out / "vertrieb").mkdir()
    sales.rename({"full_name": "Name", "company": "Firma", "email": "E-Mail", "phone": "Telefon", "city": "Ort",
                  "last_contacted": "Letzter Kontakt"}).write_csv(out / "vertrieb" / "kontakte.csv")
    (out / "sources.yaml").write_text(GERMAN_LAYOUT)


def pairwise_f1(wh: Warehouse, truth: Path) -> float:
    crosswalk = wh.read("golden.crosswalk").select("source", "source_record_id", "golden_id")
    return evaluate(crosswalk, pl.read_csv(truth / "records.csv", infer_schema=False))["pairwise"]["f1"]


@pytest.fixture(scope="module")
def layouts(tmp_path_factory, shared_demo_run):
    """The demo sources (with their run: a copy of the session's, ``demo.duckdb``) and the German layout."""
    tmp = tmp_path_factory.mktemp("layouts")
    os.environ["DAGSTER_HOME"] = str(tmp / "dagster_home")
    base = shared_demo_run(150, 42)
    demo = base.copy(tmp, "demo", sources="demo").sources
    convert(demo, tmp / "german")
    return tmp, demo, tmp / "german", base.summary


def test_a_layout_unlike_the_demo_matches_as_well_with_only_a_sources_file(layouts):
    tmp, demo, german, base = layouts
    other = run_pipeline(config=german / "sources.yaml", warehouse=tmp / "german.duckdb")
    assert base.success and base.published, base.render()
    assert other.success and other.published, other.render()
    wh = Warehouse(tmp / "german.duckdb")
    staged = dict(wh.query("select source, count(*) as n from staging.customers group by source").iter_rows())
    assert set(staged) == {"erp", "shop", "trade_show_leads", "sales_contacts"}
    assert wh.exists("raw_erp.kunden") and wh.exists("raw_erp.rechnungen")
    f1_demo = pairwise_f1(Warehouse(tmp / "demo.duckdb"), demo / "truth")
    f1_other = pairwise_f1(wh, demo / "truth")
    assert f1_demo > 0.9
    assert abs(f1_other - f1_demo) <= 0.01, (f1_demo, f1_other)
    c360 = wh.read("golden.customer_360")
    base360 = Warehouse(tmp / "demo.duckdb").read("golden.customer_360")
    # German invoices and the exported orders reached customer_360 through the mappings, all of them
    assert c360["invoice_count"].sum() == base360["invoice_count"].sum() > 0
    assert c360["order_count"].sum() == base360["order_count"].sum() > 0


def test_switching_a_source_off_and_adding_a_fifth(layouts):
    tmp, _demo, german, _ = layouts
    data = yaml.safe_load(GERMAN_LAYOUT)
    data["sources"][1]["enabled"] = False  # the shop export is off
    extra = tmp / "extra"
    extra.mkdir(exist_ok=True)
    pl.DataFrame({"kid": ["k1", "k2"], "name": ["Anna Schmidt", "Li Wei"], "mail": ["anna@example.de", None],
                  "tel": [None, "+86 138 0013 8000"]}).write_csv(extra / "messe.csv")
    data["sources"].append({"name": "messe", "kind": "files", "path": str(extra / "messe.csv"), "id": "kid",
                            "header_aliases": False,
                            "fields": {"full_name": "name", "email": "mail", "phone": "tel",
                                       "country": {"value": "DE"}}})
    (german / "five.yaml").write_text(yaml.safe_dump(data))
    summary = run_pipeline(config=german / "five.yaml", warehouse=tmp / "five.duckdb")
    assert summary.success and summary.published, summary.render()
    wh = Warehouse(tmp / "five.duckdb")
    sources = set(wh.query("select distinct source from golden.crosswalk")["source"].to_list())
    assert "shop" not in sources and "messe" in sources
    assert not wh.exists("raw_shop.customers")
    assert "shop" not in summary.render()  # a switched-off source is neither loaded nor reported missing
    messe = wh.query("select source_record_id, country from staging.customers where source = 'messe' "
                     "order by source_record_id")
    assert messe.rows() == [("k1", "DE"), ("k2", "DE")]


def test_a_misconfigured_source_loads_nothing_and_fails_its_check_while_the_others_run(layouts):
    tmp, _demo, german, _ = layouts
    data = yaml.safe_load(GERMAN_LAYOUT)
    data["sources"][0]["fields"]["email"] = "e_mail_adresse"  # the ERP has no such column
    (german / "broken.yaml").write_text(yaml.safe_dump(data))
    summary = run_pipeline(config=german / "broken.yaml", warehouse=tmp / "broken.duckdb")
    assert not summary.published
    failed = {name for name, passed, _ in summary.checks if not passed}
    assert any(name.endswith("erp_columns_are_mapped") for name in failed), failed
    wh = Warehouse(tmp / "broken.duckdb")
    # the database was asked for its columns before anything was read: the ERP loaded nothing
    error = wh.query("select error from quality.load_failures where source = 'erp'")["error"][0]
    assert "source 'erp'" in error and "'e_mail_adresse' (fields.email)" in error and "kunden" in error
    assert not wh.exists("raw_erp.kunden")
    staged = set(wh.query("select distinct source from staging.customers")["source"].to_list())
    assert "erp" not in staged and {"shop", "sales_contacts"} <= staged


def test_an_unreachable_database_is_one_line_naming_the_source(layouts, tmp_path):
    tmp, _demo, german, _ = layouts
    data = yaml.safe_load(GERMAN_LAYOUT)
    data["sources"][0]["url"] = "sqlite:///does_not_exist.sqlite"
    shutil.copy(german / "sources.yaml", tmp_path / "unused.yaml")
    (german / "nodb.yaml").write_text(yaml.safe_dump(data))
    summary = run_pipeline(config=german / "nodb.yaml", warehouse=tmp / "nodb.duckdb")
    assert summary.failed_sources == ["erp"]
    wh = Warehouse(tmp / "nodb.duckdb")
    error = wh.query("select error from quality.load_failures")["error"][0]
    assert "erp" in error and "does_not_exist.sqlite" in error
    assert "no raw tables of earlier runs" in summary.render()


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s[0]["fields"].update(geburtstag="gebdat"), "key 'fields.geburtstag'"),
    (lambda s: s[0].pop("id"), "source 'erp': key 'id': missing"),
    (lambda s: s[0].update(kind="ftp"), "key 'kind': 'ftp' is not one of"),
    (lambda s: s[0].update(url="postgresql://crm:hunter22@db/erp"), "key 'url': holds a password"),
    (lambda s: s[0].update(password="x"), "secrets do not go in the sources file"),
    (lambda s: s[1].update(colour="blue"), "source 'shop': unknown key(s) 'colour'"),
    (lambda s: s.append(dict(s[0])), "source 'erp': the name is used twice"),
])
def test_configuration_errors_name_the_source_and_the_key(change, message):
    data = yaml.safe_load(GERMAN_LAYOUT)
    change(data["sources"])
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert message in str(err.value)
    assert "hunter22" not in str(err.value)


def test_the_demo_layout_file_and_presets_load(tmp_path):
    from connectors.config import DEMO_LAYOUT

    config = load_config(DEMO_LAYOUT, base_dir=tmp_path)
    assert config.names() == ["erp", "shop", "sheets"]
    shop = config.get("shop")
    assert shop.fields["city"].columns == ("default_address.city",) and shop.purchases.kind == "order"
    woo = parse_config({"sources": [{"name": "woo", "kind": "rest", "preset": "woocommerce",
                                     "base_url": "https://shop.example"}]}).get("woo")
    assert woo.fields["city"].columns == ("billing.city",) and woo.cursor == "date_modified_gmt"
