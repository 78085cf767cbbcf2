"""Customer 360 on a hand-made fixture: every figure below was computed by hand.

Rates (EUR per unit): USD 0.92, GBP 1.17, CNY 0.13. as_of 2025-06-30 unless said otherwise.

G1 shop:1001 + erp:C1   O1 2025-06-10 100.00 EUR = 100.00; O2 2024-01-15T23:30-05:00 (UTC
                        2024-01-16) 50 USD = 46.00; I1 2023-07-01 300 EUR; I2 credit -40 EUR.
                        orders 2 / 146.00, invoices 1 / 260.00, total 406.00, AOV 135.33,
                        last 2025-06-10 (20 days), first 2023-07-01 -> active, shop.
G2 shop:1002            O3 2025-05-01 20 GBP = 23.40; 60 days, first purchase 60 days -> new.
G3 erp:C3 + erp:C3b     I3 2023-01-10 1000 USD = 920.00; I4 2023-02-10 10 GBP = 11.70;
                        I5 2024-05-05 12.34 CNY = 1.6042 -> 1.60; total 933.30, AOV 311.10,
                        last 421 days -> dormant, erp.
G4 sales_csv:7          no purchases -> prospect.
G5 shop:1005 + leads    O4 2022-03-01T12:00+08:00 200 CNY = 26.00; 1217 days -> lost.
Order O5 belongs to an unknown shop customer (not linked), dated 2025-06-20.

RFM among the 4 buyers (n = 4, score = floor((avg rank - 1) * 5 / 4) + 1):
recency days G1 20, G2 60, G3 421, G5 1217 -> R 4, 3, 2, 1;
frequency G1 3, G2 1, G3 3, G5 1 -> tied average ranks 3.5 / 1.5 -> F 4, 1, 4, 1;
monetary G1 406.00, G2 23.40, G3 933.30, G5 26.00 -> M 3, 1, 4, 2.
Segments: G1 R4F4 champions, G2 R3F1 potential, G3 R2F4 at risk, G5 R1F1 lost.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from pipelines.customer360 import (
    SEGMENT_RULES,
    Customer360Config,
    Customer360Error,
    _as_date,
    _dates,
    _sources,
    customer_360,
    merge_lists,
)

UTC = dt.UTC
AS_OF = dt.date(2025, 6, 30)


def _golden():
    return pl.DataFrame({
        "golden_id": ["G1", "G2", "G3", "G4", "G5"],
        "full_name": ["Wei Zhang", "Anna Smith", "Hans Müller", "李娜", "Jean Dupont"],
        "email": ["w@example.com", None, "h@example.de", None, "j@example.fr"],
        "first_seen": [dt.datetime(2023, 5, 1, 10, tzinfo=UTC), dt.datetime(2025, 4, 1, tzinfo=UTC),
                       dt.datetime(2022, 12, 1, tzinfo=UTC), dt.datetime(2024, 2, 2, tzinfo=UTC),
                       dt.datetime(2022, 1, 1, tzinfo=UTC)],
        "last_updated": [dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2025, 4, 1, tzinfo=UTC),
                         dt.datetime(2023, 3, 1, tzinfo=UTC), dt.datetime(2024, 3, 3, tzinfo=UTC),
                         dt.datetime(2022, 1, 1, tzinfo=UTC)],
    })


def _crosswalk():
    rows = [("shop", "1001", "G1"), ("erp", "C1", "G1"), ("shop", "1002", "G2"), ("erp", "C3", "G3"),
            ("erp", "C3b", "G3"), ("sales_csv", "7", "G4"), ("shop", "1005", "G5"), ("leads_xlsx", "3", "G5")]
    return pl.DataFrame(rows, schema=["source", "source_record_id", "golden_id"], orient="row").with_columns(
        record_id=pl.concat_str("source", pl.lit(":"), "source_record_id"))


def _orders(**changes):
    df = pl.DataFrame({
        "id": [1, 2, 3, 4, 5],
        "customer__id": [1001, 1001, 1002, 1005, 9999],
        "created_at": ["2025-06-10T10:00:00+02:00", "2024-01-15T23:30:00-05:00", "2025-05-01T08:00:00Z",
                       "2022-03-01T12:00:00+08:00", "2025-06-20T00:00:00+00:00"],
        "total_price": ["100.00", "50.00", "20.00", "200.00", "10.00"],
        "currency": ["EUR", "USD", "GBP", "CNY", "EUR"],
    })
    return df.with_columns(**{k: pl.Series(v) for k, v in changes.items()})


def _invoices(**changes):
    df = pl.DataFrame({
        "invoice_no": ["I1", "I2", "I3", "I4", "I5"],
        "customer_no": ["C1", "C1", "C3", "C3b", "C3"],
        "invoice_date": ["2023-07-01", "2025-04-02", "2023-01-10", "2023-02-10", "2024-05-05"],
        "amount": ["300.00", "-40.00", "1000.00", "10.00", "12.34"],
        "currency": ["EUR", "EUR", "USD", "GBP", "CNY"],
    })
    return df.with_columns(**{k: pl.Series(v) for k, v in changes.items()})


def _run(config=None, orders=None, invoices=None):
    config = config or Customer360Config(as_of=AS_OF)
    return customer_360(_golden(), _crosswalk(), _orders() if orders is None else orders,
                        _invoices() if invoices is None else invoices, config=config)


def _by_id(df):
    return {r["golden_id"]: r for r in df.iter_rows(named=True)}


def test_hand_computed_figures():
    out = _run()
    assert out["golden_id"].to_list() == ["G1", "G2", "G3", "G4", "G5"]
    r = _by_id(out)
    g1 = r["G1"]
    assert (g1["order_count"], g1["order_revenue"], g1["invoice_count"], g1["invoice_revenue"]) == (2, 146.0, 1, 260.0)
    assert (g1["credit_note_count"], g1["purchase_count"], g1["total_revenue"], g1["clv"]) == (1, 3, 406.0, 406.0)
    assert (g1["first_purchase"], g1["last_purchase"]) == (dt.date(2023, 7, 1), dt.date(2025, 6, 10))
    assert (g1["first_seen"], g1["last_seen"]) == (dt.date(2023, 5, 1), dt.date(2025, 6, 10))
    assert (g1["avg_order_value"], g1["days_since_last_purchase"]) == (135.33, 20)
    assert (g1["source_systems"], g1["source_record_count"], g1["preferred_channel"]) == ("erp,shop", 2, "shop")

    g2, g3, g4, g5 = r["G2"], r["G3"], r["G4"], r["G5"]
    assert (g2["order_revenue"], g2["purchase_count"], g2["avg_order_value"], g2["days_since_last_purchase"]) \
        == (23.4, 1, 23.4, 60)
    assert (g3["invoice_count"], g3["invoice_revenue"], g3["total_revenue"], g3["avg_order_value"]) \
        == (3, 933.3, 933.3, 311.1)
    assert (g3["first_purchase"], g3["last_purchase"], g3["days_since_last_purchase"]) \
        == (dt.date(2023, 1, 10), dt.date(2024, 5, 5), 421)
    assert (g3["source_systems"], g3["source_record_count"], g3["preferred_channel"]) == ("erp", 2, "erp")
    assert (g5["order_revenue"], g5["last_purchase"], g5["days_since_last_purchase"]) == (26.0, dt.date(2022, 3, 1), 1217)
    assert g5["source_systems"] == "leads_xlsx,shop"
    assert (g4["purchase_count"], g4["total_revenue"], g4["clv"], g4["avg_order_value"]) == (0, 0.0, 0.0, None)
    assert (g4["first_purchase"], g4["preferred_channel"], g4["recency_score"]) == (None, None, None)
    assert (g4["first_seen"], g4["last_seen"]) == (dt.date(2024, 2, 2), dt.date(2024, 3, 3))
    assert set(out["reporting_currency"]) == {"EUR"} and set(out["as_of"]) == {AS_OF}


def test_rfm_segments_and_lifecycle():
    r = _by_id(_run())
    got = {g: (x["recency_score"], x["frequency_score"], x["monetary_score"], x["rfm_score"],
               x["rfm_segment"], x["lifecycle_status"]) for g, x in r.items()}
    assert got == {
        "G1": (4, 4, 3, "443", "champions", "active"),
        "G2": (3, 1, 1, "311", "potential", "new"),
        "G3": (2, 4, 4, "244", "at risk", "dormant"),
        "G4": (None, None, None, None, "prospect", "prospect"),
        "G5": (1, 1, 2, "112", "lost", "lost"),
    }


def test_result_does_not_depend_on_row_order():
    base = _run()
    shuffled = customer_360(_golden().reverse(), _crosswalk().reverse(), _orders().reverse(),
                            _invoices().reverse(), config=Customer360Config(as_of=AS_OF))
    assert shuffled.equals(base)


def test_default_as_of_is_latest_purchase_and_later_purchases_are_left_out():
    out = _by_id(_run(Customer360Config()))
    assert out["G1"]["as_of"] == dt.date(2025, 6, 20)  # unlinked order O5 is the latest purchase
    assert out["G1"]["days_since_last_purchase"] == 10
    early = _by_id(_run(Customer360Config(as_of="2025-05-31")))
    assert early["G1"]["order_count"] == 1 and early["G1"]["last_purchase"] == dt.date(2024, 1, 16)
    assert early["G1"]["order_revenue"] == 46.0
    assert early["G1"]["credit_note_count"] == 1  # the credit note of 2025-04-02 is before as_of


def test_lifecycle_thresholds_from_config():
    cfg = Customer360Config(as_of=AS_OF, new_days=10, active_days=30, dormant_days=1300)
    r = _by_id(_run(cfg))
    assert [r[g]["lifecycle_status"] for g in ("G1", "G2", "G3", "G5")] == ["active", "dormant", "dormant", "dormant"]


def test_reporting_currency_and_rates():
    cfg = Customer360Config(as_of=AS_OF, reporting_currency="usd",
                            rates={"USD": 1, "EUR": 1.1, "GBP": 1.3, "CNY": 0.14})
    r = _by_id(_run(cfg))
    assert r["G1"]["order_revenue"] == 160.0  # 100 EUR * 1.1 + 50 USD
    assert r["G2"]["order_revenue"] == 26.0
    assert r["G1"]["reporting_currency"] == "USD"


def test_unknown_currency_names_currency_and_id():
    with pytest.raises(Customer360Error) as err:
        _run(orders=_orders(currency=["EUR", "USD", "JPY", "CNY", "EUR"]))
    msg = str(err.value)
    assert "raw_shop.orders row 3 (id 3)" in msg and "currency" in msg and "'JPY'" in msg
    with pytest.raises(Customer360Error, match=r"raw_erp.invoices row 5 \(invoice_no I5\), field currency: missing"):
        _run(invoices=_invoices(currency=["EUR", "EUR", "USD", "GBP", None]))


@pytest.mark.parametrize(("column", "values", "expected"), [
    ("invoice_date", ["2023-07-01", "2023-02-30", "2023-01-10", "2023-02-10", "2024-05-05"],
     r"row 2 \(invoice_no I2\), field invoice_date: not a date"),
    ("amount", ["300.00", "-40.00", "1.000,00", "10.00", "12.34"],
     r"row 3 \(invoice_no I3\), field amount: not a number"),
    ("amount", ["300.00", "-40.00", None, "10.00", None], r"row 3 .*missing amount \(2 rows in all\)"),
    ("invoice_no", ["I1", "I1", "I3", "I4", "I5"], r"row 1 \(invoice_no I1\), field invoice_no: duplicate id"),
])
def test_bad_invoice_values_are_named(column, values, expected):
    with pytest.raises(Customer360Error, match=expected):
        _run(invoices=_invoices(**{column: values}))


def test_bad_order_date_and_missing_columns():
    with pytest.raises(Customer360Error, match=r"raw_shop.orders row 2 \(id 2\), field created_at: not a date"):
        _run(orders=_orders(created_at=["2025-06-10T10:00:00+02:00", "yesterday", "2025-05-01T08:00:00Z",
                                        "2022-03-01T12:00:00+08:00", "2025-06-20T00:00:00+00:00"]))
    with pytest.raises(Customer360Error, match="raw_shop.orders lacks column.*total_price"):
        _run(orders=_orders().drop("total_price"))


def test_negative_amounts_can_be_rejected():
    with pytest.raises(Customer360Error, match=r"row 2 \(invoice_no I2\), field amount: negative amount"):
        _run(Customer360Config(as_of=AS_OF, negative_amounts="error"))


def test_typed_inputs_as_loaded_by_dlt():
    """Timestamps with time zone and decimal amounts, as DuckDB returns dlt-loaded tables."""
    orders = _orders().with_columns(
        pl.col("created_at").str.to_datetime("%Y-%m-%dT%H:%M:%S%#z", time_zone="UTC")
        .dt.convert_time_zone("Asia/Shanghai"),
        pl.col("total_price").cast(pl.Decimal(12, 2)))
    invoices = _invoices().with_columns(pl.col("invoice_date").str.to_date(),
                                        pl.col("amount").cast(pl.Float64))
    assert _run(orders=orders, invoices=invoices).equals(_run())


def test_crosswalk_with_duplicate_keys_is_rejected():
    cw = pl.concat([_crosswalk(), _crosswalk().head(1).with_columns(golden_id=pl.lit("G2"))])
    with pytest.raises(Customer360Error, match="source 'shop', source_record_id '1001'"):
        customer_360(_golden(), cw, _orders(), _invoices(), config=Customer360Config(as_of=AS_OF))


def test_config_validation_and_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("customer_360:\n  reporting_currency: GBP\n  rates: {GBP: 1.0, EUR: 0.85}\n"
                    "  new_days: 30\n  as_of: 2025-01-31\n")
    cfg = Customer360Config.from_yaml(path)
    assert (cfg.reporting_currency, cfg.rates, cfg.new_days, cfg.active_days, cfg.as_of) == \
        ("GBP", {"GBP": 1.0, "EUR": 0.85}, 30, 365, dt.date(2025, 1, 31))
    with pytest.raises(Customer360Error, match="unknown customer_360 settings: lost_days"):
        Customer360Config.from_mapping({"lost_days": 5})
    with pytest.raises(Customer360Error, match="new_days <= active_days <= dormant_days"):
        Customer360Config(new_days=400)
    with pytest.raises(Customer360Error, match="reporting currency EUR must be 1.0"):
        Customer360Config(rates={"EUR": 2.0})


def test_segment_rules_cover_every_score_pair():
    for r in range(1, 6):
        for f in range(1, 6):
            assert any(rl <= r <= rh and fl <= f <= fh for _, rl, rh, fl, fh in SEGMENT_RULES), (r, f)


def test_merge_lists():
    lists = merge_lists(_crosswalk())
    assert sorted(lists) == ["erp", "leads_xlsx", "sales_csv", "shop"]
    assert lists["sales_csv"].height == 0  # G4 has a single record
    assert lists["erp"].to_dicts() == [
        {"source_record_id": "C1", "golden_id": "G1", "golden_record_count": 2,
         "same_source_duplicates": None, "other_source_records": "shop:1001"},
        {"source_record_id": "C3", "golden_id": "G3", "golden_record_count": 2,
         "same_source_duplicates": "C3b", "other_source_records": None},
        {"source_record_id": "C3b", "golden_id": "G3", "golden_record_count": 2,
         "same_source_duplicates": "C3", "other_source_records": None},
    ]
    assert lists["shop"]["source_record_id"].to_list() == ["1001", "1005"]
    assert lists["leads_xlsx"].row(0, named=True)["other_source_records"] == "shop:1005"


def test_no_purchases_at_all():
    empty_orders = _orders().clear()
    empty_invoices = _invoices().clear()
    out = customer_360(_golden(), _crosswalk(), empty_orders, empty_invoices, config=Customer360Config())
    assert set(out["lifecycle_status"]) == {"prospect"} and set(out["rfm_segment"]) == {"prospect"}
    assert set(out["as_of"]) == {dt.date(2025, 4, 1)}  # latest record update when nobody bought
    assert out["total_revenue"].sum() == 0


def test_from_a_duckdb_warehouse(tmp_path):
    from pipelines.customer360 import customer_360_from_warehouse
    from pipelines.warehouse import Warehouse

    wh = Warehouse(tmp_path / "wh.duckdb")
    wh.write_many({"golden.customers": _golden(), "golden.crosswalk": _crosswalk(), "raw_shop.orders": _orders()})
    with wh.connect() as con:  # as dlt would type a timestamp column
        con.execute("alter table raw_shop.orders alter created_at type timestamptz using created_at::timestamptz")
    out = customer_360_from_warehouse(wh, config=Customer360Config(as_of=AS_OF))
    expected = _run(invoices=_invoices().clear())
    assert out.equals(expected)
    assert _by_id(out)["G3"]["lifecycle_status"] == "prospect"  # only ERP invoices, none loaded


def test_duplicate_golden_ids_are_rejected():
    golden = pl.concat([_golden(), _golden().tail(1)])
    with pytest.raises(Customer360Error, match="golden.customers has 2 rows sharing a golden_id, first: 'G5'"):
        customer_360(golden, _crosswalk(), _orders(), _invoices(), config=Customer360Config(as_of=AS_OF))


def test_text_dates_read_once_per_distinct_value_as_the_formats_in_order_read_them():
    texts = ["2025-06-10T10:00:00+02:00", "2025-06-10 23:30:00-05:00", "2025-05-01T08:00:00Z", "2024-02-29T12:00",
             "2024-02-29T23:59:01.5", "2023-07-01", " 2023-07-01 ", None, "yesterday", "2023-07-01",
             "2025-06-10T10:00:00+02:00"]
    frame = pl.DataFrame({"d": texts})
    got = _dates(frame, "d")
    assert got.to_list() == frame.select(_as_date(pl.Utf8, "d")).to_series().to_list()
    d = dt.date
    assert got.to_list() == [d(2025, 6, 10), d(2025, 6, 11), d(2025, 5, 1), d(2024, 2, 29), d(2024, 2, 29),
                             d(2023, 7, 1), d(2023, 7, 1), None, None, d(2023, 7, 1), d(2025, 6, 10)]


def test_source_systems_are_each_customers_sorted_distinct_sources():
    """One bit per source name, or per customer when names are missing or too many: the same list."""
    links = pl.DataFrame({"golden_id": ["G1", "G1", "G1", "G2", "G3", "G3"],
                          "source": ["shop", "erp", "shop", "sheets", "sheets", "erp"],
                          "source_record_id": ["1", "C1", "2", "r1", "r2", "C2"]})
    expected = {"G1": ("erp,shop", 3), "G2": ("sheets", 1), "G3": ("erp,sheets", 2)}

    def table(df):
        return {r["golden_id"]: (r["source_systems"], r["source_record_count"]) for r in df.iter_rows(named=True)}

    assert table(_sources(links)) == expected
    many = pl.concat([links, pl.DataFrame({"golden_id": [f"X{i}" for i in range(20)],
                                           "source": [f"s{i:02d}" for i in range(20)],
                                           "source_record_id": ["x"] * 20})])
    assert table(_sources(many)) == expected | {f"X{i}": (f"s{i:02d}", 1) for i in range(20)}


def test_merge_lists_of_a_customer_with_several_records_in_several_sources():
    crosswalk = pl.DataFrame({"source": ["erp", "erp", "erp", "shop", "shop", "erp"],
                              "source_record_id": ["C2", "C1", "C3", "9", "10", "C7"],
                              "golden_id": ["G1", "G1", "G1", "G1", "G2", "G2"]})
    lists = merge_lists(crosswalk)
    assert lists["erp"].select("source_record_id", "same_source_duplicates", "other_source_records").rows() == [
        ("C1", "C2,C3", "shop:9"), ("C2", "C1,C3", "shop:9"), ("C3", "C1,C2", "shop:9"), ("C7", None, "shop:10")]
    assert lists["shop"].select("source_record_id", "same_source_duplicates", "other_source_records").rows() == [
        ("9", None, "erp:C1,erp:C2,erp:C3"), ("10", None, "erp:C7")]
