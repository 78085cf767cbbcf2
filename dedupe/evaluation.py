"""How good is a clustering? Precision, recall and F1 of a crosswalk (record -> cluster) against labels.

Two kinds of labels:

* a **truth** table, record -> entity (``source, source_record_id, entity_id`` or ``record_id, entity_id``;
  a generated dataset's ``truth/records.csv``): pairwise and B-cubed scores over every record, and with
  ``hard_negatives`` (``entity_id_a, entity_id_b, kind``) how many look-alike pairs were merged;
* labelled **pairs** (``id_l, id_r`` and ``is_match`` or ``constraint`` must_link/cannot_link, e.g. a
  steward's decisions): pairwise scores over those pairs only.

Everything is counted from group sizes (``C(n, 2)`` per entity x cluster cell), never by listing pairs, so a
million records score in seconds. Records are keyed ``source:source_record_id`` (or ``record_id``); a truth
record the crosswalk lacks counts as a cluster of its own, a crosswalk row the truth lacks is ignored (both
are reported under ``coverage``).

    report = evaluate(read_table("crosswalk.parquet"), read_table("truth/records.csv"))
    report["pairwise"]["f1"], report["bcubed"]["f1"]
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

__all__ = ["EvaluationError", "evaluate", "evaluate_pairs", "read_crosswalk", "read_table", "read_truth",
           "scores"]

KEY = "record_id"
_TRUE_WORDS = ("true", "1", "yes", "y", "match", "must_link", "same")
_FALSE_WORDS = ("false", "0", "no", "n", "non-match", "non_match", "nonmatch", "cannot_link", "different")


class EvaluationError(ValueError):
    """Input that cannot be evaluated; the message names the file and what is wrong."""


def read_table(path: str | Path) -> pl.DataFrame:
    """A CSV (all columns as text) or Parquet file."""
    path = Path(path)
    if not path.is_file():
        raise EvaluationError(f"{path}: file not found")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pl.read_parquet(path)
        return pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise EvaluationError(f"{path}: cannot be read as {'Parquet' if path.suffix == '.parquet' else 'CSV'} "
                              f"({str(exc).splitlines()[0]})") from None


def read_crosswalk(path: str | Path, table: str = "golden.crosswalk") -> pl.DataFrame:
    """A crosswalk from a CSV/Parquet file or from ``table`` of a DuckDB warehouse (``.duckdb``/``.db``)."""
    path = Path(path)
    if path.suffix.lower() not in (".duckdb", ".db"):
        return read_table(path)
    if not path.is_file():
        raise EvaluationError(f"{path}: warehouse not found")
    import duckdb  # lazy: only a warehouse file needs the DuckDB engine

    try:
        with duckdb.connect(str(path), read_only=True) as con:
            return con.sql(f"select * from {table}").pl()
    except duckdb.Error as exc:
        raise EvaluationError(f"{path}: cannot read {table} ({str(exc).splitlines()[0]})") from None


def read_truth(path: str | Path) -> pl.DataFrame:
    """A truth table; a dataset folder or its ``truth/`` folder means its ``records.csv``."""
    path = Path(path)
    for candidate in (path / "truth" / "records.csv", path / "records.csv"):
        if path.is_dir() and candidate.is_file():
            return read_table(candidate)
    if path.is_dir():
        raise EvaluationError(f"{path}: folder holds no records.csv nor truth/records.csv")
    return read_table(path)


def _keyed(frame: pl.DataFrame, value: str, name: str, synonyms: tuple[str, ...] = ()) -> pl.DataFrame:
    """``record_id`` and ``value`` as text; the key built from ``source`` + ``source_record_id`` when present."""
    col = next((c for c in (value, *synonyms) if c in frame.columns), None)
    has_parts = {"source", "source_record_id"} <= set(frame.columns)
    if col is None or not (has_parts or KEY in frame.columns):
        need = f"'{value}'" + "".join(f" (or '{s}')" for s in synonyms)
        raise EvaluationError(f"{name}: needs columns 'source' + 'source_record_id' (or 'record_id') and {need}; "
                              f"has {frame.columns}")
    key = (pl.concat_str([pl.col("source").cast(pl.Utf8).str.strip_chars(), pl.lit(":"),
                          pl.col("source_record_id").cast(pl.Utf8).str.strip_chars()])
           if has_parts else pl.col(KEY).cast(pl.Utf8).str.strip_chars())
    out = frame.select(key.alias(KEY), pl.col(col).cast(pl.Utf8).str.strip_chars().alias(value))
    blank = out.with_row_index("row", offset=1).filter(pl.col(KEY).is_null() | pl.col(value).is_null()
                                                       | (pl.col(value) == ""))
    if blank.height:
        row = blank.row(0, named=True)
        field = KEY if row[KEY] is None else col
        raise EvaluationError(f"{name}: row {row['row']}: {field} is empty ({blank.height} such rows)")
    numbered = out.with_row_index("row", offset=1)
    dup = numbered.filter(~pl.col(KEY).is_first_distinct())
    if dup.height:
        row = dup.row(0, named=True)
        first = numbered.filter(pl.col(KEY) == row[KEY])["row"][0]
        raise EvaluationError(f"{name}: row {row['row']}: record {row[KEY]} appears more than once (first on row "
                              f"{first}; {dup[KEY].n_unique()} duplicated records)")
    return out


def _f1(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def scores(labelled: pl.DataFrame) -> dict:
    """Pairwise and B-cubed scores of ``labelled`` (one row per record: ``entity_id``, ``golden_id``).

    Pairwise: true positives are record pairs sharing entity and cluster, ``sum C(n, 2)`` over the entity x
    cluster cells; precision is 1.0 when no pair is predicted. B-cubed: per record, the share of its cluster
    that is its entity (precision) and of its entity that is in its cluster (recall), averaged.
    """
    n = labelled.height
    if n == 0:
        raise EvaluationError("nothing to evaluate: the truth has no records")
    cells = labelled.group_by("entity_id", "golden_id").len("n_ij").with_columns(
        n_i=pl.col("n_ij").sum().over("entity_id"), n_j=pl.col("n_ij").sum().over("golden_id"))

    def pairs(size: str) -> pl.Expr:
        return (pl.col(size).cast(pl.Int64) * (pl.col(size) - 1) // 2)

    s = cells.select(
        tp=pairs("n_ij").sum(),
        b3_p=(pl.col("n_ij") ** 2 / pl.col("n_j")).sum() / n,
        b3_r=(pl.col("n_ij") ** 2 / pl.col("n_i")).sum() / n,
    ).row(0, named=True)
    true_pairs = int(labelled.group_by("entity_id").len().select(pairs("len").sum()).item())
    predicted = int(labelled.group_by("golden_id").len().select(pairs("len").sum()).item())
    tp = int(s["tp"])
    p = tp / predicted if predicted else 1.0
    r = tp / true_pairs if true_pairs else 1.0
    return {
        "records": n,
        "true_clusters": int(labelled["entity_id"].n_unique()),
        "predicted_clusters": int(labelled["golden_id"].n_unique()),
        "pairwise": {"precision": p, "recall": r, "f1": _f1(p, r), "true_positive_pairs": tp,
                     "predicted_pairs": predicted, "true_pairs": true_pairs},
        "bcubed": {"precision": s["b3_p"], "recall": s["b3_r"], "f1": _f1(s["b3_p"], s["b3_r"])},
    }


def _merged_hard_negatives(labelled: pl.DataFrame, negatives: pl.DataFrame) -> dict:
    """Look-alike entity pairs (must stay apart) with records in one cluster, in all and per kind."""
    missing = {"entity_id_a", "entity_id_b"} - set(negatives.columns)
    if missing:
        raise EvaluationError(f"hard negatives: missing columns {sorted(missing)}")
    neg = negatives.select(pl.col("entity_id_a").cast(pl.Utf8), pl.col("entity_id_b").cast(pl.Utf8),
                           (pl.col("kind").cast(pl.Utf8) if "kind" in negatives.columns
                            else pl.lit("hard_negative")).alias("kind")).unique()
    cells = labelled.select("entity_id", "golden_id").unique()
    merged = (neg.join(cells.rename({"entity_id": "entity_id_a"}), on="entity_id_a")
              .join(cells.rename({"entity_id": "entity_id_b"}), on=["entity_id_b", "golden_id"])
              .select("entity_id_a", "entity_id_b", "kind").unique())
    per_kind = neg.group_by("kind").len("pairs").join(merged.group_by("kind").len("merged"), on="kind",
                                                        how="left").sort("kind")
    return {"pairs": neg.height, "merged": merged.height,
            "by_kind": {k: {"pairs": p, "merged": m or 0} for k, p, m in per_kind.iter_rows()}}


def evaluate(crosswalk: pl.DataFrame, truth: pl.DataFrame, *, hard_negatives: pl.DataFrame | None = None,
             names: tuple[str, str] = ("crosswalk", "truth")) -> dict:
    """Scores of ``crosswalk`` (record -> ``golden_id`` or ``cluster_id``) against ``truth`` (record ->
    ``entity_id``). ``names`` label the two inputs in error messages (e.g. their file names)."""
    cw = _keyed(crosswalk, "golden_id", names[0], ("cluster_id",))
    tr = _keyed(truth, "entity_id", names[1])
    labelled = tr.join(cw, on=KEY, how="left")
    n_missing = int(labelled["golden_id"].null_count())
    labelled = labelled.with_columns(pl.coalesce("golden_id", pl.lit("\x00missing:") + pl.col(KEY)))
    report = scores(labelled)
    report["coverage"] = {"truth_records": tr.height, "crosswalk_rows": cw.height,
                          "missing_from_crosswalk": n_missing,
                          "unknown_in_crosswalk": cw.join(tr, on=KEY, how="anti").height}
    if hard_negatives is not None:
        report["hard_negatives"] = _merged_hard_negatives(labelled, hard_negatives)
    return report


def _pair_labels(pairs: pl.DataFrame, name: str) -> pl.DataFrame:
    """``id_l, id_r, is_match`` (bool) from ``is_match`` or ``constraint``, order-free and one row per pair."""
    label = next((c for c in ("is_match", "constraint", "label") if c in pairs.columns), None)
    if not {"id_l", "id_r"} <= set(pairs.columns) or label is None:
        raise EvaluationError(f"{name}: needs columns 'id_l', 'id_r' and 'is_match' (or 'constraint' "
                              f"must_link/cannot_link); has {pairs.columns}")
    text = pl.col(label).cast(pl.Utf8).str.strip_chars().str.to_lowercase()
    frame = pairs.with_row_index("row", offset=1).select(
        "row", pl.col("id_l").cast(pl.Utf8).str.strip_chars(), pl.col("id_r").cast(pl.Utf8).str.strip_chars(),
        pl.when(text.is_in(_TRUE_WORDS)).then(True).when(text.is_in(_FALSE_WORDS)).then(False)
        .alias("is_match"), pl.col(label).cast(pl.Utf8).alias("raw"))
    bad = frame.filter(pl.col("is_match").is_null() | pl.col("id_l").is_null() | pl.col("id_r").is_null()
                       | (pl.col("id_l") == pl.col("id_r")))
    if bad.height:
        row = bad.row(0, named=True)
        what = (f"{label} {row['raw']!r} is not a match/non-match label" if row["is_match"] is None and
                row["id_l"] and row["id_r"] else "id_l and id_r must be two different records")
        raise EvaluationError(f"{name}: row {row['row']}: {what} ({bad.height} such rows)")
    ordered = frame.select(pl.min_horizontal("id_l", "id_r").alias("id_l"),
                           pl.max_horizontal("id_l", "id_r").alias("id_r"), "is_match", "row")
    conflict = ordered.filter(pl.col("is_match").n_unique().over("id_l", "id_r") > 1)
    if conflict.height:
        row = conflict.row(0, named=True)
        raise EvaluationError(f"{name}: row {row['row']}: pair {row['id_l']} / {row['id_r']} is labelled both "
                              f"match and non-match")
    return ordered.unique(["id_l", "id_r"], keep="first").drop("row")


def evaluate_pairs(crosswalk: pl.DataFrame, pairs: pl.DataFrame,
                   names: tuple[str, str] = ("crosswalk", "pairs")) -> dict:
    """Pairwise scores over labelled pairs only: a pair is predicted a match when both records share a
    cluster. A record the crosswalk lacks is its own cluster (counted in ``records_not_in_crosswalk``)."""
    cw = _keyed(crosswalk, "golden_id", names[0], ("cluster_id",))
    lab = _pair_labels(pairs, names[1])
    joined = (lab.join(cw.rename({KEY: "id_l", "golden_id": "g_l"}), on="id_l", how="left")
              .join(cw.rename({KEY: "id_r", "golden_id": "g_r"}), on="id_r", how="left"))
    same = (pl.col("g_l") == pl.col("g_r")).fill_null(False)
    c = joined.select(
        tp=(same & pl.col("is_match")).sum(), fp=(same & ~pl.col("is_match")).sum(),
        fn=(~same & pl.col("is_match")).sum(), tn=(~same & ~pl.col("is_match")).sum(),
    ).row(0, named=True)
    tp, fp, fn, tn = (int(c[k]) for k in ("tp", "fp", "fn", "tn"))
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    unseen = pl.concat([joined.filter(pl.col("g_l").is_null())["id_l"],
                        joined.filter(pl.col("g_r").is_null())["id_r"]]).n_unique()
    return {"pairs": lab.height, "match_pairs": tp + fn, "non_match_pairs": fp + tn,
            "precision": p, "recall": r, "f1": _f1(p, r),
            "true_positives": tp, "false_positives": fp, "false_negatives": fn, "true_negatives": tn,
            "records_not_in_crosswalk": int(unseen)}
