"""Erasure end to end on a warehouse built by the real pipeline from demo sources."""

from __future__ import annotations

import argparse
import contextlib
import gzip
import inspect
import os
import shutil
import sqlite3
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.privacy import (
    PrivacyError,
    add_erase_parser,
    drop_erased,
    erase,
    filter_erased_on_load,
    read_tombstones,
)
from pipelines.warehouse import Warehouse

PERSON_COLUMNS = ("given_name", "surname", "full_name", "email", "phone", "street", "raw_name",
                  "raw_email", "raw_phone", "raw_street", "vat_id", "raw_vat_id")


# -- helpers: an independent look at the warehouse --------------------------------------------

def pick_person(wh: Warehouse, *, need_source: str | None = None, skip: set[str] = frozenset()) -> dict:
    """The golden customer with the most records (optionally one with a ``need_source`` record)
    that has an e-mail, with its record ids and its personal values nobody else shares."""
    cw = wh.read("golden.crosswalk")
    staged = wh.read("staging.customers")
    cand = (cw.join(staged.select("record_id", "email"), on="record_id")
            .group_by("golden_id")
            .agg(n=pl.len(), sources=pl.col("source").unique(), has_email=pl.col("email").is_not_null().any())
            .filter(pl.col("has_email") & ~pl.col("golden_id").is_in(sorted(skip)))
            .sort(["n", "golden_id"], descending=[True, False]))
    if need_source:
        cand = cand.filter(pl.col("sources").list.contains(need_source))
    gid = cand["golden_id"][0]
    records = cw.filter(pl.col("golden_id") == gid)
    mine = staged.filter(pl.col("record_id").is_in(records["record_id"].implode()))
    others = staged.filter(~pl.col("record_id").is_in(records["record_id"].implode()))
    cols = [c for c in PERSON_COLUMNS if c in staged.columns]
    theirs = {v.strip() for c in cols for v in mine[c].drop_nulls().to_list() if len(v.strip()) >= 6}
    shared = {v.strip() for c in cols for v in others[c].drop_nulls().to_list()}
    emails = sorted(e for e in mine["email"].drop_nulls().unique().to_list())
    return {"golden_id": gid, "record_ids": sorted(records["record_id"].to_list()),
            "records": records.select("source", "source_record_id"), "emails": emails,
            "phones": sorted(mine["phone"].drop_nulls().unique().to_list()),
            "values": sorted(theirs - shared)}


def scan_text(path: Path, needles: list[str], *, skip_schemas: tuple[str, ...] = ()) -> dict[str, int]:
    """Rows per table.column of a DuckDB file whose text contains a needle (case-insensitive)."""
    needles = [n.lower() for n in needles]
    hits = {}
    con = duckdb.connect(str(path), read_only=True)
    try:
        cols = con.execute("select table_schema, table_name, list(column_name) from information_schema.columns "
                           "where data_type = 'VARCHAR' and table_catalog = current_database() "
                           "group by all").fetchall()
        for schema, table, names in cols:
            if schema in skip_schemas or not needles:
                continue
            match = " or ".join(['strpos(lower("{c}"), ?) > 0'] * len(needles))
            sql = ", ".join(f"count(*) filter (where {match.format(c=c)})" for c in names)
            row = con.execute(f'select {sql} from "{schema}"."{table}"', needles * len(names)).fetchall()[0]
            hits |= {f"{schema}.{table}.{c}": n for c, n in zip(names, row, strict=True) if n}
    finally:
        con.close()
    return hits


def id_references(path: Path, person: dict) -> dict[str, int]:
    """Rows anywhere that still name one of the person's record ids, golden id or source keys."""
    distinct = [person["golden_id"], *person["record_ids"]]
    distinct += [r for s, r in person["records"].iter_rows() if s in ("erp", "shop")]
    hits = scan_text(path, distinct, skip_schemas=("privacy",))  # tombstones keep the source keys
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = {(s, t) for s, t in con.execute("select table_schema, table_name from information_schema.tables "
                                                 "where table_catalog = current_database()").fetchall()}
        for source, srid in person["records"].iter_rows():
            for schema in ("raw_shop", "raw_shop_staging"):
                for table, col in (("customers", "id"), ("orders", "customer__id")):
                    if source == "shop" and (schema, table) in tables:
                        n = con.execute(f'select count(*) from "{schema}"."{table}" where "{col}" = ?',
                                        [int(srid)]).fetchall()[0][0]
                        if n:
                            hits[f"{schema}.{table}.{col}"] = n
            for schema in ("raw_sheets", "raw_sheets_staging"):
                if (schema, "contacts") in tables and source not in ("erp", "shop"):
                    n = con.execute(f'select count(*) from "{schema}".contacts where source = ? and row_number = ?',
                                    [source, int(srid)]).fetchall()[0][0]
                    if n:
                        hits[f"{schema}.contacts"] = n
    finally:
        con.close()
    return hits


def file_hits(folder: Path, needles: list[str]) -> list[str]:
    """Files under ``folder`` (gzip opened) containing a needle."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if path.suffix == ".gz":
                data = gzip.decompress(data)
            text = data.decode("utf-8", "replace").lower()
            found += [f"{path.name}" for n in needles if n.lower() in text]
    return found


def count(path: Path, table: str) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(f"select count(*) from {table}").fetchall()[0][0]
    finally:
        con.close()


# -- erasure ----------------------------------------------------------------------------------

def test_erase_by_email_removes_every_trace(wh_copy):
    person = pick_person(wh_copy)
    assert len(person["record_ids"]) >= 2 and person["values"]
    assert id_references(wh_copy.path, person), "the chosen person must be in the warehouse first"
    staged_before, golden_before = count(wh_copy.path, "staging.customers"), count(wh_copy.path, "golden.customers")

    report = erase(wh_copy, email="  " + person["emails"][0].upper() + " ", reason="ticket 42")

    assert report.records == len(person["record_ids"]) and report.golden_customers == 1
    assert id_references(wh_copy.path, person) == {}
    assert scan_text(wh_copy.path, person["values"]) == {}
    assert report.residual == {}
    # everybody else is still there
    assert count(wh_copy.path, "staging.customers") == staged_before - len(person["record_ids"])
    assert count(wh_copy.path, "golden.customers") == golden_before - 1
    # dlt's archived load packages held the raw rows too
    assert file_hits(wh_copy.path.parent, person["emails"]) == []
    # tombstones: hashes, the record keys, no e-mail; nothing personal in the report
    tombs = read_tombstones(wh_copy)
    assert set(tombs.filter(pl.col("kind") == "source_record")["source_record_id"]) == \
        set(person["records"]["source_record_id"])
    assert tombs.filter(pl.col("kind") == "email").height >= 1
    assert tombs["identifier_hash"].str.contains(r"^[0-9a-f]{64}$").all()
    assert scan_text(wh_copy.path, person["emails"]) == {}
    text = report.render()
    assert not any(v.lower() in text.lower() for v in person["values"])
    assert "staging.customers" in text and "golden.customers" in text and "raw_" in text


def test_erase_by_golden_id_and_by_source_record(wh_copy):
    first = pick_person(wh_copy)
    report = erase(wh_copy, golden_id=first["golden_id"])
    assert report.records == len(first["record_ids"])
    assert id_references(wh_copy.path, first) == {}

    second = pick_person(wh_copy, skip={first["golden_id"]})
    source, srid = second["records"].row(0)
    report = erase(wh_copy, source_record=f"{source}:{srid}")
    assert report.records == len(second["record_ids"]) and report.golden_customers == 1
    assert id_references(wh_copy.path, second) == {}
    assert scan_text(wh_copy.path, second["values"]) == {}
    erasures = wh_copy.read("privacy.erasures")
    assert erasures["requested_by"].to_list() == ["golden_id", "source_record"]


def test_erase_refuses_unknown_or_ambiguous_requests(wh_copy):
    before = count(wh_copy.path, "staging.customers")
    with pytest.raises(PrivacyError) as err:
        erase(wh_copy, email="nobody.here@example.org")
    assert "n***@example.org" in str(err.value) and "nobody.here" not in str(err.value)
    with pytest.raises(PrivacyError, match="no customer found for golden id GC-0000"):
        erase(wh_copy, golden_id="GC-0000")
    with pytest.raises(PrivacyError, match="SOURCE:ID"):
        erase(wh_copy, source_record="C100001")
    with pytest.raises(PrivacyError, match="exactly one"):
        erase(wh_copy, email="a@b.c", golden_id="GC-1")
    assert count(wh_copy.path, "staging.customers") == before
    assert read_tombstones(wh_copy).height == 0


def test_cli_prints_counts_never_the_email(wh_copy, capsys):
    person = pick_person(wh_copy)
    parser = argparse.ArgumentParser(prog="crm-golden")
    add_erase_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["erase", "--email", person["emails"][0], "--warehouse", str(wh_copy.path),
                              "--postgres", "no"])
    assert args.func(args) == 0
    out = capsys.readouterr()
    assert "staging.customers" in out.out and f"{len(person['record_ids'])} source records" in out.out
    assert "verified: no e-mail or phone" in out.out
    assert not any(v.lower() in (out.out + out.err).lower() for v in [*person["emails"], *person["values"]])

    args = parser.parse_args(["erase", "--email", person["emails"][0], "--warehouse", str(wh_copy.path),
                              "--postgres", "no"])
    assert args.func(args) == 2  # already gone
    err = capsys.readouterr().err
    assert "no customer found" in err and person["emails"][0] not in err


def test_cli_masks_postgres_password(wh_copy, capsys, monkeypatch):
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", "postgresql://crm:Sup3rS3cret@127.0.0.1:9/crm")
    person = pick_person(wh_copy)
    parser = argparse.ArgumentParser(prog="crm-golden")
    add_erase_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["erase", "--golden-id", person["golden_id"], "--warehouse", str(wh_copy.path),
                              "--postgres", "yes"])
    assert args.func(args) == 2
    out = capsys.readouterr()
    assert "Sup3rS3cret" not in out.out + out.err
    assert "postgresql://crm:***@127.0.0.1:9/crm" in out.err
    assert id_references(wh_copy.path, person), "nothing is erased when PostgreSQL cannot be reached"


# -- the erased person stays away on the next run ---------------------------------------------

def _hooks_wired() -> bool:
    from pipelines.assets import raw, staging

    return "drop_erased" in inspect.getsource(staging) and "filter_erased_on_load" in inspect.getsource(raw)


def _wire_hooks(monkeypatch, wh: Warehouse) -> None:
    """Until the pipeline calls the hooks itself: the same calls, patched in around staging and
    the raw loads."""
    from pipelines import staging
    from pipelines.assets import raw
    from pipelines.staging.result import StageResult

    stage_all = staging.stage_all

    def stage_and_drop(frames, **kw):
        result = stage_all(frames, **kw)
        kept, _ = drop_erased(wh, {"c": result.customers, "q": result.quarantine, "f": result.field_issues})
        return StageResult(customers=kept["c"], quarantine=kept["q"], field_issues=kept["f"])

    runtime_source = raw.runtime_source

    @contextlib.contextmanager
    def filtered_source(source, sources):
        with runtime_source(source, sources) as dlt_source:
            filter_erased_on_load(dlt_source, source, wh)
            yield dlt_source

    monkeypatch.setattr(staging, "stage_all", stage_and_drop)
    monkeypatch.setattr(raw, "runtime_source", filtered_source)


def test_erased_person_does_not_come_back_when_the_source_sends_them_again(demo_run, wh_copy, tmp_path,
                                                                           monkeypatch):
    from pipelines.runner import run_pipeline

    sources = tmp_path / "sources"
    shutil.copytree(demo_run.sources, sources)
    person = pick_person(wh_copy, need_source="erp")
    erp_ids = [r for s, r in person["records"].iter_rows() if s == "erp"]
    assert erp_ids
    report = erase(wh_copy, golden_id=person["golden_id"])
    assert report.residual == {}

    # the ERP sends the erased customer again (changed) and one other customer (changed);
    # the sheets are re-read whole (new modification time)
    other = wh_copy.query("select customer_no from raw_erp.customers order by customer_no limit 1")["customer_no"][0]
    con = sqlite3.connect(sources / "erp.sqlite")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    con.executemany("update customers set updated_at = ? where customer_no = ?",
                    [(stamp, cid) for cid in [*erp_ids, other]])
    con.commit()
    con.close()
    for sheet in (sources / "sheets").iterdir():
        os.utime(sheet, (time.time() + 60, time.time() + 60))

    if not _hooks_wired():
        _wire_hooks(monkeypatch, wh_copy)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    summary = run_pipeline(sources=sources, warehouse=wh_copy.path)
    assert summary.success, summary.render()

    # the other customer's change did arrive, so the erased one was sent too, and dropped
    updated = wh_copy.query("select updated_at from raw_erp.customers where customer_no = ?", [other])
    assert updated["updated_at"][0] == stamp
    assert id_references(wh_copy.path, person) == {}
    assert scan_text(wh_copy.path, [*person["emails"], *person["values"]]) == {}
    assert read_tombstones(wh_copy).filter(pl.col("kind") == "source_record").height == len(person["record_ids"])
