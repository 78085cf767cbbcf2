"""dedupe.evaluation and ``crm-golden evaluate`` on hand-labelled fixtures whose scores are worked out below."""

from __future__ import annotations

import json

import duckdb
import polars as pl
import pytest

from dedupe.evaluation import EvaluationError, evaluate, evaluate_pairs, scores
from pipelines.cli import main

# entities A (3 records), B (2), C (1), D (1); clusters X = {a1, a2, d1}, Y = {a3, b1, b2}, Z = {c1}
TRUTH = pl.DataFrame({"source": ["erp"] * 7, "source_record_id": ["a1", "a2", "a3", "b1", "b2", "c1", "d1"],
                      "entity_id": ["A", "A", "A", "B", "B", "C", "D"]})
CROSSWALK = pl.DataFrame({"source": ["erp"] * 7, "source_record_id": ["a1", "a2", "d1", "a3", "b1", "b2", "c1"],
                          "golden_id": ["X", "X", "X", "Y", "Y", "Y", "Z"]})
NEGATIVES = pl.DataFrame({"entity_id_a": ["A", "B", "A"], "entity_id_b": ["D", "C", "B"],
                          "kind": ["household", "namesake", "namesake"]})
# cells (entity, cluster): AX 2, DX 1, AY 1, BY 2, CZ 1 -> correct pairs 1 + 1 = 2;
# predicted pairs C(3,2) + C(3,2) = 6; true pairs C(3,2) + C(2,2) = 4
PAIRWISE = {"precision": 2 / 6, "recall": 2 / 4, "f1": 2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2)}
# per record |cluster & entity| / |cluster|: a1 2/3 a2 2/3 d1 1/3 a3 1/3 b1 2/3 b2 2/3 c1 1 -> 13/3 over 7
# per record |cluster & entity| / |entity|: a1 2/3 a2 2/3 d1 1  a3 1/3 b1 1   b2 1   c1 1 -> 17/3 over 7
BCUBED = {"precision": 13 / 21, "recall": 17 / 21, "f1": 2 * 13 * 17 / (21 * 30)}


def close(got: dict, want: dict) -> bool:
    return all(got[k] == pytest.approx(v, abs=1e-12) for k, v in want.items())


def test_pairwise_and_bcubed_by_hand():
    report = evaluate(CROSSWALK, TRUTH)
    assert close(report["pairwise"], PAIRWISE) and close(report["bcubed"], BCUBED)
    assert (report["pairwise"]["true_positive_pairs"], report["pairwise"]["predicted_pairs"],
            report["pairwise"]["true_pairs"]) == (2, 6, 4)
    assert (report["records"], report["true_clusters"], report["predicted_clusters"]) == (7, 4, 3)
    assert report["coverage"] == {"truth_records": 7, "crosswalk_rows": 7, "missing_from_crosswalk": 0,
                                  "unknown_in_crosswalk": 0}


def test_truth_as_crosswalk_is_perfect_and_singletons_have_no_recall():
    perfect = evaluate(TRUTH.rename({"entity_id": "golden_id"}), TRUTH)
    assert close(perfect["pairwise"], {"precision": 1, "recall": 1, "f1": 1}) and perfect["bcubed"]["f1"] == 1
    alone = evaluate(TRUTH.with_columns(golden_id=pl.col("source_record_id")), TRUTH)
    assert close(alone["pairwise"], {"precision": 1.0, "recall": 0.0, "f1": 0.0})   # no pair predicted
    assert close(alone["bcubed"], {"precision": 1.0, "recall": (1 / 3 * 3 + 1 / 2 * 2 + 1 + 1) / 7})


def test_missing_records_are_singletons_and_unknown_rows_are_ignored():
    # c1 dropped (it was alone anyway), a stray row added: same scores, both counted
    cw = pl.concat([CROSSWALK.filter(pl.col("source_record_id") != "c1"),
                    pl.DataFrame({"source": ["shop"], "source_record_id": ["zz"], "golden_id": ["X"]})])
    report = evaluate(cw, TRUTH)
    assert close(report["pairwise"], PAIRWISE) and close(report["bcubed"], BCUBED)
    assert report["coverage"]["missing_from_crosswalk"] == 1 and report["coverage"]["unknown_in_crosswalk"] == 1
    # a record id column and cluster_id (the engine's clusters) work as well
    engine = CROSSWALK.select(record_id=pl.col("source") + ":" + pl.col("source_record_id"), cluster_id="golden_id")
    assert close(evaluate(engine, TRUTH)["bcubed"], BCUBED)


def test_merged_look_alikes_per_kind():
    hn = evaluate(CROSSWALK, TRUTH, hard_negatives=NEGATIVES)["hard_negatives"]
    # A-D share X, A-B share Y, B-C never meet
    assert hn == {"pairs": 3, "merged": 2, "by_kind": {"household": {"pairs": 1, "merged": 1},
                                                       "namesake": {"pairs": 2, "merged": 1}}}


def test_labelled_pairs():
    pairs = pl.DataFrame({
        "id_l": ["erp:a1", "erp:a1", "erp:a3", "erp:b1", "erp:b2", "erp:a2"],
        "id_r": ["erp:a2", "erp:d1", "erp:a1", "erp:c1", "erp:b1", "erp:a1"],   # last: a1/a2 again, reversed
        "is_match": ["true", "false", "1", "0", "match", "yes"]})
    # a1-a2 same cluster, match: TP; a1-d1 same, non-match: FP; a3-a1 apart, match: FN; b1-c1 apart: TN; b1-b2 TP
    got = evaluate_pairs(CROSSWALK, pairs)
    assert (got["pairs"], got["true_positives"], got["false_positives"], got["false_negatives"],
            got["true_negatives"]) == (5, 2, 1, 1, 1)
    assert close(got, {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3})
    decisions = pl.DataFrame({"id_l": ["erp:a1", "erp:b1", "shop:new"], "id_r": ["erp:d1", "erp:c1", "erp:a1"],
                              "constraint": ["cannot_link", "cannot_link", "must_link"]})
    got = evaluate_pairs(CROSSWALK, decisions)
    assert (got["false_positives"], got["true_negatives"], got["false_negatives"]) == (1, 1, 1)
    assert got["records_not_in_crosswalk"] == 1 and got["precision"] == 0.0 and got["recall"] == 0.0


@pytest.mark.parametrize("crosswalk, truth, message", [
    (pl.concat([CROSSWALK, CROSSWALK.head(1)]), TRUTH, "cw.csv: row 8: record erp:a1 appears more than once"),
    (CROSSWALK.drop("golden_id"), TRUTH, "cw.csv: needs columns"),
    (CROSSWALK, TRUTH.with_columns(entity_id=pl.when(pl.col("source_record_id") == "b2").then(None)
                                   .otherwise("entity_id")), "truth.csv: row 5: entity_id is empty"),
])
def test_bad_inputs_name_file_row_and_field(crosswalk, truth, message):
    with pytest.raises(EvaluationError) as info:
        evaluate(crosswalk, truth, names=("cw.csv", "truth.csv"))
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


@pytest.mark.parametrize("pairs, message", [
    (pl.DataFrame({"id_l": ["erp:a1"], "id_r": ["erp:a2"], "is_match": ["maybe"]}),
     "p.csv: row 1: is_match 'maybe' is not a match/non-match label"),
    (pl.DataFrame({"id_l": ["erp:a1", "erp:a2"], "id_r": ["erp:a2", "erp:a1"], "is_match": ["1", "0"]}),
     "p.csv: row 1: pair erp:a1 / erp:a2 is labelled both match and non-match"),
    (pl.DataFrame({"id_l": ["erp:a1"], "id_r": ["erp:a2"]}), "p.csv: needs columns 'id_l', 'id_r' and 'is_match'"),
])
def test_bad_pair_labels_are_named(pairs, message):
    with pytest.raises(EvaluationError, match="^" + message.replace("(", r"\(")):
        evaluate_pairs(CROSSWALK, pairs, names=("cw", "p.csv"))


def test_scores_count_without_listing_pairs():
    # 200,000 records of one entity in one cluster: 2e10 pairs are counted, not listed
    big = pl.DataFrame({"entity_id": ["e"] * 200_000, "golden_id": ["g"] * 200_000})
    got = scores(big)
    assert got["pairwise"]["true_pairs"] == 200_000 * 199_999 // 2 and got["pairwise"]["f1"] == 1.0


# -- crm-golden evaluate ---------------------------------------------------------------------------

@pytest.fixture
def files(tmp_path):
    (tmp_path / "truth").mkdir()
    TRUTH.write_csv(tmp_path / "truth" / "records.csv")
    NEGATIVES.write_csv(tmp_path / "truth" / "hard_negatives.csv")
    CROSSWALK.write_parquet(tmp_path / "crosswalk.parquet")
    pl.DataFrame({"id_l": ["erp:a1", "erp:a1"], "id_r": ["erp:a2", "erp:d1"],
                  "is_match": [True, False]}).write_csv(tmp_path / "pairs.csv")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute("create schema golden")
        con.register("cw", CROSSWALK.to_arrow())
        con.execute("create table golden.crosswalk as select * from cw")
    return tmp_path


def test_cli_json_from_a_parquet_crosswalk_and_a_dataset_folder(files, capsys):
    assert main(["evaluate", "--crosswalk", str(files / "crosswalk.parquet"), "--truth", str(files),
                 "--pairs", str(files / "pairs.csv"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert close(report["pairwise"], PAIRWISE) and close(report["bcubed"], BCUBED)
    assert report["hard_negatives"]["merged"] == 2   # truth/hard_negatives.csv found beside records.csv
    assert (report["labelled_pairs"]["true_positives"], report["labelled_pairs"]["false_positives"]) == (1, 1)


def test_cli_text_from_a_warehouse(files, capsys):
    assert main(["evaluate", "--crosswalk", str(files / "warehouse.duckdb"),
                 "--truth", str(files / "truth" / "records.csv")]) == 0
    out = capsys.readouterr().out
    assert "pairwise  P=0.3333 R=0.5000 F1=0.4000" in out
    assert f"b-cubed   P={13 / 21:.4f} R={17 / 21:.4f}" in out
    assert "look-alikes merged 2/3 (household 1/1, namesake 1/2)" in out


@pytest.mark.parametrize("args, message", [
    (["--crosswalk", "nowhere.csv", "--truth", "t.csv"], "nowhere.csv: file not found"),
    (["--crosswalk", "{files}/crosswalk.parquet"], "evaluate needs --truth FILE, --pairs FILE or both"),
    (["--crosswalk", "{files}/empty.duckdb", "--truth", "{files}"], "cannot read golden.crosswalk"),
])
def test_cli_errors_are_one_line(files, capsys, args, message):
    duckdb.connect(str(files / "empty.duckdb")).close()
    assert main(["evaluate", *(a.format(files=files) for a in args)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("crm-golden: error: ") and message in err and "\n" not in err
