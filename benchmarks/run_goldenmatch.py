"""GoldenMatch 3.22 on the same inputs as the engine, for side-by-side benchmarks. Runs in the
benchmark venv (see README.md), prints one JSON line.

    python benchmarks/run_goldenmatch.py INPUT --id COLUMN --out CLUSTERS.parquet [--link-with OTHER]

GoldenMatch runs zero-config (its documented default: it chooses blocking, scorers and threshold
itself), or with ``--config crm`` a customer configuration on cleaned columns: exact e-mail
(without +tag) and exact phone (last nine digits), fuzzy name 0.85, blocking on surname. Two tables
are stacked and deduplicated together (pairs inside one table are ignored when a link-only job is
scored). The id column is excluded from matching.
Timed: from the loaded table to clusters.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import time

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

os.environ.setdefault("GOLDENMATCH_SUGGEST_ON_DEDUPE", "0")


def _read(path: str) -> pa.Table:
    if path.endswith(".parquet"):
        return pq.read_table(path)
    opts = pacsv.ConvertOptions(column_types={}, strings_can_be_null=True)
    t = pacsv.read_csv(path, convert_options=opts)
    return t.cast(pa.schema([pa.field(f.name, pa.string()) for f in t.schema]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("--id", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--link-with")
    ap.add_argument("--config", choices=["auto", "crm"], default="auto")
    a = ap.parse_args()
    logging.disable(logging.WARNING)
    import goldenmatch as gm

    tables = [_read(a.input)] + ([_read(a.link_with)] if a.link_with else [])
    table = pa.concat_tables([t.select(tables[0].column_names) for t in tables]) if len(tables) > 1 else tables[0]
    drop = [c for c in ("source", "source_record_id") if c in table.column_names]
    table = table.drop_columns(drop) if drop else table
    t0 = time.perf_counter()
    if a.config == "crm":
        df = table.to_pandas()
        given = df["given_name"].fillna(df["full_name"]).fillna("")
        name = (given + " " + df["surname"].fillna("")).str.strip().str.lower()
        surname = df["surname"].fillna(df["full_name"]).fillna("").str.strip().str.lower().str[:4]
        def nulls(col):   # empty strings must not match each other
            return col.where(col.str.len() > 0, None)
        clean = pa.table({
            a.id: df[a.id].astype(str),
            "name": nulls(name),
            "surname": nulls(surname),
            "email": nulls(df["email"].fillna("").str.strip().str.lower().str.replace(r"\+[^@]*@", "@", regex=True)),
            "phone": nulls(df["phone"].fillna("").str.replace(r"\D", "", regex=True).str[-9:]),
            "city": nulls(df["city"].fillna("").str.strip().str.lower()),
        })
        res = gm.dedupe_df(clean, exact=["email", "phone"], fuzzy={"name": 0.85}, blocking=["surname"],
                           exclude_columns=[a.id])
    else:
        res = gm.dedupe_df(table, exclude_columns=[a.id])
    ids = table.column(a.id).to_pylist()
    cluster = list(range(len(ids)))
    for cid, info in res.clusters.items():
        for row in info["members"]:
            cluster[row] = len(ids) + int(cid)
    wall = time.perf_counter() - t0
    pq.write_table(pa.table({a.id: ids, "cluster_id": [str(c) for c in cluster]}), a.out)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    print(json.dumps({"tool": "goldenmatch", "records": len(ids), "seconds": round(wall, 2),
                      "peak_rss_gb": round(peak, 3)}))


if __name__ == "__main__":
    main()
