"""Suites on the raw source tables, as loaded: keys (blocking), amounts and dates (warnings).

Raw tables hold text as the source sent it, so dates and amounts are parsed into helper columns
first. A key problem in a raw table blocks staging; everything else is a warning here, because
staging quarantines or repairs the rows and its own suite checks the result.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from expectations.definitions import CheckDef, SuiteSpec
from expectations.thresholds import Thresholds

_MISSING = ("", "n/a", "na", "-", "null", "none")
#: An unreadable date is mapped here, before any plausible date, so the range check counts it.
UNREADABLE_DATE = dt.datetime(1800, 1, 1, tzinfo=dt.UTC)


def parsed_timestamp(column: str) -> pl.Expr:
    """A raw text timestamp (ISO with offset, naive ``YYYY-MM-DD[ HH:MM:SS]``) as a UTC datetime.

    Missing markers are null; text that is present but no valid date becomes ``UNREADABLE_DATE``.
    """
    s = pl.col(column).cast(pl.Utf8).str.strip_chars()
    s = pl.when(s.str.to_lowercase().is_in(_MISSING)).then(None).otherwise(s)
    z = s.str.replace(r"Z$", "+00:00")
    ts = pl.coalesce(
        z.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_zone="UTC", time_unit="us"),
        z.str.to_datetime("%Y-%m-%d %H:%M:%S%.f%z", strict=False, time_zone="UTC", time_unit="us"),
        s.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="us").dt.replace_time_zone("UTC"),
        s.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us").dt.replace_time_zone("UTC"),
        s.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
    )
    return pl.when(s.is_not_null() & ts.is_null()).then(pl.lit(UNREADABLE_DATE).dt.cast_time_unit("us")) \
        .otherwise(ts)


def parsed_amount(column: str) -> pl.Expr:
    """A raw text amount as a number (null when missing or unreadable)."""
    return pl.col(column).cast(pl.Utf8).str.strip_chars().cast(pl.Float64, strict=False)


def _keys(table: str, column: str) -> list[CheckDef]:
    return [
        CheckDef(name=f"{column}_is_unique", column=column, expectation="ExpectColumnValuesToBeUnique",
                 kwargs={"column": column}, blocking=True, description=f"no two rows of {table} share a {column}"),
        CheckDef(name=f"{column}_is_present", column=column, expectation="ExpectColumnValuesToNotBeNull",
                 kwargs={"column": column}, blocking=True, description=f"every row of {table} has a {column}"),
    ]


def _date(column: str, t: Thresholds) -> CheckDef:
    earliest = dt.datetime.combine(t.earliest_date, dt.time(), tzinfo=dt.UTC)
    latest = dt.datetime.now(dt.UTC) + dt.timedelta(days=t.future_slack_days)
    kwargs: dict[str, object] = {"column": f"_{column}", "min_value": earliest, "max_value": latest}
    if t.raw_dates_plausible_mostly < 1:
        kwargs["mostly"] = t.raw_dates_plausible_mostly
    return CheckDef(name=f"{column}_is_plausible", column=column, expectation="ExpectColumnValuesToBeBetween",
                    kwargs=kwargs, severity="warn",
                    description=f"{column} is a readable date between {t.earliest_date} and now + "
                    f"{t.future_slack_days} day(s) (unreadable dates count as {UNREADABLE_DATE.date()})")


def _amount(column: str, t: Thresholds) -> CheckDef:
    kwargs: dict[str, object] = {"column": f"_{column}", "min_value": 0}
    if t.amounts_non_negative_mostly < 1:
        kwargs["mostly"] = t.amounts_non_negative_mostly
    return CheckDef(name=f"{column}_is_not_negative", column=column, expectation="ExpectColumnValuesToBeBetween",
                    kwargs=kwargs, severity="warn",
                    description=f"{column} >= 0 (negative rows are quarantined by staging)")


def _spec(name: str, table: str, key: str, t: Thresholds, *, dates: tuple[str, ...] = (),
          amounts: tuple[str, ...] = ()) -> SuiteSpec:
    return SuiteSpec(
        name=name,
        key_columns=(key,),
        derived={**{f"_{d}": parsed_timestamp(d) for d in dates}, **{f"_{a}": parsed_amount(a) for a in amounts}},
        optional_columns=(*dates, *amounts),
        checks=(*_keys(table, key), *(_amount(a, t) for a in amounts), *(_date(d, t) for d in dates)),
    )


def raw_erp_customers(t: Thresholds) -> SuiteSpec:
    """``raw_erp.customers``: customer_no unique and present; created/updated dates plausible."""
    return _spec("raw_erp_customers", "raw_erp.customers", "customer_no", t, dates=("created_at", "updated_at"))


def raw_erp_invoices(t: Thresholds) -> SuiteSpec:
    """``raw_erp.invoices``: invoice_no unique and present; amounts >= 0; invoice dates plausible."""
    return _spec("raw_erp_invoices", "raw_erp.invoices", "invoice_no", t, dates=("invoice_date",),
                 amounts=("amount",))


def raw_shop_customers(t: Thresholds) -> SuiteSpec:
    """``raw_shop.customers``: id unique and present; created/updated dates plausible."""
    return _spec("raw_shop_customers", "raw_shop.customers", "id", t, dates=("created_at", "updated_at"))


def raw_shop_orders(t: Thresholds) -> SuiteSpec:
    """``raw_shop.orders``: id unique and present; total_price >= 0; order dates plausible."""
    return _spec("raw_shop_orders", "raw_shop.orders", "id", t, dates=("created_at",), amounts=("total_price",))


def raw_sheets_contacts(t: Thresholds) -> SuiteSpec:
    """``raw_sheets.contacts``: (source, row_number) unique and present."""
    return SuiteSpec(
        name="raw_sheets_contacts",
        key_columns=("source", "row_number"),
        checks=(
            CheckDef(name="file_rows_are_unique", column="source,row_number",
                     expectation="ExpectCompoundColumnsToBeUnique", kwargs={"column_list": ["source", "row_number"]},
                     blocking=True, description="each (file stem, row_number) appears once"),
            CheckDef(name="source_is_present", column="source", expectation="ExpectColumnValuesToNotBeNull",
                     kwargs={"column": "source"}, blocking=True, description="every row names its file"),
            CheckDef(name="row_number_is_present", column="row_number", expectation="ExpectColumnValuesToNotBeNull",
                     kwargs={"column": "row_number"}, blocking=True, description="every row has its row number"),
        ),
    )


#: suite name -> raw table it checks
RAW_SUITE_TABLES = {
    "raw_erp_customers": "raw_erp.customers",
    "raw_erp_invoices": "raw_erp.invoices",
    "raw_shop_customers": "raw_shop.customers",
    "raw_shop_orders": "raw_shop.orders",
    "raw_sheets_contacts": "raw_sheets.contacts",
}
RAW_SUITES = {
    "raw_erp_customers": raw_erp_customers,
    "raw_erp_invoices": raw_erp_invoices,
    "raw_shop_customers": raw_shop_customers,
    "raw_shop_orders": raw_shop_orders,
    "raw_sheets_contacts": raw_sheets_contacts,
}


def raw_table_suite(name: str, table: str, keys: tuple[str, ...], *, dates: tuple[str, ...] = (),
                    amounts: tuple[str, ...] = ()):
    """A suite factory for one configured raw table: its key unique and present (blocking), amounts
    non-negative and dates plausible (warnings). Register it with ``suites.register_suite``."""

    def factory(t: Thresholds) -> SuiteSpec:
        if len(keys) == 1:
            return _spec(name, table, keys[0], t, dates=dates, amounts=amounts)
        joined = ",".join(keys)
        checks = [CheckDef(name="key_is_unique", column=joined, expectation="ExpectCompoundColumnsToBeUnique",
                           kwargs={"column_list": list(keys)}, blocking=True,
                           description=f"each ({', '.join(keys)}) appears once in {table}")]
        checks += [CheckDef(name=f"{k}_is_present", column=k, expectation="ExpectColumnValuesToNotBeNull",
                            kwargs={"column": k}, blocking=True, description=f"every row of {table} has a {k}")
                   for k in keys]
        return SuiteSpec(
            name=name, key_columns=keys,
            derived={**{f"_{d}": parsed_timestamp(d) for d in dates}, **{f"_{a}": parsed_amount(a) for a in amounts}},
            optional_columns=(*dates, *amounts),
            checks=(*checks, *(_amount(a, t) for a in amounts), *(_date(d, t) for d in dates)),
        )

    return factory
