"""No input e-mail or phone in anything a run leaves behind outside the warehouse: the CLI's
output, Dagster's event log and run storage, compute logs (all under DAGSTER_HOME)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import duckdb
import polars as pl


def input_pii(demo_run) -> list[str]:
    """Every e-mail and E.164 phone of the demo input, in the forms they occur in."""
    truth = pl.read_csv(demo_run.sources / "truth" / "entities.csv", infer_schema=False)
    values = set()
    for col in ("email", "alt_email", "phone_e164", "landline_e164"):
        if col in truth.columns:
            values |= set(truth[col].drop_nulls().to_list())
    con = duckdb.connect(str(demo_run.warehouse), read_only=True)
    try:
        for col in ("email", "raw_email", "phone", "raw_phone"):
            values |= {r[0] for r in con.execute(f"select distinct {col} from staging.customers "
                                                 f"where {col} is not null").fetchall()}
    finally:
        con.close()
    values = {v.strip() for v in values if v and v.strip()}
    emails = {v.lower() for v in values if "@" in v and len(v) > 5}
    phones = {v for v in values if "@" not in v and sum(c.isdigit() for c in v) >= 8}
    # a phone also shows up without its '+' or spaces
    phones |= {"".join(c for c in p if c.isdigit()) for p in phones}
    return sorted(emails | phones)


def dagster_texts(home: Path) -> dict[str, str]:
    """Text of every file under ``home``; SQLite files as the text of all their rows."""
    texts = {}
    for path in sorted(home.rglob("*")):
        if not path.is_file():
            continue
        if path.read_bytes()[:16] == b"SQLite format 3\x00":
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                parts = []
                for (table,) in con.execute("select name from sqlite_master where type = 'table'"):
                    for row in con.execute(f'select * from "{table}"'):
                        parts += [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row]
            finally:
                con.close()
            text = "\n".join(parts)
        else:
            text = path.read_bytes().decode("utf-8", "replace")
        texts[str(path.relative_to(home))] = text
    return texts


def leaks(texts: dict[str, str], values: list[str]) -> list[str]:
    """``where: masked value`` for every value found (also JSON-escaped)."""
    from expectations.masking import mask_email, mask_phone

    found = []
    for where, text in texts.items():
        low = text.lower()
        for v in values:
            forms = {v.lower(), json.dumps(v)[1:-1].lower()}
            if any(f in low for f in forms):
                found.append(f"{where}: {mask_email(v) if '@' in v else mask_phone(v)}")
    return found


def test_run_leaves_no_input_email_or_phone_in_logs_or_dagster_storage(demo_run):
    values = input_pii(demo_run)
    assert len(values) > 50
    texts = {"crm-golden run stdout": demo_run.stdout, "crm-golden run stderr": demo_run.stderr,
             **dagster_texts(demo_run.dagster_home)}
    # the storage really holds this run's events and metadata
    events = "\n".join(t for w, t in texts.items() if w.startswith("history"))
    assert "staging/customers" in events or '"staging", "customers"' in events
    assert "quarantine_by_rule" in events and "ASSET_CHECK_EVALUATION" in events
    assert leaks(texts, values) == []


def test_the_grep_would_find_a_leak(demo_run):
    values = input_pii(demo_run)
    planted = {"compute log": f"warning: bad row {values[0]}", "event": json.dumps({"m": values[-1]})}
    assert len(leaks(planted, values)) == 2
