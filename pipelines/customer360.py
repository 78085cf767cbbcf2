"""Customer 360: one row per golden customer with purchase history, RFM, lifecycle and CLV.

Shop orders and ERP invoices are linked to golden customers through the crosswalk
(``source='shop'``: ``source_record_id = str(customer__id)``; ``source='erp'``:
``source_record_id = customer_no``). Every rule below is also described column by column in
``pipelines.schema_docs`` (and so in ``docs/golden_schema.md``).

Money. Each order/invoice amount is converted to ``reporting_currency`` with the configured
rate (units of reporting currency per unit of the document currency) and rounded to cents;
totals are sums of those converted amounts. A negative amount (an ERP credit note, a refunded
order) is a credit (``negative_amounts="credit"``): it lowers the channel revenue but is not a
purchase; with ``negative_amounts="error"`` it is rejected instead.

Dates. A purchase date is the UTC calendar date of the order's ``created_at`` or the invoice's
``invoice_date``. ``as_of`` defaults to the latest purchase date in the input, so a rerun on the
same data gives the same figures; purchases after ``as_of`` are left out.

RFM. Among customers with at least one purchase: recency = days from the last purchase to
``as_of`` (fewer is better), frequency = number of purchases, monetary = net revenue. Each is
scored 1-5 by quintile of its average rank: ``score = floor((rank - 1) * 5 / n) + 1`` with ties
sharing their average rank, so equal values always get the same score and row order never
matters. The segment comes from ``SEGMENT_RULES`` (first matching row wins).

Lifecycle (days counted to ``as_of``): ``new`` if the first purchase is at most ``new_days`` old;
else ``active`` if the last purchase is at most ``active_days`` old; else ``dormant`` if at most
``dormant_days`` old; else ``lost``. Customers without a purchase are ``prospect`` (also their
segment).

CLV is the simple historical value: total net revenue (orders + invoices - credit notes) in the
reporting currency, to date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import yaml

if TYPE_CHECKING:  # the warehouse uses this module (through the schema docs): no import at run time
    from pipelines.warehouse import Warehouse

ORDERS_TABLE = "raw_shop.orders"
INVOICES_TABLE = "raw_erp.invoices"
ORDER_COLUMNS = ["id", "customer__id", "created_at", "total_price", "currency"]
INVOICE_COLUMNS = ["invoice_no", "customer_no", "invoice_date", "amount", "currency"]

#: (segment, R min, R max, F min, F max): the first row matching the R and F scores wins.
SEGMENT_RULES: tuple[tuple[str, int, int, int, int], ...] = (
    ("champions", 4, 5, 4, 5),
    ("loyal", 3, 5, 3, 5),
    ("potential", 3, 5, 1, 2),
    ("at risk", 1, 2, 3, 5),
    ("hibernating", 2, 2, 1, 2),
    ("lost", 1, 1, 1, 2),
)
PROSPECT = "prospect"
LIFECYCLE_STATUSES = ("new", "active", "dormant", "lost", PROSPECT)

#: Identity fields copied from the golden table when present.
IDENTITY_FIELDS = ("full_name", "given_name", "surname", "email", "phone", "company_name",
                   "city", "country")
#: the golden table's dates first_seen / last_seen start from
SEEN_FIELDS = ("first_seen", "last_updated")


class Customer360Error(ValueError):
    """Bad input or configuration for the customer 360 table."""


def _default_rates() -> dict[str, float]:
    return {"EUR": 1.0, "USD": 0.92, "GBP": 1.17, "CNY": 0.13}


@dataclass(frozen=True)
class Customer360Config:
    """Reporting currency, conversion rates and lifecycle thresholds (days before ``as_of``)."""

    reporting_currency: str = "EUR"
    rates: Mapping[str, float] = field(default_factory=_default_rates)
    new_days: int = 90
    active_days: int = 365
    dormant_days: int = 730
    as_of: dt.date | None = None
    negative_amounts: str = "credit"

    def __post_init__(self):
        cur = str(self.reporting_currency).strip().upper()
        rates = {str(k).strip().upper(): float(v) for k, v in dict(self.rates).items()}
        rates.setdefault(cur, 1.0)
        if rates[cur] != 1.0:
            raise Customer360Error(f"rate of the reporting currency {cur} must be 1.0, got {rates[cur]}")
        bad = sorted(k for k, v in rates.items() if not v > 0)
        if bad:
            raise Customer360Error(f"conversion rates must be positive: {', '.join(bad)}")
        days = (self.new_days, self.active_days, self.dormant_days)
        if not all(isinstance(d, int) and d >= 0 for d in days) or not days[0] <= days[1] <= days[2]:
            raise Customer360Error("lifecycle thresholds must be whole days with "
                                   f"new_days <= active_days <= dormant_days, got {days}")
        if self.negative_amounts not in ("credit", "error"):
            raise Customer360Error("negative_amounts must be 'credit' or 'error', "
                                   f"got {self.negative_amounts!r}")
        as_of = self.as_of
        if isinstance(as_of, str):
            as_of = dt.date.fromisoformat(as_of)
        elif isinstance(as_of, dt.datetime):
            as_of = as_of.date()
        object.__setattr__(self, "reporting_currency", cur)
        object.__setattr__(self, "rates", rates)
        object.__setattr__(self, "as_of", as_of)

    @classmethod
    def from_mapping(cls, data: Mapping | None) -> Customer360Config:
        """From a mapping such as the ``customer_360:`` section of a YAML file."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise Customer360Error(f"unknown customer_360 settings: {', '.join(unknown)} "
                                   f"(known: {', '.join(sorted(known))})")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path, *, section: str | None = "customer_360") -> Customer360Config:
        """From a YAML file; ``section`` names the mapping to read (None: the whole file)."""
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
        if section is not None:
            data = data.get(section) or {}  # a settings file without the section: the defaults
        return cls.from_mapping(data)


def purchase_rows(orders: pl.DataFrame, invoices: pl.DataFrame, *,
                  config: Customer360Config | None = None) -> pl.DataFrame:
    """Orders and invoices checked and converted to the reporting currency, one row each
    (``channel, kind, doc_id, customer_ref, date, amount``): what :func:`customer_360` aggregates.
    A bad row is a :class:`Customer360Error` naming the table, row and field."""
    config = config or Customer360Config()
    return pl.concat([_orders(orders, config), _invoices(invoices, config)])


def customer_360(golden: pl.DataFrame, crosswalk: pl.DataFrame, orders: pl.DataFrame | None = None,
                 invoices: pl.DataFrame | None = None, *, config: Customer360Config | None = None,
                 purchases: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per golden customer: identity, sources, purchases per channel, RFM, lifecycle, CLV.
    The purchases are ``orders`` and ``invoices``, or ``purchases`` (:func:`purchase_rows`) read
    beforehand."""
    config = config or Customer360Config()
    _require(golden, ["golden_id"], "golden.customers")
    _require(crosswalk, ["source", "source_record_id", "golden_id"], "golden.crosswalk")
    _check_unique_keys(crosswalk)
    dup = golden.filter(pl.col("golden_id").is_duplicated())
    if dup.height:
        raise Customer360Error(f"golden.customers has {dup.height} rows sharing a golden_id, "
                               f"first: {dup['golden_id'][0]!r}")
    if purchases is None:
        purchases = purchase_rows(orders, invoices, config=config)
    as_of = config.as_of or _default_as_of(purchases, golden)

    links = crosswalk.select(pl.col("source").cast(pl.Utf8), pl.col("source_record_id").cast(pl.Utf8),
                             pl.col("golden_id").cast(pl.Utf8))
    linked = purchases.filter(pl.col("date") <= as_of).join(
        links, left_on=["channel", "customer_ref"], right_on=["source", "source_record_id"], how="inner")
    per_channel = _per_channel(linked)
    totals = _totals(linked)
    sources = _sources(links)

    ident = [c for c in IDENTITY_FIELDS if c in golden.columns]
    base = golden.select(pl.col("golden_id").cast(pl.Utf8), *ident, *_seen_columns(golden))
    out = (base.join(sources, on="golden_id", how="left")
           .join(per_channel, on="golden_id", how="left")
           .join(totals, on="golden_id", how="left"))
    zero = {c: pl.col(c).fill_null(0)
            for c in ("order_count", "invoice_count", "credit_note_count", "source_record_count")}
    zero |= {c: pl.col(c).fill_null(0.0) for c in ("order_revenue", "invoice_revenue")}
    out = out.with_columns(**zero).with_columns(
        purchase_count=pl.col("order_count") + pl.col("invoice_count"),
        total_revenue=(pl.col("order_revenue") + pl.col("invoice_revenue")).round(2),
    ).with_columns(
        first_seen=pl.min_horizontal("_record_first", "first_purchase"),
        last_seen=pl.max_horizontal("_record_last", "last_purchase"),
        avg_order_value=pl.when(pl.col("purchase_count") > 0)
        .then((pl.col("total_revenue") / pl.col("purchase_count")).round(2)),
        days_since_last_purchase=(pl.lit(as_of) - pl.col("last_purchase")).dt.total_days().cast(pl.Int64),
        days_since_first_purchase=(pl.lit(as_of) - pl.col("first_purchase")).dt.total_days().cast(pl.Int64),
    )
    out = _rfm(out)
    out = out.with_columns(
        rfm_segment=_segment_expr(),
        lifecycle_status=_lifecycle_expr(config),
        clv=pl.col("total_revenue"),
        preferred_channel=_preferred_channel_expr(),
        reporting_currency=pl.lit(config.reporting_currency),
        as_of=pl.lit(as_of, dtype=pl.Date),
    )
    return out.select(
        "golden_id", *ident, "source_systems", "source_record_count", "first_seen", "last_seen",
        "order_count", "order_revenue", "invoice_count", "invoice_revenue", "credit_note_count",
        "purchase_count", "total_revenue", "first_purchase", "last_purchase", "avg_order_value",
        "days_since_last_purchase", "recency_score", "frequency_score", "monetary_score",
        "rfm_score", "rfm_segment", "lifecycle_status", "clv", "preferred_channel",
        "reporting_currency", "as_of",
    ).sort("golden_id")


def customer_360_from_warehouse(wh: Warehouse, *, config: Customer360Config | None = None,
                                golden_schema: str = "golden") -> pl.DataFrame:
    """``customer_360`` on the tables of a DuckDB ``Warehouse``: golden customers
    and crosswalk from ``golden_schema``; a missing orders/invoices table counts as empty."""
    golden = wh.read(f"{golden_schema}.customers")
    crosswalk = wh.read(f"{golden_schema}.crosswalk")

    def table(name: str, cols: list[str]) -> pl.DataFrame:
        if wh.exists(name):
            return wh.read(name, columns=cols)
        return pl.DataFrame(schema=dict.fromkeys(cols, pl.Utf8))

    return customer_360(golden, crosswalk, table(ORDERS_TABLE, ORDER_COLUMNS),
                        table(INVOICES_TABLE, INVOICE_COLUMNS), config=config)


def merge_lists(crosswalk: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Per source, the records that belong to a golden customer with more than one record.

    One row per such record in that source: its ``source_record_id`` and ``golden_id``, how many
    records the golden customer has, the other ids of the same customer in the same source
    (``same_source_duplicates``, comma-joined) and its records in other sources
    (``other_source_records``, comma-joined ``source:id``). Sources without such records get
    an empty frame.
    """
    _require(crosswalk, ["source", "source_record_id", "golden_id"], "golden.crosswalk")
    cw = crosswalk.select(pl.col("source").cast(pl.Utf8), pl.col("source_record_id").cast(pl.Utf8),
                          pl.col("golden_id").cast(pl.Utf8)).unique()
    cw = cw.with_columns(
        record_id=pl.concat_str("source", pl.lit(":"), "source_record_id"),
        golden_record_count=pl.len().over("golden_id").cast(pl.Int64),
    )
    multi = cw.filter(pl.col("golden_record_count") > 1)
    # lists per (customer, source) and per customer, so no record pairs are ever materialised
    everyone = multi.group_by("golden_id").agg(pl.col("record_id").alias("_all"))
    groups = multi.group_by("golden_id", "source").agg(
        pl.col("source_record_id").alias("_ids"), pl.col("record_id").alias("_recs"),
    ).join(everyone, on="golden_id").select(
        "golden_id", "source", "_ids",
        _joined(pl.col("_all").list.set_difference("_recs")).alias("other_source_records"),
    )
    full = multi.join(groups, on=["golden_id", "source"])
    # only a record with another id in its own source has same-source duplicates (a few percent)
    rows = full.select(pl.arg_where(pl.col("_ids").list.len() > 1)).to_series()
    same = full[rows].select(_joined(pl.col("_ids").list.set_difference(pl.concat_list("source_record_id"))))
    column = pl.repeat(None, full.height, dtype=pl.Utf8, eager=True).alias("same_source_duplicates")
    full = full.with_columns(column.scatter(rows, same.to_series()) if rows.len() else column)
    full = full.select("source", "source_record_id", "golden_id", "golden_record_count",
                       "same_source_duplicates", "other_source_records")
    # one sort per source: the same rows and order as one sort by source first, on smaller frames
    parts = full.partition_by("source", as_dict=True, include_key=False)
    empty = full.clear().drop("source")
    return {src: parts.get((src,), empty).sort("golden_id", "source_record_id")
            for src in sorted(cw["source"].drop_nulls().unique().to_list())}


def _joined(ids: pl.Expr) -> pl.Expr:
    """Sorted, comma-joined list; null when empty."""
    return pl.when(ids.list.len() > 0).then(ids.list.sort().list.join(","))


# -- inputs ---------------------------------------------------------------------------------------

def _require(df: pl.DataFrame, cols: list[str], table: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise Customer360Error(f"{table} lacks column(s) {', '.join(missing)} (has {', '.join(df.columns)})")


def _check_unique_keys(crosswalk: pl.DataFrame) -> None:
    dup = crosswalk.filter(pl.struct("source", "source_record_id").is_duplicated())
    if dup.height:
        row = dup.row(0, named=True)
        raise Customer360Error(
            f"golden.crosswalk has {dup.height} rows sharing a (source, source_record_id) key, "
            f"first: source {row['source']!r}, source_record_id {row['source_record_id']!r}")


def _orders(orders: pl.DataFrame, config: Customer360Config) -> pl.DataFrame:
    _require(orders, ORDER_COLUMNS, ORDERS_TABLE)
    df = orders.select(
        _channel(orders, "shop"),
        pl.col("id").cast(pl.Utf8).alias("doc_id"),
        pl.col("customer__id").cast(pl.Utf8).alias("customer_ref"),
        _dates(orders, "created_at").alias("date"),
        pl.col("created_at").is_not_null().alias("_has_date"),
        _as_float(orders.schema["total_price"], "total_price").alias("amount"),
        pl.col("total_price").is_not_null().alias("_has_amount"),
        pl.col("currency").cast(pl.Utf8).str.strip_chars().str.to_uppercase().alias("currency"),
    )
    return _validated(df, _table(orders, ORDERS_TABLE), "id", "created_at", "total_price", "order", config)


def _invoices(invoices: pl.DataFrame, config: Customer360Config) -> pl.DataFrame:
    _require(invoices, INVOICE_COLUMNS, INVOICES_TABLE)
    df = invoices.select(
        _channel(invoices, "erp"),
        pl.col("invoice_no").cast(pl.Utf8).alias("doc_id"),
        pl.col("customer_no").cast(pl.Utf8).alias("customer_ref"),
        _dates(invoices, "invoice_date").alias("date"),
        pl.col("invoice_date").is_not_null().alias("_has_date"),
        _as_float(invoices.schema["amount"], "amount").alias("amount"),
        pl.col("amount").is_not_null().alias("_has_amount"),
        pl.col("currency").cast(pl.Utf8).str.strip_chars().str.to_uppercase().alias("currency"),
    )
    return _validated(df, _table(invoices, INVOICES_TABLE), "invoice_no", "invoice_date", "amount", "invoice",
                      config)


def _channel(frame: pl.DataFrame, default: str) -> pl.Expr:
    """The source a purchase belongs to (its ``source`` column when the frame has one): the crosswalk's
    ``source`` its customer reference is looked up under."""
    if "source" in frame.columns:
        return pl.col("source").cast(pl.Utf8).alias("channel")
    return pl.lit(default).alias("channel")


def _table(frame: pl.DataFrame, default: str) -> str:
    """The raw table named in errors: ``table_name`` of the first row when the frame has one."""
    if "table_name" in frame.columns and frame.height:
        return str(frame["table_name"][0])
    return default


def _as_date(dtype: pl.DataType, col: str) -> pl.Expr:
    """UTC calendar date of a timestamp/date column, or of ISO 8601 text (offsets honoured)."""
    c = pl.col(col)
    if isinstance(dtype, pl.Datetime):
        return (c.dt.convert_time_zone("UTC") if dtype.time_zone else c).dt.date()
    if dtype == pl.Date:
        return c
    text = (c.cast(pl.Utf8).str.strip_chars().str.replace(r"^(\d{4}-\d\d-\d\d) ", "${1}T")
            .str.replace(r"Z$", "+00:00"))
    return pl.coalesce(
        text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%#z", strict=False, time_zone="UTC").dt.date(),
        text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False).dt.date(),
        text.str.to_datetime("%Y-%m-%dT%H:%M", strict=False).dt.date(),
        text.str.to_date("%Y-%m-%d", strict=False),
    )


def _dates(frame: pl.DataFrame, col: str) -> pl.Series:
    """``_as_date`` of ``frame[col]``; text is parsed once per distinct value (invoices share a
    few thousand dates) and each format only on the values the formats before it did not read."""
    dtype = frame.schema[col]
    if dtype != pl.Utf8:
        return frame.select(_as_date(dtype, col)).to_series()
    values = frame.select(pl.col(col).unique())
    text = values.select(pl.col(col).str.strip_chars().str.replace(r"^(\d{4}-\d\d-\d\d) ", "${1}T")
                         .str.replace(r"Z$", "+00:00")).to_series()
    parsed = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%#z", strict=False, time_zone="UTC").dt.date()
    for parse in (lambda t: t.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False).dt.date(),
                  lambda t: t.str.to_datetime("%Y-%m-%dT%H:%M", strict=False).dt.date(),
                  lambda t: t.str.to_date("%Y-%m-%d", strict=False)):
        missing = (parsed.is_null() & text.is_not_null()).arg_true()
        if missing.is_empty():
            break
        parsed = parsed.scatter(missing, parse(text.gather(missing)))
    lookup = values.with_columns(parsed.alias("__date"))
    return frame.select(col).join(lookup, on=col, how="left", nulls_equal=True, maintain_order="left")["__date"]


def _as_float(dtype: pl.DataType, col: str) -> pl.Expr:
    c = pl.col(col)
    if dtype == pl.Utf8:
        c = c.str.strip_chars()
    return c.cast(pl.Float64, strict=False)


def _validated(df: pl.DataFrame, table: str, id_field: str, date_field: str, amount_field: str,
               kind: str, config: Customer360Config) -> pl.DataFrame:
    df = df.with_row_index("_row", offset=1)

    def fail(mask: pl.Expr, what: str, field_name: str, value_col: str | None = None) -> None:
        bad = df.filter(mask)
        if bad.height:
            r = bad.row(0, named=True)
            shown = f" {r[value_col]!r}" if value_col else ""
            raise Customer360Error(
                f"{table} row {r['_row']} ({id_field} {r['doc_id']}), field {field_name}: {what}{shown}"
                + (f" ({bad.height} rows in all)" if bad.height > 1 else ""))

    fail(pl.col("doc_id").is_null(), "missing id", id_field)
    fail(pl.struct("channel", "doc_id").is_duplicated(), "duplicate id", id_field)
    fail(~pl.col("_has_date"), "missing date", date_field)
    fail(pl.col("date").is_null(), "not a date (expected ISO 8601)", date_field)
    fail(~pl.col("_has_amount"), "missing amount", amount_field)
    fail(pl.col("amount").is_null() | pl.col("amount").is_nan() | pl.col("amount").is_infinite(),
         "not a number", amount_field)
    fail(pl.col("currency").is_null(), "missing currency", "currency")
    fail(~pl.col("currency").is_in(list(config.rates)), "unknown currency (no conversion rate "
         f"configured; known: {', '.join(sorted(config.rates))})", "currency", "currency")
    if config.negative_amounts == "error":
        fail(pl.col("amount") < 0, "negative amount", amount_field)
    rates = pl.DataFrame({"currency": list(config.rates), "_rate": list(config.rates.values())})
    return df.join(rates, on="currency", how="left").select(
        "channel", pl.lit(kind).alias("kind"), "doc_id", "customer_ref", "date",
        (pl.col("amount") * pl.col("_rate")).round(2).alias("amount"),
    )


def _default_as_of(purchases: pl.DataFrame, golden: pl.DataFrame) -> dt.date:
    latest = purchases.filter(pl.col("amount") >= 0)["date"].max()
    if latest is None and "last_updated" in golden.columns:
        last = golden["last_updated"].max()
        latest = last.date() if isinstance(last, dt.datetime) else last
    return latest or dt.datetime.now(dt.UTC).date()


# -- aggregates -----------------------------------------------------------------------------------

def _seen_columns(golden: pl.DataFrame) -> list[pl.Expr]:
    def day(col: str) -> pl.Expr:
        if col not in golden.columns:
            return pl.lit(None, dtype=pl.Date)
        return _as_date(golden.schema[col], col)

    return [day("first_seen").alias("_record_first"), day("last_updated").alias("_record_last")]


def _per_channel(linked: pl.DataFrame) -> pl.DataFrame:
    purchase = pl.col("amount") >= 0
    aggs = []
    for kind, count, revenue in (("order", "order_count", "order_revenue"),
                                 ("invoice", "invoice_count", "invoice_revenue")):
        mine = pl.col("kind") == kind
        aggs += [(mine & purchase).sum().cast(pl.Int64).alias(count),
                 pl.col("amount").filter(mine).sum().round(2).alias(revenue)]
    aggs.append((~purchase).sum().cast(pl.Int64).alias("credit_note_count"))
    # the source with the most purchases; on a tie the one with more revenue; then the first by name
    best = (linked.group_by("golden_id", "channel")
            .agg(purchase.sum().alias("_n"), pl.col("amount").filter(purchase).sum().alias("_rev"))
            .filter(pl.col("_n") > 0)
            .sort(["golden_id", "_n", "_rev", "channel"], descending=[False, True, True, False])
            .unique("golden_id", keep="first", maintain_order=True)
            .select("golden_id", pl.col("channel").alias("_preferred")))
    return linked.group_by("golden_id").agg(aggs).join(best, on="golden_id", how="left")


def _sources(links: pl.DataFrame) -> pl.DataFrame:
    """Per golden customer: its sources, sorted and comma-joined, and how many records it has.

    The few source names become one bit each, so a customer's set is a bitwise or and each
    distinct set (at most 2 ** 16) is spelled out once, instead of a sorted list per customer."""
    names = links["source"].unique().sort()
    if names.has_nulls() or names.len() > 16:   # no bit for a missing name: per customer
        return links.group_by("golden_id").agg(
            pl.col("source").unique().sort().str.join(",").alias("source_systems"),
            pl.len().cast(pl.Int64).alias("source_record_count"))
    bit = pl.col("source").replace_strict(names, [1 << i for i in range(names.len())], return_dtype=pl.Int64)
    sets = links.group_by("golden_id").agg(bit.bitwise_or().alias("_set"),
                                           pl.len().cast(pl.Int64).alias("source_record_count"))
    distinct = sets["_set"].unique()
    spelled = [",".join(n for i, n in enumerate(names) if m >> i & 1) for m in distinct.to_list()]
    return sets.select("golden_id", pl.col("_set").replace_strict(distinct, spelled, return_dtype=pl.Utf8)
                       .alias("source_systems"), "source_record_count")


def _totals(linked: pl.DataFrame) -> pl.DataFrame:
    purchases = linked.filter(pl.col("amount") >= 0)
    return purchases.group_by("golden_id").agg(
        pl.col("date").min().alias("first_purchase"),
        pl.col("date").max().alias("last_purchase"),
    )


def _quintile(value: pl.Expr, n: pl.Expr, *, descending: bool = False) -> pl.Expr:
    rank = value.rank("average", descending=descending)
    return (((rank - 1) * 5 / n).floor() + 1).cast(pl.Int32)


def _rfm(out: pl.DataFrame) -> pl.DataFrame:
    buyers = out.filter(pl.col("purchase_count") > 0)
    n = pl.len()
    scores = buyers.select(
        "golden_id",
        _quintile(pl.col("days_since_last_purchase"), n, descending=True).alias("recency_score"),
        _quintile(pl.col("purchase_count"), n).alias("frequency_score"),
        _quintile(pl.col("total_revenue"), n).alias("monetary_score"),
    ).with_columns(rfm_score=pl.concat_str(
        pl.col("recency_score"), pl.col("frequency_score"), pl.col("monetary_score")))
    return out.join(scores, on="golden_id", how="left")


def _segment_expr() -> pl.Expr:
    r, f = pl.col("recency_score"), pl.col("frequency_score")
    expr = pl.when(r.is_null()).then(pl.lit(PROSPECT))
    for name, r_lo, r_hi, f_lo, f_hi in SEGMENT_RULES:
        expr = expr.when(r.is_between(r_lo, r_hi) & f.is_between(f_lo, f_hi)).then(pl.lit(name))
    return expr.otherwise(None)


def _lifecycle_expr(config: Customer360Config) -> pl.Expr:
    first, last = pl.col("days_since_first_purchase"), pl.col("days_since_last_purchase")
    return (pl.when(last.is_null()).then(pl.lit(PROSPECT))
            .when(first <= config.new_days).then(pl.lit("new"))
            .when(last <= config.active_days).then(pl.lit("active"))
            .when(last <= config.dormant_days).then(pl.lit("dormant"))
            .otherwise(pl.lit("lost")))


def _preferred_channel_expr() -> pl.Expr:
    """The source with the most purchases; on a tie the one with more revenue; then the first by name."""
    return pl.col("_preferred")
