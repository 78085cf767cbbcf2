"""Splink 5 (DuckDB backend) on the same inputs as the engine, for side-by-side benchmarks.
Runs in the benchmark venv (see README.md), prints one JSON line.

    python benchmarks/run_splink.py INPUT --kind crm|febrl --id COLUMN --out CLUSTERS.parquet
                                    [--link-with OTHER] [--threshold 0.5 | --thresholds 0.5,0.9,0.99]
                                    [--memory-limit 5GB]

``crm``: canonical customer records (benchmarks/crm_synth_source.py) with a customer configuration:
cleaned name parts, e-mail (Splink's EmailComparison on the address without +tag), phone by its
last nine digits, postcode, city and street with term frequencies, blocking on e-mail, phone,
name + postcode/city. ``febrl``: the usual FEBRL person configuration.
Timed: everything from the loaded table to clusters (cleaning SQL, training, predict, clustering);
with several thresholds each one's time is the shared part plus its own clustering.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import time

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _read(path: str) -> pd.DataFrame:
    if path.endswith(".parquet"):
        return pq.read_table(path).to_pandas()
    return pd.read_csv(path, dtype=str, keep_default_na=False).replace({"": None})


# Missing-value markers the sources use ("N/A", "-", "null" ...) become NULL before anything else:
# left as text, every "n/a" e-mail would agree with every other one and chain thousands of records.
_MISSING = "('', 'n/a', 'na', '-', '--', 'null', 'none', 'nan', '?')"
_CLEANED_COLUMNS = ("given_name", "surname", "full_name", "company_name", "email", "phone", "street",
                    "postal_code", "city")
_NULLED = ", ".join(f"CASE WHEN lower(trim({c})) IN {_MISSING} THEN NULL ELSE {c} END AS {c}"
                    for c in _CLEANED_COLUMNS)

CRM_CLEAN = """
SELECT {id} AS unique_id,
  NULLIF(lower(trim(regexp_replace(
      COALESCE(given_name, CASE WHEN full_name LIKE '%,%' THEN split_part(full_name, ',', 2)
                                ELSE regexp_extract(full_name, '^\\S+') END), '[^[:alpha:] ]', '', 'g'))), '') AS first_name,
  NULLIF(lower(trim(regexp_replace(
      COALESCE(surname, CASE WHEN full_name LIKE '%,%' THEN split_part(full_name, ',', 1)
                             ELSE regexp_extract(full_name, '(\\S+)$') END), '[^[:alpha:] ]', '', 'g'))), '') AS surname,
  NULLIF(regexp_replace(lower(trim(email)), '\\+[^@]*@', '@'), '') AS email,
  NULLIF(right(regexp_replace(phone, '[^0-9]', '', 'g'), 9), '') AS phone,
  NULLIF(upper(regexp_replace(postal_code, '[^0-9A-Za-z]', '', 'g')), '') AS postcode,
  NULLIF(lower(trim(regexp_replace(city, ',.*$', ''))), '') AS city,
  NULLIF(lower(trim(street)), '') AS street,
  NULLIF(lower(trim(company_name)), '') AS company
FROM (SELECT {id}, """ + _NULLED + """ FROM raw)
"""


def crm_settings(link_type: str):
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on
    return SettingsCreator(
        link_type=link_type,
        comparisons=[
            # term frequencies on names (as Splink's own examples do) and on e-mail / phone, so a
            # value many records share (Sarah Williams, info@, a switchboard) is weaker evidence
            cl.NameComparison("first_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.EmailComparison("email").configure(term_frequency_adjustments=True),
            cl.LevenshteinAtThresholds("phone", [1]).configure(term_frequency_adjustments=True),
            cl.LevenshteinAtThresholds("postcode", [1, 2]),
            cl.ExactMatch("city").configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("street", [0.9, 0.8]),
            cl.JaroWinklerAtThresholds("company", [0.9]),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("email"), block_on("phone"), block_on("first_name", "surname", "postcode"),
            block_on("first_name", "surname", "city"), block_on("surname", "street"),
        ],
        retain_intermediate_calculation_columns=False,
    )


def febrl_settings(link_type: str):
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on
    return SettingsCreator(
        link_type=link_type,
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DamerauLevenshteinAtThresholds("date_of_birth", [1, 2]),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number"),
            cl.JaroWinklerAtThresholds("address_1", [0.9, 0.8]),
            cl.JaroWinklerAtThresholds("suburb", [0.9]).configure(term_frequency_adjustments=True),
            cl.LevenshteinAtThresholds("postcode", [1]),
            cl.ExactMatch("state"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("soc_sec_id"), block_on("date_of_birth"), block_on("given_name", "surname"),
            block_on("surname", "postcode"), block_on("given_name", "postcode"),
        ],
        retain_intermediate_calculation_columns=False,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("--kind", choices=["crm", "febrl"], required=True)
    ap.add_argument("--id", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--link-with")
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--thresholds", help="comma-separated match probabilities: the one prediction is clustered "
                                         "at each (the first goes to --out, the others to OUT_p<threshold>)")
    ap.add_argument("--u-pairs", type=float, default=1e7)
    ap.add_argument("--memory-limit", help="DuckDB memory_limit, e.g. 5GB (default: DuckDB's own, 80%% of RAM)")
    a = ap.parse_args()
    logging.getLogger("splink").setLevel(logging.ERROR)
    from splink import DuckDBAPI, Linker, block_on

    frames = [_read(a.input)] + ([_read(a.link_with)] if a.link_with else [])
    t0, c0 = time.perf_counter(), _cpu()
    db = DuckDBAPI()
    if a.memory_limit:   # DuckDB spills to disk beyond this instead of growing
        db.duckdb_con.execute(f"SET memory_limit = '{a.memory_limit}'")
    link_type = "link_only" if a.link_with else "dedupe_only"
    tables = []
    for i, df in enumerate(frames):
        if a.kind == "crm":
            db.duckdb_con.register("raw", df)
            df = db.duckdb_con.execute(CRM_CLEAN.format(id=a.id)).df()
            db.duckdb_con.unregister("raw")
        else:
            df = df.rename(columns={a.id: "unique_id"})
        tables.append(db.register(df, dataset_display_name=f"t{i}"))
    settings = crm_settings(link_type) if a.kind == "crm" else febrl_settings(link_type)
    linker = Linker(tables if a.link_with else tables[0], settings)
    if a.kind == "crm":
        deterministic = [block_on("email"), block_on("phone")]
        em_rules = [block_on("email"), block_on("phone"), block_on("first_name", "surname")]
    else:
        deterministic = [block_on("soc_sec_id"), block_on("given_name", "surname", "date_of_birth")]
        em_rules = [block_on("date_of_birth"), block_on("given_name", "surname")]
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=a.u_pairs, seed=1)
    for rule in em_rules:
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    thresholds = [float(x) for x in a.thresholds.split(",")] if a.thresholds else [a.threshold]
    pred = linker.inference.predict(threshold_match_probability=min(0.5, *thresholds))
    shared = time.perf_counter() - t0
    runs = {}
    for thr in thresholds:      # one prediction, clustered (connected components) at each threshold
        t1 = time.perf_counter()
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, thr).as_pandas_dataframe()
        seconds = shared + time.perf_counter() - t1
        out_path = a.out if thr == thresholds[0] else threshold_path(a.out, thr)
        pq.write_table(pa.table({a.id: clusters["unique_id"].astype(str).tolist(),
                                 "cluster_id": clusters["cluster_id"].astype(str).tolist()}), out_path)
        runs[str(thr)] = {"out": out_path, "seconds": round(seconds, 2)}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    print(json.dumps({"tool": "splink", "records": int(sum(len(f) for f in frames)),
                      "threshold": thresholds[0], "seconds": runs[str(thresholds[0])]["seconds"],
                      "cpu_seconds": round(_cpu() - c0, 1), "peak_rss_gb": round(peak, 3), "thresholds": runs}))


def threshold_path(out: str, thr: float) -> str:
    """Where the clusters at an extra threshold go: CLUSTERS_p0.99.parquet next to --out."""
    stem, dot, ext = out.rpartition(".")
    return f"{stem}_p{thr}.{ext}" if dot else f"{out}_p{thr}"


if __name__ == "__main__":
    main()
