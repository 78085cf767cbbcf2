"""GoldenMatch 3.22 on the same inputs as the engine, for side-by-side benchmarks. Runs in the
benchmark venv (see README.md), prints one JSON line.

    python benchmarks/run_goldenmatch.py INPUT --id COLUMN --out CLUSTERS.parquet [--link-with OTHER]
                                         [--config auto|crm] [--backend NAME]

``auto``: zero-config (its documented default: it chooses blocking, scorers and threshold itself).
``crm``: an explicit ``GoldenMatchConfig`` on the columns Splink's crm run uses (same cleaning SQL,
so both competitors see identical inputs), written the way its documentation describes, one
matchkey per rule (a pair matches when ANY matchkey fires): exact e-mail, exact phone, and a
weighted name + address matchkey (given name with its nickname table, surname, postcode, city,
street; threshold 0.85; a conflicting e-mail or phone subtracts 0.3 each, its negative-evidence
option) whose candidates come from multi-pass blocking on surname + postcode / city / street. ``--backend`` picks its execution backend (e.g. ``bucket``, ``duckdb``).
Two tables are stacked and deduplicated together (pairs inside one table are ignored when a
link-only job is scored). The id column is excluded from matching.
Timed: from the loaded table to clusters (cleaning included).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

os.environ.setdefault("GOLDENMATCH_SUGGEST_ON_DEDUPE", "0")
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _read(path: str) -> pa.Table:
    if path.endswith(".parquet"):
        return pq.read_table(path)
    opts = pacsv.ConvertOptions(column_types={}, strings_can_be_null=True)
    t = pacsv.read_csv(path, convert_options=opts)
    return t.cast(pa.schema([pa.field(f.name, pa.string()) for f in t.schema]))


def crm_config():
    """Separate matchkeys = OR of rules; exact keys need no blocking, the weighted key does."""
    from goldenmatch.config.schemas import (
        BlockingConfig,
        BlockingKeyConfig,
        GoldenMatchConfig,
        MatchkeyConfig,
        MatchkeyField,
        NegativeEvidenceField,
    )
    exact = [MatchkeyConfig(name=f"exact_{c}", type="exact", fields=[MatchkeyField(field=c)])
             for c in ("email", "phone")]
    # a conflicting e-mail or phone (both present, different) is evidence of two people
    conflict = [NegativeEvidenceField(field=c, scorer="exact", threshold=1.0, penalty=0.3) for c in ("email", "phone")]
    person = MatchkeyConfig(name="name_address", type="weighted", threshold=0.85, fields=[
        MatchkeyField(field="first_name", scorer="given_name_aliased_jw", weight=0.25),
        MatchkeyField(field="surname", scorer="jaro_winkler", weight=0.25),
        MatchkeyField(field="postcode", scorer="exact", weight=0.2),
        MatchkeyField(field="city", scorer="jaro_winkler", weight=0.1),
        MatchkeyField(field="street", scorer="token_sort", weight=0.2),
    ], negative_evidence=conflict)
    blocking = BlockingConfig(strategy="multi_pass", passes=[
        BlockingKeyConfig(fields=["surname", "postcode"]), BlockingKeyConfig(fields=["surname", "city"]),
        BlockingKeyConfig(fields=["surname", "street"])])
    return GoldenMatchConfig(matchkeys=[*exact, person], blocking=blocking)


def crm_clean(table: pa.Table, uid: str) -> pa.Table:
    """The cleaning Splink's crm run uses (run_splink.CRM_CLEAN), so both tools get the same columns."""
    import duckdb
    from run_splink import CRM_CLEAN
    con = duckdb.connect()
    con.register("raw", table)
    out = con.sql(CRM_CLEAN.format(id=uid)).to_arrow_table()
    return out.rename_columns([uid if c == "unique_id" else c for c in out.column_names])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("--id", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--link-with")
    ap.add_argument("--config", choices=["auto", "crm"], default="auto")
    ap.add_argument("--backend", help="GoldenMatch execution backend (default: its in-memory default)")
    a = ap.parse_args()
    logging.disable(logging.WARNING)
    import goldenmatch as gm

    tables = [_read(a.input)] + ([_read(a.link_with)] if a.link_with else [])
    table = pa.concat_tables([t.select(tables[0].column_names) for t in tables]) if len(tables) > 1 else tables[0]
    drop = [c for c in ("source", "source_record_id") if c in table.column_names]
    table = table.drop_columns(drop) if drop else table
    table = table.cast(pa.schema([pa.field(f.name, pa.string()) for f in table.schema]))
    t0, c0 = time.perf_counter(), _cpu()
    if a.config == "crm":
        clean = crm_clean(table, a.id)
        res = gm.dedupe_df(clean, config=crm_config(), backend=a.backend, exclude_columns=[a.id])
        ids = clean.column(a.id).to_pylist()
    else:
        res = gm.dedupe_df(table, exclude_columns=[a.id], backend=a.backend)
        ids = table.column(a.id).to_pylist()
    # cluster members are row positions of the frame passed in; rows in no cluster are singletons
    cluster = list(range(len(ids)))
    for cid, info in res.clusters.items():
        for row in info["members"]:
            cluster[row] = len(ids) + int(cid)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    pq.write_table(pa.table({a.id: ids, "cluster_id": [str(c) for c in cluster]}), a.out)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    print(json.dumps({"tool": "goldenmatch", "config": a.config, "backend": a.backend or "default",
                      "records": len(ids), "seconds": round(wall, 2), "cpu_seconds": round(cpu, 1),
                      "peak_rss_gb": round(peak, 3)}))


if __name__ == "__main__":
    main()
