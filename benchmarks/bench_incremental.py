"""An incremental run on a finished pipeline workdir, and a full rebuild of the same data to compare with.

    .venv/bin/python benchmarks/bench_incremental.py --workdir /tmp/bp100k --scratch /tmp/me/incr100k

``--workdir`` is a folder ``bench_pipeline.py`` finished (``sources``, ``warehouse``, ``dagster_home``);
nothing in it is written. Its three folders are copied to ``<scratch>/incremental`` (file times kept,
so unchanged sheets stay unread), then the source data is edited there:

* ``sheets/sales_contacts.csv`` gets ``--sheet-rate`` (default 1 %) new rows appended: half near
  duplicates of rows already in the file (a typo in the name, the rest as it was), half new people
  (a given name, surname and city from three different rows, a new e-mail and phone);
* ``--erp-rate`` (default 1 %) of ``erp.sqlite``'s customers get one field changed (street, phone or the
  contact name, in turn) and ``updated_at`` moved past every other row's.

With ``--prime`` the pipeline first runs once on the unedited copy (so that its state is this
version's). The edited folders are copied again to ``<scratch>/full``. ``crm-golden run`` runs in the first copy
(timed: wall, CPU, peak RSS from ``wait4``; step seconds from the Dagster event log, as
``bench_pipeline.py`` reads them), ``crm-golden run --full-rebuild`` in the second, and the two
published crosswalks are compared as partitions: the same groups of source records, whatever the
golden ids. Golden ids are compared too (the registry of the previous run is the same in both
copies), and so is every published golden table, row for row, but for the columns holding the run's
own time (``compare_golden``). Prints progress on stderr and ONE JSON line on stdout.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import sqlite3
import sys
import time
from pathlib import Path

import duckdb
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_pipeline import CLI, _note, run_stages, timed_process

SHEET = "sheets/sales_contacts.csv"
MATCHING_KEYS = ("matching/candidate_pairs", "matching/scored_pairs", "matching/clusters", "staging/customers")
MATCHING_FIELDS = ("mode", "records", "records_new_or_changed", "records_deleted", "dagster/row_count",
                   "records_reoriented", "records_peer_changed", "pairs_compared", "pairs_reused",
                   "records_restated", "pairs_above_threshold", "rows_staged_this_run",
                   "records_kept_from_last_staging", "staging_mode", "engine_seconds")


def copy_workdir(src: Path, dst: Path) -> None:
    """sources (symlinks followed), warehouse and dagster_home, modification times kept."""
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    for name in ("sources", "warehouse", "dagster_home"):
        shutil.copytree(src / name, dst / name, symlinks=False, copy_function=shutil.copy2)
    os.sync()   # the copy's gigabytes on disk before a timed run: not flushed while it writes


def _typo(name: str, rng: np.random.Generator) -> str:
    """Two neighbouring letters of a name swapped (a name of one letter is doubled)."""
    letters = [i for i in range(len(name) - 1) if name[i].isalpha() and name[i + 1].isalpha()]
    if not letters:
        return name + name[-1:] if name else name
    i = int(rng.choice(letters))
    return name[:i] + name[i + 1] + name[i] + name[i + 2:]


def append_sheet_rows(path: Path, rate: float, rng: np.random.Generator) -> int:
    """Append ``rate`` x the file's rows in the file's own layout (BOM, delimiter, line ends)."""
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig")
    newline = "\r\n" if "\r\n" in text[:10_000] else "\n"
    header_line = text.split(newline, 1)[0]
    delim = max(";,\t|", key=header_line.count)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delim))
    header, body = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
    col = {name: i for i, name in enumerate(header)}
    n = max(1, round(len(body) * rate))
    picks = rng.integers(0, len(body), size=(n, 3))
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delim, lineterminator=newline)
    for k, (a, b, c) in enumerate(picks):
        row = list(body[a])
        name_i = col.get("full_name", 0)
        if k % 2 == 0:   # a near duplicate of row a
            row[name_i] = _typo(row[name_i], rng)
        else:            # a new person: given name of a, surname of b, city of c, new contacts
            given = (body[a][name_i].split() or ["Alex"])[0]
            surname = (body[b][name_i].split() or ["Smith"])[-1]
            row[name_i] = f"{given} {surname}"
            if "email" in col:
                row[col["email"]] = f"{given}.{surname}.{900000 + k}@example.net".lower()
            if "phone" in col:
                row[col["phone"]] = f"+44 7700 {int(rng.integers(100000, 999999))}"
            if "city" in col:
                row[col["city"]] = body[c][col["city"]]
            if "company" in col:
                row[col["company"]] = ""
        writer.writerow(row)
    tail = b"" if raw.endswith(newline.encode()) else newline.encode()
    with open(path, "ab") as fh:
        fh.write(tail + out.getvalue().encode("utf-8"))
    return n


def edit_erp(path: Path, rate: float, rng: np.random.Generator) -> int:
    """Change one field of ``rate`` x the customers and move their ``updated_at`` past every row's."""
    con = sqlite3.connect(path)
    try:
        keys = [k for (k,) in con.execute("select customer_no from customers order by customer_no")]
        latest = con.execute("select max(updated_at) from customers").fetchone()[0]
        n = max(1, round(len(keys) * rate))
        chosen = sorted(rng.choice(len(keys), size=n, replace=False).tolist())
        stamp = np.datetime64(latest.replace(" ", "T")[:19]) + np.timedelta64(1, "D")
        for j, i in enumerate(chosen):
            when = str(stamp + np.timedelta64(j, "s")).replace("T", " ")
            field = ("street", "phone", "contact_name")[j % 3]
            value = con.execute(f"select {field} from customers where customer_no = ?", [keys[i]]).fetchone()[0]
            if field == "street":
                new = f"{value or 'Hauptstrasse'} {j % 90 + 10}b"
            elif field == "phone":
                new = f"+49 151 {int(rng.integers(10_000_000, 99_999_999))}"
            else:
                new = _typo(value or "Doe, Jane", rng)
            con.execute(f"update customers set {field} = ?, updated_at = ? where customer_no = ?",
                        [new, when, keys[i]])
        con.commit()
    finally:
        con.close()
    return n


def run_pipeline(work: Path, *, full_rebuild: bool) -> dict:
    env = {**os.environ, "DAGSTER_HOME": str(work / "dagster_home"), "RUNTIME__DLTHUB_TELEMETRY": "false",
           "DO_NOT_TRACK": "1"}
    cmd = [str(CLI), "run", "--sources", str(work / "sources"),
           "--warehouse", str(work / "warehouse" / "warehouse.duckdb"), *(["--full-rebuild"] if full_rebuild else [])]
    load = [round(x, 2) for x in os.getloadavg()]
    _note(f"crm-golden run{' --full-rebuild' if full_rebuild else ''} in {work} ...")
    proc = timed_process(cmd, env=env, log=work / "run.log")
    status, steps, stages = run_stages(work / "dagster_home")
    return {**proc, "run_status": status, "load_average_start": load,
            "load_average_end": [round(x, 2) for x in os.getloadavg()], "step_seconds": steps,
            "asset_stages": stages, "matching": asset_metadata(work / "dagster_home")}


def asset_metadata(dagster_home: Path) -> dict:
    """The staging and matching assets' modes and counts in the latest run."""
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    out: dict[str, dict] = {}
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))) as instance:
        [record] = instance.get_run_records(limit=1)
        for entry in instance.all_logs(record.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
            mat = entry.dagster_event.event_specific_data.materialization
            key = mat.asset_key.to_user_string()
            if key in MATCHING_KEYS:
                out[key] = {k: getattr(v, "value", v) for k, v in mat.metadata.items() if k in MATCHING_FIELDS}
    return out


def compare_crosswalks(a: Path, b: Path) -> dict:
    """Partition equality of the two published crosswalks (records grouped by golden id)."""
    with duckdb.connect() as con:
        con.execute(f"attach '{a}' as a (read_only)")
        con.execute(f"attach '{b}' as b (read_only)")
        # each record labelled by the smallest record_id of its golden customer: equal labels <=> same groups
        for side in ("a", "b"):
            con.execute(f"create temp table {side}_x as select record_id, golden_id, "
                        f"min(record_id) over (partition by golden_id) as grp from {side}.golden.crosswalk")
        n_a, n_b = (con.execute(f"select count(*) from {s}_x").fetchone()[0] for s in ("a", "b"))
        only_a, only_b = (con.execute(f"select count(*) from {s}_x anti join {t}_x using (record_id)").fetchone()[0]
                          for s, t in (("a", "b"), ("b", "a")))
        moved = con.execute("select count(*) from a_x join b_x using (record_id) where a_x.grp <> b_x.grp").fetchone()[0]
        same_id = con.execute("select count(*) from a_x join b_x using (record_id) "
                              "where a_x.golden_id = b_x.golden_id").fetchone()[0]
        groups = [con.execute(f"select count(distinct golden_id) from {s}_x").fetchone()[0] for s in ("a", "b")]
    return {"records": [n_a, n_b], "golden_customers": groups, "records_only_in_incremental": only_a,
            "records_only_in_full": only_b, "records_in_other_groups": moved,
            "records_with_same_golden_id": same_id,
            "partition_equal": only_a == 0 and only_b == 0 and moved == 0}


def compare_golden(a: Path, b: Path) -> dict:
    """Every published golden table of the two warehouses compared row for row (EXCEPT ALL both
    ways), leaving out the columns that hold the run's own time (history validity, id
    registry and retirement times): ``{table: [rows only in a, rows only in b]}``."""
    out: dict[str, list[int]] = {}
    with duckdb.connect() as con:
        con.execute("set enable_progress_bar = false")
        con.execute(f"attach '{a}' as a (read_only)")
        con.execute(f"attach '{b}' as b (read_only)")
        names = [r[0] for r in con.execute(
            "select table_name from duckdb_tables() where database_name = 'a' and schema_name = 'golden' "
            "and not starts_with(table_name, '_') order by 1").fetchall()]
        for name in names:
            cols = [r[0] for r in con.execute(
                "select column_name from duckdb_columns() where database_name = 'a' and schema_name = 'golden' "
                "and table_name = ? and data_type <> 'TIMESTAMP WITH TIME ZONE' order by column_index",
                [name]).fetchall()]
            sel = ", ".join(f'"{c}"' for c in cols)
            out[name] = [con.execute(f'select count(*) from (select {sel} from {x}.golden."{name}" except all '
                                     f'select {sel} from {y}.golden."{name}")').fetchone()[0]
                         for x, y in (("a", "b"), ("b", "a"))]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, required=True, help="a finished bench_pipeline.py work folder (read only)")
    ap.add_argument("--scratch", type=Path, required=True, help="where the two copies go (replaced)")
    ap.add_argument("--sheet-rate", type=float, default=0.01)
    ap.add_argument("--erp-rate", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-full", action="store_true", help="only the incremental run")
    ap.add_argument("--prime", action="store_true",
                    help="first run the pipeline once on the unedited copy (a work folder made by an older "
                    "version holds no state for this one's incremental steps); its figures are reported")
    a = ap.parse_args(argv)
    src, scratch = a.workdir.absolute(), a.scratch.absolute()
    if scratch == src or src in scratch.parents:
        raise SystemExit("--scratch must lie outside --workdir")
    incr, full = scratch / "incremental", scratch / "full"
    t0 = time.perf_counter()
    copy_workdir(src, incr)
    line: dict = {"bench": "incremental", "workdir": str(src), "seed": a.seed}
    if a.prime:
        line["prime"] = run_pipeline(incr, full_rebuild=False)
    rng = np.random.default_rng(a.seed)
    appended = append_sheet_rows(incr / "sources" / SHEET, a.sheet_rate, rng)
    edited = edit_erp(incr / "sources" / "erp.sqlite", a.erp_rate, rng)
    if not a.no_full:
        shutil.rmtree(full, ignore_errors=True)
        shutil.copytree(incr, full, symlinks=False, copy_function=shutil.copy2)
    _note(f"copied and edited in {time.perf_counter() - t0:.0f} s: {appended} sheet rows appended, "
          f"{edited} ERP customers edited")
    line.update(sheet_rows_appended=appended, erp_customers_edited=edited)
    os.sync()
    line["incremental"] = run_pipeline(incr, full_rebuild=False)
    if not a.no_full:
        line["full_rebuild"] = run_pipeline(full, full_rebuild=True)
        line["crosswalk"] = compare_crosswalks(incr / "warehouse" / "warehouse.duckdb",
                                               full / "warehouse" / "warehouse.duckdb")
        line["golden_tables"] = compare_golden(incr / "warehouse" / "warehouse.duckdb",
                                               full / "warehouse" / "warehouse.duckdb")
        line["golden_tables_equal"] = not any(sum(v) for v in line["golden_tables"].values())
    print(json.dumps(line, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
