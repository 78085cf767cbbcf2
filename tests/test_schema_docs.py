"""Schema documentation: the committed doc is current and every published column is described."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines import schema_docs
from pipelines.customer360 import Customer360Config, customer_360, merge_lists
from pipelines.schema_docs import COLUMN_DOCS, TABLE_DOCS, apply_duckdb_comments, column_doc, render_markdown

REPO = Path(__file__).resolve().parents[1]
UTC = dt.UTC


def _staged() -> pl.DataFrame:
    from dedupe.canonical import conform

    rows = {
        "record_id": ["erp:C1", "shop:11", "sales_csv:3", "erp:C2"],
        "source": ["erp", "shop", "sales_csv", "erp"],
        "source_record_id": ["C1", "11", "3", "C2"],
        "given_name": ["Wei", "伟", None, "Anna"],
        "surname": ["Zhang", "张", "Zhang", "Smith"],
        "email": [None, "zw@qq.com", "zw@qq.com", "a@example.com"],
        "country": ["CN", "CN", None, "GB"],
        "created_at": [dt.datetime(2020, 1, 1, tzinfo=UTC)] * 4,
        "updated_at": [dt.datetime(2021, 1, 1, tzinfo=UTC), dt.datetime(2022, 1, 1, tzinfo=UTC), None,
                       dt.datetime(2020, 6, 1, tzinfo=UTC)],
    }
    return conform(pl.DataFrame(rows))


def _golden_frames() -> dict[str, pl.DataFrame]:
    """The frames the golden build really produces (whichever module holds it)."""
    try:
        from dedupe.golden.records import build_golden
    except ImportError:
        from dedupe.golden.survivorship import build_golden
    clusters = pl.DataFrame({"record_id": ["erp:C1", "shop:11", "sales_csv:3", "erp:C2"],
                             "cluster_id": ["k1", "k1", "k1", "k2"]})
    built = build_golden(_staged(), clusters)
    if isinstance(built, tuple):
        golden, crosswalk = built
        return {"golden.customers": golden, "golden.crosswalk": crosswalk}
    frames = {"golden.customers": built.customers, "golden.crosswalk": built.crosswalk,
              "golden.customer_lineage": built.lineage, "golden.id_registry": built.registry,
              "golden.id_history": built.retired}
    try:
        from dedupe.canonical import GOLDEN_FIELDS
        from dedupe.golden.history import update_history
    except ImportError:
        return frames
    fields = [f for f in GOLDEN_FIELDS if f in built.customers.columns]
    frames["golden.customers_history"] = update_history(
        None, built.customers, at=dt.datetime(2025, 1, 1, tzinfo=UTC), fields=fields)[0]
    return frames


def _published_frames() -> dict[str, pl.DataFrame]:
    frames = _golden_frames()
    cw = frames["golden.crosswalk"]
    orders = pl.DataFrame({"id": [1], "customer__id": [11], "created_at": ["2024-01-01T00:00:00Z"],
                           "total_price": ["1.00"], "currency": ["EUR"]})
    invoices = pl.DataFrame({"invoice_no": ["I1"], "customer_no": ["C2"], "invoice_date": ["2024-02-01"],
                             "amount": ["2.00"], "currency": ["GBP"]})
    frames["golden.customer_360"] = customer_360(frames["golden.customers"], cw, orders, invoices,
                                                 config=Customer360Config())
    frames |= {f"golden.merge_list_{s}": df for s, df in merge_lists(cw).items()}
    return frames


def test_committed_doc_is_up_to_date():
    path = REPO / "docs" / "golden_schema.md"
    assert path.exists(), "docs/golden_schema.md missing: run python -m pipelines.schema_docs"
    assert path.read_text(encoding="utf-8") == render_markdown(), \
        "docs/golden_schema.md is out of date: run python -m pipelines.schema_docs"


def test_every_published_column_is_documented():
    frames = _published_frames()
    assert {"golden.customers", "golden.crosswalk", "golden.customer_360", "golden.merge_list_erp"} <= set(frames)
    for table, df in frames.items():
        assert schema_docs.table_doc(table), table
        missing = schema_docs.undocumented(table, df.columns)
        assert not missing, f"{table}: undocumented columns {missing} (add them to pipelines/schema_docs.py)"


def test_customer_360_docs_list_exactly_its_columns():
    c360 = _published_frames()["golden.customer_360"]
    assert list(COLUMN_DOCS["golden.customer_360"]) == c360.columns


def test_markdown_lists_every_table_and_column():
    text = render_markdown()
    for table, cols in COLUMN_DOCS.items():
        assert TABLE_DOCS[table] in text
        for col, doc in cols.items():
            assert f"| `{col}` | {doc} |" in text, (table, col)
    assert "## `golden.merge_list_<source>`" in text


def test_patterns_and_merge_list_lookup():
    assert column_doc("golden.review_queue", "gamma_email") == COLUMN_DOCS["golden.review_queue"]["gamma_*"]
    assert column_doc("golden.merge_list_shop", "golden_id") == COLUMN_DOCS["golden.merge_list"]["golden_id"]
    assert schema_docs.table_doc("golden.merge_list_shop").endswith("Source: shop.")
    assert column_doc("golden.customers", "no_such_column") is None
    assert schema_docs.undocumented("golden.crosswalk", ["golden_id", "extra"]) == ["extra"]


def test_apply_duckdb_comments(tmp_path):
    frames = _published_frames()
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    try:
        con.execute("create schema golden; create schema raw_erp")
        for table, df in frames.items():
            con.register("f", df.to_arrow())
            con.execute(f"create table {table} as select * from f")
            con.unregister("f")
        con.execute("create table raw_erp.customers (customer_no varchar)")
        n = apply_duckdb_comments(con)
        rows = con.execute("select schema_name || '.' || table_name, column_name, comment from duckdb_columns() "
                           "where schema_name in ('golden', 'raw_erp')").fetchall()
        tables = dict(con.execute("select schema_name || '.' || table_name, comment from duckdb_tables()").fetchall())
    finally:
        con.close()
    for table, column, comment in rows:
        assert comment == column_doc(table, column), (table, column)
    assert tables["golden.customer_360"] == TABLE_DOCS["golden.customer_360"]
    assert tables["raw_erp.customers"] is None
    assert n == sum(df.width + 1 for df in frames.values())


def test_cli_writes_and_checks(tmp_path, capsys):
    out = tmp_path / "schema.md"
    assert schema_docs.main(["--out", str(out), "--check"]) == 1
    assert "out of date" in capsys.readouterr().err
    assert schema_docs.main(["--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == render_markdown()
    cmd = [sys.executable, "-m", "pipelines.schema_docs", "--out", str(out), "--check"]
    assert subprocess.run(cmd, cwd=REPO, check=False, capture_output=True).returncode == 0


@pytest.mark.parametrize("table", list(COLUMN_DOCS))
def test_descriptions_are_sentences(table):
    for col, doc in COLUMN_DOCS[table].items():
        assert doc.strip() and doc.endswith("."), (table, col)
