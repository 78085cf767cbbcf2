"""Staging of a whole generated dataset, measured against its truth files."""

from __future__ import annotations

import polars as pl
import pytest
from rapidfuzz import fuzz, process

from dedupe.canonical import STAGED_SCHEMA
from dedupe.normalize import to_pinyin, to_simplified
from pipelines.staging import stage_all, stage_erp, stage_sheets, stage_shop

SHEET_SOURCES = ("trade_show_leads", "sales_contacts", "legacy_export")
BAD_KINDS = ("malformed_email", "impossible_date", "empty_name", "ref_error", "duplicate_pk")


@pytest.fixture(scope="module")
def staged(synth_frames):
    return stage_all(synth_frames)


@pytest.fixture(scope="module")
def joined(staged, synth_truth):
    records, _, _ = synth_truth
    return staged.customers.join(records, on=["source", "source_record_id"], how="inner")


def test_schema_and_record_ids(staged):
    assert staged.customers.schema == pl.Schema(STAGED_SCHEMA)
    c = staged.customers
    assert c["record_id"].n_unique() == c.height
    assert (c["record_id"] == c["source"] + ":" + c["source_record_id"]).all()


def test_every_input_row_is_reconciled(synth_frames, staged):
    n_in = {"erp": synth_frames["erp"].height, "shop": synth_frames["shop"].height}
    n_in.update(synth_frames["sheets"].group_by("source").len().iter_rows())
    out = (
        pl.concat([staged.customers.select("source"), staged.quarantine.select("source")])
        .group_by("source").len()
    )
    assert dict(out.iter_rows()) == n_in


def test_each_truth_record_staged_once(joined, synth_truth):
    records, _, _ = synth_truth
    assert joined.height == records.height


def test_phones_match_truth(joined):
    has_phone = joined.filter(
        pl.col("raw_phone").str.strip_chars().is_in(["", "-", "N/A", "n/a", "null"]).not_()
    )
    ok = ((pl.col("phone") == pl.col("phone_e164")) | (pl.col("phone") == pl.col("landline_e164"))).fill_null(False)
    rate = has_phone.select(ok.mean()).item()
    wrong = has_phone.filter(~ok & pl.col("phone").is_not_null()).height
    print(f"\nphone E.164 equal to truth: {rate:.4f} of {has_phone.height}; wrong (not null): {wrong}")
    assert rate >= 0.99
    assert wrong <= 0.002 * has_phone.height


def test_country_matches_truth(joined):
    rate = joined.select((pl.col("country") == pl.col("country_right")).fill_null(False).mean()).item()
    wrong = joined.filter(pl.col("country").is_not_null() & (pl.col("country") != pl.col("country_right"))).height
    print(f"\ncountry ISO-2 equal to truth: {rate:.4f} of {joined.height}; wrong (not null): {wrong}")
    assert rate >= 0.99
    assert wrong <= 0.002 * joined.height


def _similarity(ours: pl.Series, native: pl.Series, latin: pl.Series) -> pl.Series:
    """Best of rapidfuzz ratio against the truth's native form (simplified) and its Latin form."""
    frame = pl.DataFrame({"o": ours, "n": native, "l": latin}).fill_null("")
    frame = frame.with_columns(
        o=to_simplified(pl.col("o")).str.to_lowercase(),
        op=to_pinyin(pl.col("o")).str.replace_all(" ", ""),
        n=to_simplified(pl.col("n")).str.to_lowercase(),
        l=pl.col("l").str.to_lowercase(),
    )
    a = process.cpdist(frame["o"].to_list(), frame["n"].to_list(), scorer=fuzz.ratio)
    b = process.cpdist(frame["op"].to_list(), frame["l"].to_list(), scorer=fuzz.ratio)
    return pl.Series(a).zip_with(pl.Series(a) >= pl.Series(b), pl.Series(b))


def test_names_split_like_truth(joined):
    """Given name and surname land in the right fields.

    Noise the truth injects on purpose (typos, nicknames, initials, married names, alternative
    romanisations) changes the values, not the split: a split counts as right when the value in
    each field is closer to the truth's field than to the other one. Pinyin names with two
    surname-like syllables (``Zhang Wei``) cannot be ordered and are kept as written.
    """
    named = joined.filter(pl.col("given_name").is_not_null() & pl.col("surname").is_not_null())
    gg = _similarity(named["given_name"], named["given_name_right"], named["given_name_latin"])
    ss = _similarity(named["surname"], named["surname_right"], named["surname_latin"])
    gs = _similarity(named["given_name"], named["surname_right"], named["surname_latin"])
    sg = _similarity(named["surname"], named["given_name_right"], named["given_name_latin"])
    right = (gg + ss) > (gs + sg)
    exact = (gg == 100) & (ss == 100)
    rate = right.mean()
    print(f"\nnames split right: {rate:.4f} of {named.height}; exactly equal to truth: {exact.mean():.4f}")
    assert rate >= 0.95
    assert exact.mean() >= 0.75


def test_injected_bad_rows_are_caught(staged, synth_truth):
    _, _, bad = synth_truth
    bad = bad.filter(pl.col("kind").is_in(BAD_KINDS)).rename({"record_id": "source_record_id"})
    flagged = pl.concat([
        staged.quarantine.select("source", "source_record_id", "rule"),
        staged.field_issues.select("source", "source_record_id", "rule"),
    ])
    expected_rule = {"malformed_email": "malformed_email", "impossible_date": "impossible_date",
                     "empty_name": "missing_name", "ref_error": "excel_error",
                     "duplicate_pk": "duplicate_primary_key"}
    hits = bad.join(flagged, on=["source", "source_record_id"], how="left").with_columns(
        hit=pl.col("rule") == pl.col("kind").replace_strict(expected_rule))
    caught = hits.group_by("source", "source_record_id", "kind").agg(pl.col("hit").any())
    missed = caught.filter(~pl.col("hit"))
    print(f"\nbad rows caught: {caught.height - missed.height} of {caught.height}")
    assert missed.is_empty(), missed


def test_no_false_impossible_dates(staged, synth_truth):
    _, _, bad = synth_truth
    issues = staged.field_issues.filter(pl.col("rule").is_in(["impossible_date", "invalid_date"]))
    extra = issues.join(bad.rename({"record_id": "source_record_id"}), on=["source", "source_record_id"],
                        how="anti")
    assert extra.is_empty(), extra


def test_duplicate_keys_keep_most_recent(synth_frames, staged):
    erp = synth_frames["erp"]
    dup_ids = erp.filter(pl.col("customer_no").is_duplicated())["customer_no"].unique()
    assert dup_ids.len() > 0
    newest = (
        erp.filter(pl.col("customer_no").is_in(dup_ids.implode()))
        .sort("updated_at", descending=True).group_by("customer_no", maintain_order=True).first()
    )
    kept = staged.customers.filter(pl.col("source") == "erp").join(
        newest.select(pl.col("customer_no").alias("source_record_id"), pl.col("updated_at").alias("want")),
        on="source_record_id")
    assert kept.height == dup_ids.len()
    assert (kept["updated_at"].dt.strftime("%Y-%m-%d %H:%M:%S") == kept["want"]).all()


def test_timestamps_typed_or_text_agree(synth_frames, synth_shop_typed):
    as_text = stage_shop(synth_frames["shop"])
    typed = stage_shop(synth_shop_typed)
    assert synth_shop_typed.schema["created_at"] == pl.Datetime("us", "UTC")
    assert typed.customers.select("created_at", "updated_at").equals(
        as_text.customers.select("created_at", "updated_at"))
    assert set(typed.field_issues["rule"]) == set(as_text.field_issues["rule"])


def test_sources_stage_alone(synth_frames):
    assert stage_erp(synth_frames["erp"]).customers["source"].unique().to_list() == ["erp"]
    sheets = stage_sheets(synth_frames["sheets"]).customers
    assert set(sheets["source"].unique()) <= set(SHEET_SOURCES)
