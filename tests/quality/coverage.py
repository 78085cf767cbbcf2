"""How many of crm_synth's injected bad rows (``truth/bad_rows.csv``) the pipeline flagged."""

from __future__ import annotations

from pathlib import Path

import polars as pl

#: crm_synth source names -> the pipeline's (sheet sources are file stems)
SOURCE_NAMES = {"leads_xlsx": "trade_show_leads", "sales_csv": "sales_contacts", "legacy_csv": "legacy_export"}
#: the rules the pipeline is expected to give each injected kind (an empty name on a row that has
#: no e-mail and no phone either leaves nothing to match on: quarantined as no_identity)
EXPECTED_RULES = {
    "malformed_email": ["malformed_email"],
    "impossible_date": ["impossible_date"],
    "empty_name": ["missing_name", "no_identity"],
    "ref_error": ["excel_error"],
    "duplicate_pk": ["duplicate_primary_key"],
    "negative_amount": ["negative_amount"],
    "non_utf8_encoding": ["non_utf8_encoding"],
    "truncated_json_page": ["recovered_from_truncated_page"],
}


def bad_rows(truth: Path) -> pl.DataFrame:
    """``bad_rows.csv`` keyed the pipeline's way: ``source``, ``source_record_id``, ``kind``."""
    bad = pl.read_csv(truth / "bad_rows.csv", infer_schema=False)
    return bad.select(
        pl.when(pl.col("kind") == "negative_amount").then(pl.lit("erp_invoices"))
        .otherwise(pl.col("source").replace(SOURCE_NAMES)).alias("source"),
        pl.when(pl.col("kind") == "non_utf8_encoding").then(pl.lit("file"))
        .otherwise(pl.col("record_id")).alias("source_record_id"),
        "kind",
    )


def coverage(truth: Path, quarantine: pl.DataFrame, field_issues: pl.DataFrame,
             shop_ids_loaded: pl.Series) -> dict:
    """Coverage of the injected bad rows by quarantine + field issues.

    Customers of a cut shop page that never arrived (not in ``shop_ids_loaded``) cannot be
    flagged by id: their rows (the cut and any other injected problem) are counted apart as
    ``unrecoverable``, with ``lost_customers`` the number of such customers. ``flagged`` counts rows
    with any rule, ``expected_rule`` those with one of the rules ``EXPECTED_RULES`` names.
    """
    bad = bad_rows(truth)
    lost_ids = bad.filter((pl.col("kind") == "truncated_json_page")
                          & ~pl.col("source_record_id").is_in(shop_ids_loaded.cast(pl.Utf8).implode()))
    # every injected problem of a customer that never arrived is out of reach, not just the cut
    lost = bad.join(lost_ids.select("source", "source_record_id").unique(), on=["source", "source_record_id"])
    scored = bad.join(lost, on=["source", "source_record_id", "kind"], how="anti")
    flags = pl.concat([quarantine.select("source", "source_record_id", "rule"),
                       field_issues.select("source", "source_record_id", "rule")])
    expected = pl.DataFrame({"kind": list(EXPECTED_RULES), "rule": list(EXPECTED_RULES.values())}).explode("rule")
    hits = (scored.join(flags, on=["source", "source_record_id"], how="left")
            .join(expected.with_columns(expected=pl.lit(True)), on=["kind", "rule"], how="left")
            .group_by("source", "source_record_id", "kind", maintain_order=True)
            .agg(flagged=pl.col("rule").is_not_null().any(), expected=pl.col("expected").fill_null(False).any()))
    missed = hits.filter(~pl.col("flagged"))
    return {
        "injected": bad.height,
        "unrecoverable": lost.height,
        "lost_customers": lost_ids.height,
        "scored": hits.height,
        "flagged": int(hits["flagged"].sum()),
        "expected_rule": int(hits["expected"].sum()),
        "coverage": float(hits["flagged"].mean()) if hits.height else 1.0,
        "missed": missed,
        "wrong_rule": hits.filter(pl.col("flagged") & ~pl.col("expected")),
    }
