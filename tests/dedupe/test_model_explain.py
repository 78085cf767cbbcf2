"""Fellegi-Sunter model (training, reuse, calibration) and the per-pair waterfall, on the generated 2k dataset."""

from __future__ import annotations

import polars as pl
import pytest

from dedupe import FSModel, calibrate, default_settings, explain_pair, score, waterfall
from dedupe.matching.explain import with_level_labels
from dedupe.matching.model import ModelMismatch


def truth_labels(result, synth_dir) -> pl.DataFrame:
    truth = pl.read_csv(synth_dir / "truth" / "records.csv", infer_schema=False).select(
        rid=pl.col("source") + ":" + pl.col("source_record_id"), entity="entity_id")
    pairs = result.pairs.select("id_l", "id_r")
    return (pairs.join(truth.rename({"rid": "id_l", "entity": "e_l"}), on="id_l")
            .join(truth.rename({"rid": "id_r", "entity": "e_r"}), on="id_r")
            .select("id_l", "id_r", is_match=pl.col("e_l") == pl.col("e_r")))


def test_trained_weights_follow_the_evidence(result_2k):
    comps = result_2k.model.comparisons
    bf = {name: dict(zip(p.levels, p.bf()[::-1], strict=True)) for name, p in comps.items()}
    assert bf["email"]["same address"] > 8 > bf["email"]["same role address (info@, sales@)"] - 4
    assert bf["email"]["different address"] < 0
    # measured (seed 7): same number 12.2, two different mobiles -3.8
    assert bf["phone"]["same number"] > 8 and bf["phone"]["two different mobiles"] < -3
    assert bf["name"]["same name"] > bf["name"]["nickname, same surname"] - 3 > 0
    assert bf["name"]["different name"] < -3
    assert 0 < result_2k.model.prior < 0.01
    passes = result_2k.model.training["passes"]
    assert {p["rule"] for p in passes} == {r.name for r in default_settings().blocking_rules}


def test_probabilities_separate_matches_from_non_matches(result_2k, synth_2k):
    lab = truth_labels(result_2k, synth_2k).join(result_2k.pairs.select("id_l", "id_r", "match_probability"),
                                                 on=["id_l", "id_r"])
    matches = lab.filter(pl.col("is_match"))["match_probability"]
    others = lab.filter(~pl.col("is_match"))["match_probability"]
    high_matches, high_others = int((matches >= 0.9).sum()), int((others >= 0.9).sum())
    assert high_matches / matches.len() > 0.95                  # most true pairs score high
    # and high scores are mostly true (measured, seed 7: 1,955 of 2,085 = 0.938)
    assert high_matches / (high_matches + high_others) > 0.92
    assert matches.median() > 0.99 > others.median()


def test_model_reuse_requires_matching_settings(result_2k):
    settings = default_settings()
    comps = tuple(c for c in settings.comparisons if c.name != "phone")
    with pytest.raises(ModelMismatch, match="model levels|retrain"):
        FSModel.from_dict({**result_2k.model.to_dict(),
                           "comparisons": {**result_2k.model.to_dict()["comparisons"],
                                           "email": {"levels": ["x", "y"], "m": [0.5, 0.5], "u": [0.5, 0.5]}}}
                          ).check(settings)
    result_2k.model.check(settings.replace(comparisons=comps, cannot_link=()))   # a subset is fine


def test_calibration_from_steward_labels(result_2k, synth_2k):
    labels = truth_labels(result_2k, synth_2k).sample(n=400, seed=3)
    calibrated = calibrate(result_2k.model, result_2k.pairs, labels)
    assert calibrated.calibration is not None and calibrated.training["calibration_pairs"] == 400
    settings = default_settings()
    rescored, _ = score(result_2k.features, result_2k.pairs.select("id_l", "id_r", "rule"), settings, calibrated)
    lab = truth_labels(result_2k, synth_2k).join(rescored.select("id_l", "id_r", "match_probability"),
                                                 on=["id_l", "id_r"])
    brier = lab.select(((pl.col("match_probability") - pl.col("is_match").cast(pl.Float64)) ** 2).mean()).item()
    before = truth_labels(result_2k, synth_2k).join(result_2k.pairs.select("id_l", "id_r", "match_probability"),
                                                    on=["id_l", "id_r"])
    brier_before = before.select(((pl.col("match_probability") - pl.col("is_match").cast(pl.Float64)) ** 2).mean()).item()
    assert brier <= brier_before + 1e-9
    with pytest.raises(ValueError, match="at least 10 labelled"):
        calibrate(result_2k.model, result_2k.pairs, labels.head(3))


def test_waterfall_adds_up_and_reads_well(result_2k):
    settings = default_settings()
    top = result_2k.pairs.sort("match_weight", descending=True).row(0, named=True)
    wf = waterfall(result_2k.pairs, settings, top["id_r"], top["id_l"])    # order does not matter
    assert wf["comparison"].to_list() == ["prior"] + [c.name for c in settings.comparisons]
    assert abs(wf["cumulative"][-1] - top["match_weight"]) < 1e-6
    assert abs(wf["probability"][-1] - top["match_probability"]) < 1e-6
    text = explain_pair(result_2k.pairs, settings, top["id_l"], top["id_r"])
    assert text.startswith("match weight") and "email:" in text or "phone:" in text
    labelled = with_level_labels(result_2k.pairs.head(50), settings)
    assert labelled["level_email"].null_count() == 0
    with pytest.raises(KeyError, match="not scored"):
        waterfall(result_2k.pairs, settings, "erp:none", "shop:none")
