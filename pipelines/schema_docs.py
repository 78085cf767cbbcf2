"""Descriptions of every published column, in one place.

The same text becomes ``COMMENT ON`` in DuckDB and PostgreSQL, field metadata in Parquet files and
``docs/golden_schema.md`` (``python -m pipelines.schema_docs`` rewrites it; ``--check`` only
compares). Per-source merge lists (``golden.merge_list_<source>``) share one entry,
``golden.merge_list``. Column names with ``*`` describe families of columns whose names depend on
the matching settings.
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from pipelines.customer360 import PROSPECT, SEGMENT_RULES, Customer360Config
from pipelines.sql_text import quote_ident, sql_literal

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "golden_schema.md"
MERGE_LIST = "golden.merge_list"

TABLE_DOCS: dict[str, str] = {
    "golden.customers": "One row per real customer: each field is the surviving value among the "
    "source records matched to that customer.",
    "golden.crosswalk": "Every staged source record and the golden customer it belongs to.",
    "golden.customer_360": "One row per golden customer with purchase history from shop orders and "
    "ERP invoices, RFM scores and segment, lifecycle status and historical CLV.",
    "golden.customer_lineage": "Field lineage: for each golden customer and field, the source record "
    "that supplied the surviving value.",
    "golden.customers_history": "Type 2 history of golden.customers: one row per version of a "
    "customer's fields, with the period it was current.",
    "golden.id_registry": "Every golden id ever issued, and for retired ids when and why they were "
    "retired.",
    "golden.id_history": "Log of retired golden ids (appended every run): which id replaced them "
    "and why.",
    "golden.review_queue": "Candidate record pairs whose match probability lies in the uncertain "
    "band, for a data steward to accept or reject.",
    MERGE_LIST: "Source write-back list (one table per source, golden.merge_list_<source>): the "
    "records of that source that belong to a golden customer with more than one record.",
}

_GOLDEN_ID = "Opaque, stable id of the golden customer (GC- followed by 16 hex digits)."

COLUMN_DOCS: dict[str, dict[str, str]] = {
    "golden.customers": {
        "golden_id": _GOLDEN_ID,
        "given_name": "Given (first) name.",
        "surname": "Family name (after any name change).",
        "full_name": "Full name as it is written in the customer's locale.",
        "email": "Primary e-mail address, as normalised by staging (trimmed, lower-case).",
        "phone": "Primary phone number, as normalised by staging (E.164 where it could be parsed).",
        "street": "Street and house number of the current address.",
        "postal_code": "Postal code of the current address.",
        "city": "City of the current address.",
        "country": "Country of the current address, ISO 3166-1 alpha-2 code.",
        "company_name": "Company the customer works for (B2B contacts).",
        "vat_id": "VAT / tax id of the company, as normalised by staging.",
        "source_count": "Number of source records merged into this customer.",
        "sources": "Source systems holding a record of this customer, sorted, comma-joined.",
        "first_seen": "Earliest creation time among the customer's source records (UTC).",
        "last_updated": "Latest update time among the customer's source records (UTC).",
    },
    "golden.crosswalk": {
        "source": "Source system of the record (erp, shop, leads_xlsx, sales_csv, legacy_csv).",
        "source_record_id": "Id of the record in its source system (ERP customer_no, shop "
        "customer id, 1-based data row of a sheet).",
        "record_id": "Unique staged record id: source:source_record_id.",
        "golden_id": "Golden customer the record belongs to.",
    },
    "golden.customer_360": {
        "golden_id": _GOLDEN_ID,
        "full_name": "Full name, from golden.customers.",
        "given_name": "Given name, from golden.customers.",
        "surname": "Family name, from golden.customers.",
        "email": "Primary e-mail address, from golden.customers.",
        "phone": "Primary phone number, from golden.customers.",
        "company_name": "Company name, from golden.customers.",
        "city": "City of the current address, from golden.customers.",
        "country": "Country (ISO 3166-1 alpha-2), from golden.customers.",
        "source_systems": "Source systems with a record of this customer (from the crosswalk), "
        "sorted, comma-joined.",
        "source_record_count": "Number of source records linked to this customer in the crosswalk.",
        "first_seen": "Earliest of record creation date and first purchase date (UTC date).",
        "last_seen": "Latest of record update date and last purchase date (UTC date).",
        "order_count": "Number of web shop orders with a non-negative total (channel shop).",
        "order_revenue": "Sum of shop order totals in the reporting currency, net of negative ones.",
        "invoice_count": "Number of ERP invoices with a non-negative amount (channel erp).",
        "invoice_revenue": "Sum of ERP invoice amounts in the reporting currency, net of credit notes.",
        "credit_note_count": "Number of invoices or orders with a negative amount (credit notes, "
        "refunds); they lower the channel revenue and are not purchases.",
        "purchase_count": "order_count + invoice_count.",
        "total_revenue": "order_revenue + invoice_revenue: net revenue in the reporting currency.",
        "first_purchase": "Date of the first purchase (order or invoice), UTC date.",
        "last_purchase": "Date of the last purchase on or before as_of, UTC date.",
        "avg_order_value": "total_revenue / purchase_count, rounded to cents; null without purchases.",
        "days_since_last_purchase": "Days from last_purchase to as_of.",
        "recency_score": "RFM recency quintile 1-5 among buyers (5 = most recent): "
        "floor((average rank - 1) * 5 / buyers) + 1; null without purchases.",
        "frequency_score": "RFM frequency quintile 1-5 of purchase_count among buyers (5 = most "
        "purchases), same formula; null without purchases.",
        "monetary_score": "RFM monetary quintile 1-5 of total_revenue among buyers (5 = highest), "
        "same formula; null without purchases.",
        "rfm_score": "The three scores as text, recency-frequency-monetary (e.g. 545).",
        "rfm_segment": "Segment from the recency (R) and frequency (F) scores, first match wins: "
        "champions R4-5 F4-5; loyal R3-5 F3-5; potential R3-5 F1-2; at risk R1-2 F3-5; "
        "hibernating R2 F1-2; lost R1 F1-2; prospect without purchases.",
        "lifecycle_status": "new: first purchase at most new_days (default 90) before as_of; else "
        "active: last purchase at most active_days (365); else dormant: at most dormant_days (730); "
        "else lost; prospect without purchases.",
        "clv": "Historical customer lifetime value: total net revenue to date (orders + invoices - "
        "credit notes) in the reporting currency.",
        "preferred_channel": "Channel with more purchases (shop or erp); on a tie the one with more "
        "revenue, then erp; null without purchases.",
        "reporting_currency": "Currency of every amount in this row (ISO 4217); each document is "
        "converted with the configured rate and rounded to cents.",
        "as_of": "Reference date for recency and lifecycle: configured, or the latest purchase "
        "date in the data.",
    },
    "golden.customer_lineage": {
        "golden_id": "Golden customer.",
        "field": "Golden field (a column of golden.customers).",
        "record_id": "Staged record (source:source_record_id) whose value survived.",
        "source": "Source system of that record.",
        "source_record_id": "Id of that record in its source system.",
    },
    "golden.id_registry": {
        "golden_id": "A golden id, live or retired.",
        "created_at": "When the id was first issued (UTC).",
        "retired_at": "When the id was retired (UTC); null while it is live.",
        "surviving_id": "For an id retired by a merge: the golden id that now holds its records.",
        "retired_reason": "merged (its records joined another customer) or no_sources (none of its "
        "records remain); null while live.",
    },
    "golden.id_history": {
        "retired_id": "The golden id retired by a run.",
        "surviving_id": "The golden id that took over its records (merged); null for no_sources.",
        "reason": "merged or no_sources.",
        "at": "Time of the run that retired it (UTC).",
    },
    "golden.review_queue": {
        "id_l": "record_id of the first record of the pair.",
        "id_r": "record_id of the second record of the pair.",
        "rule": "Blocking rule(s) that proposed the pair.",
        "match_weight": "Total match weight (log2 Bayes factor) of the pair.",
        "match_probability": "Probability that both records are the same customer.",
        "golden_id_l": "Golden customer of the first record.",
        "golden_id_r": "Golden customer of the second record.",
        "merged": "Whether both records ended up in the same golden customer.",
        "gamma_*": "Comparison level reached by the pair for the named comparison (higher is "
        "closer; see the matching settings).",
        "bf_*": "Bayes factor of the reached level for the named comparison (the explanation).",
    },
    MERGE_LIST: {
        "source_record_id": "Id of the record in this source system.",
        "golden_id": "Golden customer the record belongs to.",
        "golden_record_count": "Number of records (all sources) of this golden customer.",
        "same_source_duplicates": "Other record ids of the same customer in this source, sorted, "
        "comma-joined (candidates to merge in the source); null if none.",
        "other_source_records": "Records of the same customer in other sources (source:id), "
        "sorted, comma-joined; null if none.",
    },
}

COLUMN_DOCS["golden.customers_history"] = {
    **{c: d for c, d in COLUMN_DOCS["golden.customers"].items()
       if c not in ("source_count", "sources", "first_seen", "last_updated")},
    "valid_from": "Start of the period this version was current (UTC, the run that opened it).",
    "valid_to": "End of the period (UTC, the run that closed it); null for the current version.",
    "is_current": "Whether this is the customer's current version.",
}


def doc_key(table: str) -> str:
    """The ``COLUMN_DOCS`` key describing ``table`` (per-source merge lists share one)."""
    return MERGE_LIST if table.startswith(MERGE_LIST + "_") else table


def column_doc(table: str, column: str) -> str | None:
    """Description of ``table.column``, exact name first, then ``*`` patterns."""
    docs = COLUMN_DOCS.get(doc_key(table), {})
    if column in docs:
        return docs[column]
    for pattern, text in docs.items():
        if "*" in pattern and fnmatch.fnmatchcase(column, pattern):
            return text
    return None


def table_doc(table: str) -> str | None:
    """Description of ``table``; a merge list names its source."""
    key = doc_key(table)
    text = TABLE_DOCS.get(key)
    if text and key != table:
        text = f"{text} Source: {table[len(MERGE_LIST) + 1:]}."
    return text


def undocumented(table: str, columns: Iterable[str]) -> list[str]:
    """Columns of ``table`` without a description."""
    return [c for c in columns if column_doc(table, c) is None]


def comments_for(tables: Mapping[str, Iterable[str]]) -> dict[str, dict[str, str]]:
    """``{table: {column: description}}`` for the documented columns of the given tables
    (``tables`` maps names to column lists, or to polars frames)."""
    out: dict[str, dict[str, str]] = {}
    for table, cols in tables.items():
        names = cols.columns if hasattr(cols, "columns") else cols
        docs = {c: d for c in names if (d := column_doc(table, c)) is not None}
        if docs:
            out[table] = docs
    return out


def table_comments_for(tables: Iterable[str]) -> dict[str, str]:
    """``{table: description}`` for the documented tables among ``tables``."""
    return {t: d for t in tables if (d := table_doc(t)) is not None}


def apply_duckdb_comments(con, *, tables: Iterable[str] | None = None) -> int:
    """``COMMENT ON`` every documented table and column that exists in the DuckDB connection
    (all schemas, or only ``tables``); returns the number of comments set."""
    rows = con.execute(
        "select table_schema || '.' || table_name, column_name from information_schema.columns "
        "order by table_schema, table_name, ordinal_position").fetchall()
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(table, []).append(column)
    wanted = set(tables) if tables is not None else None
    statements = []
    for table, cols in columns.items():
        if wanted is not None and table not in wanted:
            continue
        schema, name = table.split(".", 1)
        target = f"{quote_ident(schema)}.{quote_ident(name)}"
        if (text := table_doc(table)) is not None:
            statements.append(f"comment on table {target} is {sql_literal(text)}")
        for col, text in comments_for({table: cols}).get(table, {}).items():
            statements.append(f"comment on column {target}.{quote_ident(col)} is {sql_literal(text)}")
    if statements:  # one transaction, not one commit per comment
        con.execute("begin transaction")
        try:
            con.execute(";\n".join(statements))
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return len(statements)


def render_markdown() -> str:
    """The golden schema reference as Markdown (the content of ``docs/golden_schema.md``)."""
    lines = [
        "# Golden schema",
        "",
        "Tables published for BI and operations (DuckDB, PostgreSQL and Parquet use the same",
        "schema, table and column names). Generated from `pipelines/schema_docs.py` by",
        "`python -m pipelines.schema_docs`; do not edit by hand. The same descriptions are",
        "set as `COMMENT ON` in DuckDB and PostgreSQL and as field metadata in Parquet.",
        "",
        "PostgreSQL: the read-only role `bi_reader` may select `golden.customers`,",
        "`golden.customer_360` and `golden.crosswalk` only.",
        "",
    ]
    for table, about in TABLE_DOCS.items():
        title = f"{table}_<source>" if table == MERGE_LIST else table
        lines += [f"## `{title}`", "", about, "", "| column | description |", "| --- | --- |"]
        lines += [f"| `{c}` | {d.replace('|', '/')} |" for c, d in COLUMN_DOCS[table].items()]
        lines.append("")
    lines += _customer_360_rules()
    return "\n".join(lines)


def _customer_360_rules() -> list[str]:
    """The segment table, lifecycle thresholds and default rates, from the code that applies them."""
    cfg = Customer360Config()
    lines = [
        "## Customer 360 rules",
        "",
        "RFM scores are quintiles among customers with at least one purchase:",
        "`score = floor((average rank - 1) * 5 / buyers) + 1`, ties share their average rank.",
        "The segment is the first row below matching the recency (R) and frequency (F) scores;",
        f"customers without a purchase are `{PROSPECT}`.",
        "",
        "| segment | R | F |",
        "| --- | --- | --- |",
        *[f"| {name} | {r0}-{r1} | {f0}-{f1} |" for name, r0, r1, f0, f1 in SEGMENT_RULES],
        "",
        "Lifecycle status, in days before `as_of` (configuration keys and defaults):",
        "",
        f"- `new`: first purchase at most `new_days` ({cfg.new_days}) days old;",
        f"- `active`: otherwise, last purchase at most `active_days` ({cfg.active_days}) days old;",
        f"- `dormant`: otherwise, last purchase at most `dormant_days` ({cfg.dormant_days}) days old;",
        "- `lost`: older; `prospect`: no purchase.",
        "",
        "Amounts: every order/invoice is converted to the reporting currency",
        f"(default {cfg.reporting_currency}) with the configured rate (reporting-currency units per",
        "unit) and rounded to cents. Default rates: "
        + ", ".join(f"{k} {v}" for k, v in cfg.rates.items()) + ".",
        "Negative amounts are credits (`negative_amounts: credit`: they lower revenue and are no",
        "purchase) or rejected (`negative_amounts: error`).",
        "CLV = total net revenue to date (orders + invoices - credit notes).",
        "",
        "```yaml",
        "customer_360:",
        f"  reporting_currency: {cfg.reporting_currency}",
        "  rates: {" + ", ".join(f"{k}: {v}" for k, v in cfg.rates.items()) + "}",
        f"  new_days: {cfg.new_days}",
        f"  active_days: {cfg.active_days}",
        f"  dormant_days: {cfg.dormant_days}",
        "  as_of: null          # default: the latest purchase date in the data",
        "  negative_amounts: credit",
        "```",
        "",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.schema_docs",
                                     description="Write (or check) docs/golden_schema.md.")
    parser.add_argument("--out", type=Path, default=DOC_PATH)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    args = parser.parse_args(argv)
    text = render_markdown()
    current = args.out.read_text(encoding="utf-8") if args.out.exists() else None
    if args.check:
        if current != text:
            print(f"{args.out} is out of date: run python -m pipelines.schema_docs", file=sys.stderr)
            return 1
        return 0
    if current != text:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
