"""Staging rules on small hand-made source tables."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from dedupe.canonical import STAGED_SCHEMA
from pipelines.staging import StagingError, stage_all, stage_erp, stage_sheets, stage_shop

NOW = datetime(2025, 8, 1, tzinfo=UTC)
ERP_COLUMNS = ["customer_no", "company_name", "contact_name", "street", "postal_code", "city", "country",
               "phone", "email", "vat_id", "created_at", "updated_at"]


def erp(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame([{c: r.get(c) for c in ERP_COLUMNS} for r in rows], schema=dict.fromkeys(ERP_COLUMNS, pl.Utf8))


def base(no: str, **kw) -> dict:
    row = {"customer_no": no, "contact_name": "WÄHNER, JOHANNE", "street": "Hauptstr. 5", "postal_code": "79098",
           "city": "FREIBURG IM BREISGAU", "country": "Germany", "phone": "(0157) 1207 1861",
           "email": "J.Waehner@Web.de ", "vat_id": "de 919 293 380", "company_name": "Täsche Automation Gmbh",
           "created_at": "2015-01-07 01:07:37", "updated_at": "2016-02-01 10:00:00"}
    return {**row, **kw}


def issues_of(result, record_id: str) -> set[tuple[str, str, str]]:
    fi = result.field_issues.filter(pl.col("source_record_id") == record_id)
    return set(fi.select("field", "rule", "action").iter_rows())


def test_erp_row_is_normalised():
    r = stage_erp(erp(base("C1")), now=NOW)
    assert r.customers.schema == pl.Schema(STAGED_SCHEMA)
    row = r.customers.row(0, named=True)
    assert row["record_id"] == "erp:C1"
    assert (row["given_name"], row["surname"], row["full_name"]) == ("Johanne", "Wähner", "Johanne Wähner")
    assert row["phone"] == "+4915712071861"
    assert row["email"] == "j.waehner@web.de"
    assert row["street"] == "Hauptstraße 5"
    assert row["city"] == "Freiburg Im Breisgau"
    assert row["country"] == "DE"
    assert row["vat_id"] == "DE919293380"
    assert row["company_name"] == "Täsche Automation GmbH"
    assert row["created_at"] == datetime(2015, 1, 7, 1, 7, 37, tzinfo=UTC)  # naive ERP time read as UTC
    assert row["raw_name"] == "WÄHNER, JOHANNE"
    assert row["raw_phone"] == "(0157) 1207 1861"
    assert r.quarantine.is_empty() and r.field_issues.is_empty()


def test_duplicate_key_keeps_most_recent_and_quarantines_the_rest():
    r = stage_erp(erp(
        base("C1", updated_at="2015-01-01 00:00:00", phone=None),
        base("C1", updated_at="2019-05-05 05:05:05"),
        base("C1", updated_at="2017-01-01 00:00:00"),
        base("C2"),
    ), now=NOW)
    kept = r.customers.filter(pl.col("source_record_id") == "C1")
    assert kept.height == 1
    assert kept["updated_at"].item() == datetime(2019, 5, 5, 5, 5, 5, tzinfo=UTC)
    assert r.quarantine["rule"].to_list() == ["duplicate_primary_key"] * 2
    assert r.customers.height + r.quarantine.height == 4


def test_row_without_name_email_or_phone_is_quarantined():
    r = stage_erp(erp(base("C1", contact_name="", email="n/a", phone="-"), base("C2")), now=NOW)
    assert r.customers["source_record_id"].to_list() == ["C2"]
    assert r.quarantine.select("source_record_id", "rule", "field").rows() == [("C1", "no_identity", "name")]


def test_malformed_email_is_nulled_and_row_kept():
    for bad in ("a@@b.com", "a@b", "a b.com"):
        r = stage_erp(erp(base("C1", email=bad)), now=NOW)
        assert r.customers["email"].to_list() == [None]
        fi = r.field_issues.row(0, named=True)
        assert (fi["field"], fi["rule"], fi["raw_value"], fi["action"]) == ("email", "malformed_email", bad, "nulled")


def test_malformed_email_alone_is_no_identity():
    r = stage_erp(erp(base("C1", contact_name=None, phone=None, email="a@@b.com")), now=NOW)
    assert r.customers.is_empty()
    assert r.quarantine["rule"].to_list() == ["no_identity"]


@pytest.mark.parametrize("bad", ["2023-02-30 00:00:00", "2021-02-29 00:00:00", "1899-12-30 00:00:00",
                                 "2099-01-01 00:00:00", "2024-13-01 00:00:00"])
def test_impossible_dates_are_nulled(bad):
    r = stage_erp(erp(base("C1", created_at=bad)), now=NOW)
    assert r.customers["created_at"].to_list() == [None]
    assert r.customers["updated_at"].to_list() == [datetime(2016, 2, 1, 10, tzinfo=UTC)]
    assert issues_of(r, "C1") == {("created_at", "impossible_date", "nulled")}


def test_unreadable_date_text_is_flagged_separately():
    r = stage_erp(erp(base("C1", updated_at="last tuesday")), now=NOW)
    assert r.customers["updated_at"].to_list() == [None]
    assert issues_of(r, "C1") == {("updated_at", "invalid_date", "nulled")}


def test_excel_error_values_are_nulled_with_an_issue():
    r = stage_erp(erp(base("C1", city="#REF!", phone="#N/A")), now=NOW)
    row = r.customers.row(0, named=True)
    assert row["city"] is None and row["phone"] is None
    assert issues_of(r, "C1") == {("city", "excel_error", "nulled"), ("phone", "excel_error", "nulled")}


def test_unparseable_phone_is_flagged():
    r = stage_erp(erp(base("C1", phone="12345")), now=NOW)
    assert r.customers["phone"].to_list() == [None]
    assert issues_of(r, "C1") == {("phone", "invalid_phone", "nulled")}


def test_missing_and_empty_keys():
    with pytest.raises(StagingError, match=r"erp\.customers.*customer_no"):
        stage_erp(erp(base("C1")).drop("customer_no"), now=NOW)
    r = stage_erp(erp(base(" "), base("C2")), now=NOW)
    assert r.quarantine["rule"].to_list() == ["missing_primary_key"]
    assert r.customers["source_record_id"].to_list() == ["C2"]


def shop_rows() -> pl.DataFrame:
    return pl.DataFrame({
        "id": [6500000012807, 6500000049720, 6500000074612, 6500000099999],
        "email": ["annette.chambers82@hotmail.co.uk", "yongtaopeng5444+crm@foxmail.com", None, "x@y.com"],
        "first_name": ["Annette", "李", "Wei", None],
        "last_name": ["Chambers Jr.", "鸿春", "Zhang", "王伟"],
        "phone": ["+447980831421", "+8615113603855", None, None],
        "created_at": ["2015-01-27T13:34:29+00:00", "2015-04-22T21:47:34+08:00", "2023-02-30T10:00:00-05:00",
                       "2016-01-01T00:00:00Z"],
        "updated_at": ["2015-12-03T10:38:20+00:00", "2016-10-16T19:08:38+08:00", "2016-01-08T23:11:39-05:00",
                       "2016-01-01T00:00:00Z"],
        "default_address__address1": ["129 Green St", "No. 822 Yingbin Ave, Xihu Dist.", "8829 AGUIRRE AVE", None],
        "default_address__city": ["Leeds", "Hangzhou", "portland", None],
        "default_address__zip": ["ls15 6jz", "310535", "4157", None],
        "default_address__country_code": ["GB", "CN", "US", None],
    })  # no address2 / province / company columns: dlt leaves all-null columns out


def test_shop_customers():
    r = stage_shop(shop_rows(), now=NOW)
    c = r.customers.sort("source_record_id")
    assert c["source_record_id"].to_list() == ["6500000012807", "6500000049720", "6500000074612", "6500000099999"]
    assert c["given_name"].to_list() == ["Annette", "鸿春", "Wei", "伟"]
    assert c["surname"].to_list() == ["Chambers", "李", "Zhang", "王"]
    assert c["name_suffix"].to_list() == ["Jr.", None, None, None]
    assert c["full_name"].to_list() == ["Annette Chambers", "李鸿春", "Wei Zhang", "王伟"]
    assert c["street"].to_list() == ["129 Green Street", "No. 822 Yingbin Avenue, Xihu District",
                                     "8829 Aguirre Avenue", None]
    assert c["postal_code"].to_list() == ["LS15 6JZ", "310535", "04157", None]
    assert c["company_name"].to_list() == [None] * 4
    assert c["created_at"][1] == datetime(2015, 4, 22, 13, 47, 34, tzinfo=UTC)
    assert c["created_at"][2] is None
    assert issues_of(r, "6500000074612") == {("created_at", "impossible_date", "nulled")}


def test_shop_typed_timestamps_in_any_zone():
    df = shop_rows().with_columns(
        pl.col("updated_at").str.replace("Z$", "+00:00").str.to_datetime("%Y-%m-%dT%H:%M:%S%z")
        .dt.convert_time_zone("Asia/Shanghai"))
    r = stage_shop(df, now=NOW)
    assert r.customers.sort("source_record_id")["updated_at"][0] == datetime(2015, 12, 3, 10, 38, 20, tzinfo=UTC)


def sheet_rows() -> pl.DataFrame:
    return pl.DataFrame({
        "source": ["sales"] * 4 + ["leads"] * 4,
        "row_number": [1, 2, 3, 4, 1, 2, 3, 4],
        "file_name": ["sales.csv"] * 4 + ["leads.xlsx"] * 4,
        "sheet_name": [None] * 4 + ["Leads"] * 4,
        "full_name": ["Jon P. Hogan", "SCHMIDT Anna", "刘波宏", "Mme MALLET Nathalie",
                      "Dr. Hans Müller", None, "Lévêque, Alix", "Zhang Wei"],
        "email": ["jhogan87@yahoo.com", "a@@b.com", None, "info@courtois-services.fr",
                  "h.mueller@web.de", "x@y.de", None, None],
        "phone": ["001 614 286 1226", "0175 3321 9185", "＋８６１５１５６７４２０８５", "04 63 65 09 66",
                  "33646264313", "#REF!", "07 67 84 61 79", "138-4391-9787"],
        "city": ["Columbus", "München", "深圳市", "Toulon", None, "Berlin", "Saint-Étienne", None],
        "country": [None, None, None, None, "France", None, None, "中国"],
        "last_activity": ["27/06/2015", "06/04/2015", "30/02/2023", "2019-05-01",
                          "06/27/2015", "06/04/2015", "24.10.2016", "20151023"],
        "Lead score": ["5", "7", "1", "2", "9", "3", "4", "8"],  # unknown extra column: ignored
    })


def test_sheets_contacts():
    r = stage_sheets(sheet_rows(), now=NOW)
    c = r.customers.sort("source", "source_record_id")
    assert c["record_id"].to_list() == [f"leads:{i}" for i in (1, 2, 3, 4)] + [f"sales:{i}" for i in (1, 2, 3, 4)]
    leads, sales = c.head(4), c.tail(4)
    assert sales["given_name"].to_list() == ["Jon", "Anna", "波宏", "Nathalie"]
    assert sales["surname"].to_list() == ["Hogan", "Schmidt", "刘", "Mallet"]
    assert sales["name_title"].to_list() == [None, None, None, "Mme"]
    # country from the city when the sheet has none; the phone is read with it
    assert sales["country"].to_list() == ["US", "DE", "CN", "FR"]
    assert sales["phone"].to_list() == ["+16142861226", "+4917533219185", "+8615156742085", "+33463650966"]
    assert leads["phone"].to_list() == ["+33646264313", None, "+33767846179", "+8613843919787"]
    assert leads["country"].to_list() == ["FR", "DE", "FR", "CN"]
    # slashed dates: day-first in "sales" (27/06), month-first in "leads" (06/27), per source
    day = [d.date() if d else None for d in sales["updated_at"]]
    assert day == [date(2015, 6, 27), date(2015, 4, 6), None, date(2019, 5, 1)]
    day = [d.date() if d else None for d in leads["created_at"]]
    assert day == [date(2015, 6, 27), date(2015, 6, 4), date(2016, 10, 24), date(2015, 10, 23)]
    assert issues_of(r, "2") >= {("email", "malformed_email", "nulled"), ("phone", "excel_error", "nulled")}
    fi = r.field_issues.filter((pl.col("source") == "sales") & (pl.col("source_record_id") == "3"))
    assert set(fi["rule"]) == {"impossible_date"}
    leads2 = r.field_issues.filter((pl.col("source") == "leads") & (pl.col("source_record_id") == "2"))
    assert set(leads2["rule"]) == {"missing_name", "excel_error"}


def test_sheets_configured_date_order_wins():
    r = stage_sheets(sheet_rows(), date_formats={"leads": "%d/%m/%Y"}, now=NOW)
    leads = r.customers.filter(pl.col("source") == "leads").sort("source_record_id")
    assert leads["created_at"][0] is None  # 06/27/2015 is no day-first date
    assert leads["created_at"][1].date() == date(2015, 4, 6)


def test_sheets_typed_columns():
    df = sheet_rows().with_columns(
        pl.Series("phone", [16142861226, 4917533219185, None, 33463650966, 33646264313, None, None, None],
                  dtype=pl.Float64),
        pl.Series("last_activity", [date(2015, 6, 27)] * 8),
        given_name=pl.lit("Ann"), surname=pl.lit("LEE"),
    )
    r = stage_sheets(df, now=NOW)
    c = r.customers.sort("source", "source_record_id")
    assert c.filter(pl.col("source") == "sales")["phone"].to_list() == [
        "+16142861226", "+4917533219185", None, "+33463650966"]
    assert set(c["given_name"]) == {"Ann"} and set(c["surname"]) == {"Lee"}
    assert set(c["created_at"]) == {datetime(2015, 6, 27, tzinfo=UTC)}


def test_stage_all_concatenates_and_reconciles():
    frames = {"erp": erp(base("C1"), base("C1", updated_at="2014-01-01 00:00:00")), "shop": shop_rows(),
              "sheets": sheet_rows()}
    r = stage_all(frames, now=NOW)
    assert r.customers["record_id"].n_unique() == r.customers.height
    assert r.customers.height + r.quarantine.height == sum(f.height for f in frames.values())
    assert set(r.customers["source"]) == {"erp", "shop", "sales", "leads"}
    with pytest.raises(StagingError, match="unknown source"):
        stage_all({"crm": shop_rows()})


def test_errors_name_table_not_values():
    with pytest.raises(StagingError) as err:
        stage_sheets(sheet_rows().drop("row_number"))
    assert "sheets.contacts" in str(err.value) and "row_number" in str(err.value)
    assert "Hogan" not in str(err.value)


def test_encoding_damage_is_flagged_and_kept():
    r = stage_erp(erp(base("C1", contact_name="BOYER, ANDR?E"), base("C2", city="H\ufffdxter")), now=NOW)
    assert r.customers.height == 2
    assert issues_of(r, "C1") == {("name", "encoding_damage", "flagged")}
    assert issues_of(r, "C2") == {("city", "encoding_damage", "flagged")}


def test_national_phone_without_any_country_is_unresolved():
    df = sheet_rows().filter((pl.col("source") == "sales") & (pl.col("row_number") == 2)).with_columns(
        city=pl.lit(None, dtype=pl.Utf8), email=pl.lit("anna@gmail.com"))
    r = stage_sheets(df, now=NOW)
    assert r.customers["phone"].to_list() == [None]
    assert issues_of(r, "2") == {("phone", "unresolved_phone", "nulled")}


def test_empty_sources_stage_to_empty_tables():
    frames = {"erp": erp(), "shop": pl.DataFrame(schema={"id": pl.Int64}),
              "sheets": pl.DataFrame(schema={"source": pl.Utf8, "row_number": pl.Int64})}
    r = stage_all(frames, now=NOW)
    assert r.counts() == {"customers": 0, "quarantine": 0, "field_issues": 0}
    assert r.customers.schema == pl.Schema(STAGED_SCHEMA)
