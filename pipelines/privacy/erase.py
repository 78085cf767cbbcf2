"""Erasure ("right to be forgotten"): remove one person from every table, leave a tombstone.

The person is found by e-mail, golden id or source record and widened to everything that is
the same customer: all records of their golden customer(s) in the published and the building
crosswalk, their matching cluster, and golden ids merged into theirs. Rows are then deleted from
every table that refers to those records or golden ids, found by column name so new tables are
covered too:

* ``record_id``, ``cluster_id``, ``id_l``/``id_r``: the record ids;
* ``golden_id``, ``golden_id_l``/``golden_id_r``, ``retired_id``, ``surviving_id``: the golden ids;
* ``source`` + ``source_record_id``: the records (quality, crosswalk, merge lists);
* raw tables by the source system's key: ERP ``customer_no`` (customers, invoices, dirty copy),
  shop customer ``id`` and orders' ``customer__id``, sheets ``source`` + ``row_number``; child
  tables (``orders__line_items``) through ``_dlt_root_id``; the dlt ``*_staging`` datasets alike.

All of it, the tombstones and the audit row happen in one DuckDB transaction. dlt's archived
load packages (which hold raw rows) are removed afterwards; so are the person's rows in files
published earlier: the merge-list CSVs (``<stem>_merge_lists/``, and the older shared
``merge_lists/``), the Parquet publication (``published/`` beside the warehouse, or the folders
given) and the BI read copy, which is published again. Every text column of every table and
Parquet file is scanned for the person's e-mails and phones (``residual`` in the report).
"""

from __future__ import annotations

import re
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from expectations.masking import mask_email
from pipelines.paths import pipelines_dir
from pipelines.privacy.keys import PrivacyError, hash_key
from pipelines.privacy.plan import (
    GOLDEN_COLUMNS,
    RECORD_COLUMNS,
    Tables,
    delete_plan,
    record_key,
    row_condition,
)
from pipelines.privacy.postgres import connect, erase_postgres
from pipelines.privacy.tombstones import (
    EMAIL,
    RECORD,
    TOMBSTONE_SCHEMA,
    email_hashes,
    record_hashes,
    write_tombstones,
)
from pipelines.publish.parquet import MANIFEST, publish_parquet, read_manifest
from pipelines.publish.swap import discard_build
from pipelines.publish.writeback import merge_list_dir
from pipelines.warehouse import Warehouse, publish_read_copy, read_copy_path

ERASURES = "privacy.erasures"
_EMAIL_RE = re.compile(r"[^\s@]+@[^\s@]+")
_PRIVATE_SCHEMAS = ("privacy",)


@dataclass
class ErasureReport:
    """What one erasure removed: counts and ids only, never a customer value."""

    erasure_id: str
    requested_by: str
    records: int
    golden_customers: int
    deleted: dict[str, int] = field(default_factory=dict)
    tombstones: int = 0
    files_removed: int = 0
    #: published files (merge-list CSVs, Parquet tables) rewritten without the person
    files_rewritten: int = 0
    pending_load_packages: int = 0
    residual: dict[str, int] = field(default_factory=dict)
    postgres: dict[str, int] | None = None
    postgres_error: str | None = None
    file_rewritten: bool = False

    @property
    def complete(self) -> bool:
        """True when nothing of the person is left anywhere the erasure looked."""
        return not self.residual and self.postgres_error is None

    @property
    def rows_deleted(self) -> int:
        return sum(self.deleted.values())

    def render(self) -> str:
        lines = [(f"erasure {self.erasure_id} (by {self.requested_by.replace('_', ' ')}): "
                  f"{self.records} source records of {self.golden_customers} golden customer(s), "
                  f"{self.rows_deleted} rows deleted")]
        lines += [f"  {table:<40} {n:>7}" for table, n in sorted(self.deleted.items()) if n]
        if self.postgres is not None:
            lines.append(f"  PostgreSQL: {sum(self.postgres.values())} rows deleted")
            lines += [f"    {table:<38} {n:>7}" for table, n in sorted(self.postgres.items()) if n]
        if self.postgres_error:
            lines.append(f"  PostgreSQL NOT erased: {self.postgres_error}")
        lines.append(f"  tombstones written: {self.tombstones} (privacy.tombstones, hashed identifiers)")
        lines.append(f"  dlt load-package files removed: {self.files_removed}")
        lines.append(f"  published files rewritten without the person: {self.files_rewritten} "
                     "(merge lists, Parquet)")
        if self.file_rewritten:
            lines.append("  warehouse file rewritten (deleted rows no longer readable in free blocks)")
        if self.pending_load_packages:
            lines.append(f"  note: {self.pending_load_packages} unfinished dlt load package(s) left; "
                         "tombstoned records are filtered when they load")
        if self.residual:
            lines.append("  WARNING: the person's e-mail or phone still appears in:")
            lines += [f"    {where}: {n} row(s)" for where, n in sorted(self.residual.items())]
        else:
            lines.append("  verified: no e-mail or phone of the person left in any warehouse table")
        return "\n".join(lines)


def erase(warehouse: Warehouse, *, email: str | None = None, golden_id: str | None = None,
          source_record: str | None = None, reason: str = "erasure request",
          postgres_url: str | None = None, verify: bool = True, rewrite: bool = True,
          parquet_dirs: list[str | Path] | None = None) -> ErasureReport:
    """Erase the person identified by exactly one of ``email``, ``golden_id`` or
    ``source_record`` (``SOURCE:ID``) from ``warehouse`` (and the PostgreSQL database at
    ``postgres_url``), and tombstone their records. With ``rewrite`` the DuckDB file is then
    copied afresh (:func:`rewrite_file`), because deleted rows otherwise stay readable in the
    file's free blocks. Raises :class:`PrivacyError` when the
    request is ambiguous or matches nobody."""
    given = {k: v for k, v in (("email", email), ("golden_id", golden_id), ("source_record", source_record))
             if v is not None}
    if len(given) != 1:
        raise PrivacyError("give exactly one of --email, --golden-id, --source-record")
    (kind, value), = given.items()
    value = value.strip()
    if not value:
        raise PrivacyError(f"{kind.replace('_', ' ')} is empty")
    if not warehouse.path.exists():
        raise PrivacyError(f"warehouse not found: {warehouse.path}")
    if kind == "source_record" and ":" not in value:
        raise PrivacyError("--source-record must be SOURCE:ID (e.g. erp:C100123)")
    if postgres_url:  # fail before anything is deleted when the database cannot be reached
        connect(postgres_url).close()
    key = hash_key(warehouse)
    erasure_id = "ER-" + uuid.uuid4().hex[:12]
    now = datetime.now(UTC)

    with warehouse.connect() as con:
        con.execute("begin transaction")
        try:
            discard_build(con)   # an unpublished build is built again by the next run; it must not reach the read copy
            tables = _tables(con)
            _temp_tables(con)
            _resolve(con, tables, kind, value)
            n_records = con.execute("select count(*) from erase_records").fetchall()[0][0]
            n_golden = con.execute("select count(*) from erase_golden").fetchall()[0][0]
            if n_records == 0 and n_golden == 0:
                raise PrivacyError(f"no customer found for {_describe(kind, value)} in {warehouse.path.name}")
            records = con.sql("select * from erase_records order by record_id").pl()
            golden = [r[0] for r in con.execute("select golden_id from erase_golden order by 1").fetchall()]
            emails, phones = _contact_values(con, tables)
            deleted = _delete(con, tables)
            emails, phones = _exclusive(con, tables, emails, phones)
            if kind == "email":
                emails = sorted({*emails, _norm_email(value)})
            tombs = _tombstone_rows(records, emails, key=key, erasure_id=erasure_id, at=now, reason=reason)
            n_tombs = write_tombstones(con, tombs)
            _log(con, erasure_id, kind, now, reason, n_records, n_golden, sum(deleted.values()), n_tombs)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    report = ErasureReport(erasure_id=erasure_id, requested_by=kind, records=n_records,
                           golden_customers=n_golden, deleted=deleted, tombstones=n_tombs)
    report.files_removed, report.pending_load_packages = purge_load_packages(warehouse.path)
    folders = _parquet_folders(warehouse.path, parquet_dirs)
    report.files_rewritten = (erase_merge_list_files(warehouse.path, records, golden)
                              + sum(erase_parquet(d, records, golden) for d in folders))
    if rewrite:
        rewrite_file(warehouse)
        report.file_rewritten = True
    if read_copy_path(warehouse.path).exists():
        publish_read_copy(warehouse.path)
    if verify:
        report.residual = find_values(warehouse, [*emails, *phones])
        for folder in folders:
            report.residual |= find_in_parquet(folder, [*emails, *phones])
    if postgres_url:
        try:
            report.postgres = erase_postgres(postgres_url, records, golden)
        except PrivacyError as exc:
            report.postgres_error = str(exc)
    return report


# -- finding the person ------------------------------------------------------------------------




def _tables(con) -> Tables:
    """Every base table of the warehouse (not ``privacy``): column name -> type."""
    rows = con.execute(
        "select c.table_schema, c.table_name, c.column_name, c.data_type "
        "from information_schema.columns c join information_schema.tables t "
        "on t.table_catalog = c.table_catalog and t.table_schema = c.table_schema "
        "and t.table_name = c.table_name "
        "where t.table_type = 'BASE TABLE' and c.table_catalog = current_database() "
        "order by c.table_schema, c.table_name, c.ordinal_position").fetchall()
    out: Tables = {}
    for schema, name, column, dtype in rows:
        if schema not in _PRIVATE_SCHEMAS:
            out.setdefault((schema, name), {})[column] = dtype
    return out


def _temp_tables(con) -> None:
    con.execute("create or replace temp table erase_records "
                "(record_id varchar, source varchar, source_record_id varchar)")
    con.execute("create or replace temp table erase_golden (golden_id varchar)")
    con.execute("create or replace temp table erase_roots (_dlt_id varchar)")


def _q(schema: str, name: str) -> str:
    return f'"{schema}"."{name}"'


def _norm_sql(column: str) -> str:
    return f"lower(trim(replace(t.\"{column}\", chr(160), ' ')))"


def _norm_email(value: str) -> str:
    return value.replace("\u00a0", " ").strip().lower()


def _insert_records(con, select_sql: str) -> None:
    """Add (source, source_record_id) pairs selected as ``src, srid`` to ``erase_records``."""
    con.execute(
        "insert into erase_records select distinct src || ':' || srid, src, srid from ("
        f"{select_sql}) s where src is not null and srid is not null and src || ':' || srid not in "
        "(select record_id from erase_records)")


def _insert_golden(con, select_sql: str) -> None:
    con.execute(f"insert into erase_golden select distinct g from ({select_sql}) s "
                "where g is not null and g not in (select golden_id from erase_golden)")


def _split_sql(column: str) -> tuple[str, str]:
    part = f"split_part(t.\"{column}\", ':', 1)"
    return part, f"substr(t.\"{column}\", length({part}) + 2)"


def _resolve(con, tables: Tables, kind: str, value: str) -> None:
    if kind == "email":
        email = _norm_email(value)
        for (schema, name), cols in tables.items():
            key = record_key(schema, cols)
            if key is None or name.startswith("_dlt_"):
                continue
            conds = [f"{_norm_sql(c)} = ?" for c in ("email", "raw_email") if c in cols]
            params = [email] * len(conds)
            if "field" in cols and "raw_value" in cols:
                conds.append(f"(t.\"field\" = 'email' and {_norm_sql('raw_value')} = ?)")
                params.append(email)
            if conds:
                sql = f"select {key[0]} as src, {key[1]} as srid from {_q(schema, name)} t where {' or '.join(conds)}"
                con.execute("create or replace temp table erase_seed as " + sql, params)
                _insert_records(con, "select src, srid from erase_seed")
    elif kind == "golden_id":
        holders = [(s, n) for (s, n), cols in tables.items() if "golden_id" in cols]
        found = sum(con.execute(f'select count(*) from {_q(s, n)} where "golden_id" = ?', [value]).fetchall()[0][0]
                    for s, n in holders)
        if found:
            con.execute("insert into erase_golden values (?)", [value])
    else:
        source, srid = value.split(":", 1)
        con.execute("create or replace temp table erase_seed as select ? as src, ? as srid", [source, srid])
        present = 0
        for (schema, name), cols in tables.items():
            key = record_key(schema, cols)
            if key and not name.startswith("_dlt_"):
                present += con.execute(f"select count(*) from {_q(schema, name)} t where exists (select 1 from "
                                       f"erase_seed e where e.src = {key[0]} and e.srid = {key[1]})").fetchall()[0][0]
        if present:
            _insert_records(con, "select src, srid from erase_seed")
    _expand(con, tables)


def _expand(con, tables: Tables) -> None:
    """Widen to the whole customer: crosswalk/lineage links, clusters and merged golden ids."""
    for _ in range(20):
        before = con.execute("select (select count(*) from erase_records), (select count(*) from erase_golden)").fetchall()[0]
        for (schema, name), cols in tables.items():
            t = _q(schema, name)
            if "record_id" in cols and "golden_id" in cols:
                _insert_golden(con, f"select t.golden_id as g from {t} t where t.record_id in (select record_id from erase_records)")
                src, srid = ("t.source", "cast(t.source_record_id as varchar)") if "source_record_id" in cols \
                    else _split_sql("record_id")
                _insert_records(con, f"select {src} as src, {srid} as srid from {t} t "
                                     "where t.golden_id in (select golden_id from erase_golden)")
            if "record_id" in cols and "cluster_id" in cols:
                src, srid = _split_sql("record_id")
                _insert_records(con, f"select {src} as src, {srid} as srid from {t} t where t.cluster_id in "
                                     f"(select cluster_id from {t} where record_id in (select record_id from erase_records))")
            for a in ("golden_id", "retired_id"):
                if a in cols and "surviving_id" in cols:
                    _insert_golden(con, f"select t.surviving_id as g from {t} t where t.{a} in (select golden_id from erase_golden)")
                    _insert_golden(con, f"select t.{a} as g from {t} t where t.surviving_id in (select golden_id from erase_golden)")
        after = con.execute("select (select count(*) from erase_records), (select count(*) from erase_golden)").fetchall()[0]
        if after == before:
            return


def _describe(kind: str, value: str) -> str:
    if kind == "email":
        return f"e-mail {mask_email(value)}"
    return f"{kind.replace('_', ' ')} {value}"


# -- what the person's contact values are, and which of them are theirs alone ------------------

_EMAIL_COLUMNS = ("email", "raw_email")
_PHONE_COLUMNS = ("phone", "raw_phone")


def _contact_values(con, tables: Tables) -> tuple[set[str], set[str]]:
    emails: set[str] = set()
    phones: set[str] = set()
    for (schema, name), cols in tables.items():
        cond = row_condition(schema, name, cols)
        if not cond:
            continue
        for columns, bucket in ((_EMAIL_COLUMNS, emails), (_PHONE_COLUMNS, phones)):
            for c in columns:
                if c in cols:
                    rows = con.execute(f"select distinct {_norm_sql(c)} from {_q(schema, name)} t "
                                       f"where ({cond}) and t.\"{c}\" is not null").fetchall()
                    bucket.update(r[0] for r in rows if r[0])
        if "field" in cols and "raw_value" in cols:
            rows = con.execute(f"select t.\"field\", {_norm_sql('raw_value')} from {_q(schema, name)} t "
                               f"where ({cond}) and t.\"field\" in ('email', 'phone')").fetchall()
            for fld, v in rows:
                if v:
                    (emails if fld == "email" else phones).add(v)
    emails = {e for e in emails if "@" in e and len(e) > 3}
    phones = {p for p in phones if sum(ch.isdigit() for ch in p) >= 7}
    return emails, phones


def _exclusive(con, tables: Tables, emails: set[str], phones: set[str]) -> tuple[list[str], list[str]]:
    """Drop values another (remaining) staged customer also has, e.g. a shared ``info@`` address."""
    cols = tables.get(("staging", "customers"), {})
    shared: set[str] = set()
    for c in (*_EMAIL_COLUMNS, *_PHONE_COLUMNS):
        if c in cols and (emails or phones):
            con.execute("create or replace temp table erase_values as select unnest(?::varchar[]) as v",
                        [sorted(emails | phones)])
            rows = con.execute(f"select distinct {_norm_sql(c)} from staging.customers t "
                               f"where {_norm_sql(c)} in (select v from erase_values)").fetchall()
            shared.update(r[0] for r in rows)
    return sorted(emails - shared), sorted(phones - shared)


# -- deleting ----------------------------------------------------------------------------------

def _delete(con, tables: Tables) -> dict[str, int]:
    roots, children = delete_plan(tables)
    deleted: dict[str, int] = {}
    for schema, name, cond in roots:
        if schema.startswith("raw_") and "_dlt_id" in tables[(schema, name)]:
            con.execute(f"insert into erase_roots select t._dlt_id from {_q(schema, name)} t where {cond}")
    for schema, name, cond in [*roots, *children]:
        n = con.execute(f"delete from {_q(schema, name)} as t where {cond}").fetchall()[0][0]
        if n:
            deleted[f"{schema}.{name}"] = int(n)
    return deleted


# -- tombstones and the audit log --------------------------------------------------------------

def _tombstone_rows(records: pl.DataFrame, emails: list[str], *, key: bytes, erasure_id: str,
                    at: datetime, reason: str) -> pl.DataFrame:
    reason = _safe_reason(reason)
    rec = records.select(
        identifier_hash=record_hashes(records["source"], records["source_record_id"], key=key),
        kind=pl.lit(RECORD), source="source", source_record_id="source_record_id")
    mail = pl.DataFrame({"e": emails}, schema={"e": pl.Utf8}).select(
        identifier_hash=email_hashes(pl.Series(emails, dtype=pl.Utf8), key=key),
        kind=pl.lit(EMAIL), source=pl.lit(None, pl.Utf8), source_record_id=pl.lit(None, pl.Utf8))
    rows = pl.concat([rec, mail]).with_columns(
        erasure_id=pl.lit(erasure_id), erased_at=pl.lit(at).cast(pl.Datetime("us", "UTC")), reason=pl.lit(reason))
    return rows.select(list(TOMBSTONE_SCHEMA)).cast(TOMBSTONE_SCHEMA).unique("identifier_hash", keep="first")


def _safe_reason(reason: str) -> str:
    """The reason as given, with any e-mail address in it masked."""
    return _EMAIL_RE.sub(lambda m: mask_email(m.group()), reason)[:500]


def _log(con, erasure_id, kind, at, reason, records, golden, rows, tombs) -> None:
    con.execute("create schema if not exists privacy")
    con.execute(f"create table if not exists {ERASURES} (erasure_id varchar, requested_by varchar, "
                "erased_at timestamptz, reason varchar, records integer, golden_customers integer, "
                "rows_deleted bigint, tombstones integer)")
    con.execute(f"insert into {ERASURES} values (?, ?, ?, ?, ?, ?, ?, ?)",
                [erasure_id, kind, at, _safe_reason(reason), records, golden, rows, tombs])


# -- files and verification --------------------------------------------------------------------

def purge_load_packages(warehouse_path: str | Path) -> tuple[int, int]:
    """Remove dlt's archived (loaded) packages beside the warehouse: they hold raw rows.
    Returns (files removed, unfinished packages left)."""
    root = pipelines_dir(warehouse_path)
    removed = pending = 0
    if not root.is_dir():
        return 0, 0
    for pipeline in root.iterdir():
        loaded = pipeline / "load" / "loaded"
        if loaded.is_dir():
            for package in loaded.iterdir():
                removed += sum(1 for p in package.rglob("*") if p.is_file())
                shutil.rmtree(package, ignore_errors=True)
        for folder in (pipeline / "load" / "new", pipeline / "load" / "normalized",
                       pipeline / "normalize" / "extracted"):
            if folder.is_dir():
                pending += sum(1 for p in folder.iterdir() if p.is_dir())
    return removed, pending


def rewrite_file(warehouse: Warehouse) -> None:
    """Copy the whole database into a fresh file and move it over the old one: DuckDB leaves the
    bytes of deleted rows in the file (DELETE, CHECKPOINT and VACUUM do not overwrite them)."""
    path = warehouse.path
    fresh = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.rewrite")
    try:
        with warehouse.connect() as con:
            db = con.execute("select current_database()").fetchall()[0][0]
            con.execute("checkpoint")
            con.execute(f"attach '{_sql_text(str(fresh))}' as __fresh")
            con.execute(f'copy from database "{db}" to __fresh')
            con.execute("detach __fresh")
        for leftover in (Path(f"{path}.wal"), Path(f"{fresh}.wal")):
            if leftover.exists():
                raise PrivacyError(f"{leftover.name} still exists after closing the warehouse: another "
                                   "process has it open; the erasure is committed, rerun to rewrite the file")
        fresh.replace(path)
    finally:
        fresh.unlink(missing_ok=True)


def _sql_text(text: str) -> str:
    return text.replace("'", "''")


def find_values(warehouse: Warehouse, values: list[str]) -> dict[str, int]:
    """Rows per ``schema.table.column`` (text columns, every table but ``privacy``) that contain
    any of ``values`` (case-insensitive)."""
    needles = sorted({v.lower() for v in values if v})
    if not needles or not warehouse.path.exists():
        return {}
    hits: dict[str, int] = {}
    with warehouse.connect(read_only=True) as con:
        for (schema, name), cols in _tables(con).items():
            text = [c for c, t in cols.items() if t == "VARCHAR"]
            if not text:
                continue
            match = " or ".join(["contains(lower(t.\"{c}\"), ?)"] * len(needles))
            sql = ", ".join(f"count(*) filter (where {match.format(c=c)})" for c in text)
            counts = con.execute(f"select {sql} from {_q(schema, name)} t", needles * len(text)).fetchall()[0]
            hits |= {f"{schema}.{name}.{c}": int(n) for c, n in zip(text, counts, strict=True) if n}
    return hits


# -- published files ---------------------------------------------------------------------------

def _parquet_folders(warehouse_path: Path, given: list[str | Path] | None) -> list[Path]:
    """Parquet publications to clean: the folders given, else ``published/`` beside the warehouse."""
    folders = [Path(d) for d in given] if given else [warehouse_path.parent / "published"]
    return [d for d in folders if (d / MANIFEST).is_file()]


def _person_rows(df: pl.DataFrame, records: pl.DataFrame, golden: list[str], *,
                 source: str | None = None) -> pl.Expr:
    """True on rows of ``df`` that refer to the erased records or golden ids (by column name, as
    in the warehouse); ``source`` for files that hold one source's ids."""
    ids = records["record_id"].to_list()
    hit = pl.lit(False)
    for c in RECORD_COLUMNS:
        if c in df.columns:
            hit = hit | pl.col(c).cast(pl.Utf8).is_in(ids)
    for c in GOLDEN_COLUMNS:
        if c in df.columns:
            hit = hit | pl.col(c).cast(pl.Utf8).is_in(golden)
    if "source_record_id" in df.columns:
        pairs = records.select(pl.col("source").cast(pl.Utf8), pl.col("source_record_id").cast(pl.Utf8))
        if "source" in df.columns:
            keys = (pairs["source"] + "\x1f" + pairs["source_record_id"]).to_list()
            hit = hit | (pl.col("source").cast(pl.Utf8) + "\x1f" + pl.col("source_record_id").cast(pl.Utf8)).is_in(keys)
        elif source is not None:
            own = pairs.filter(pl.col("source") == source)["source_record_id"].to_list()
            hit = hit | pl.col("source_record_id").cast(pl.Utf8).is_in(own)
    return hit.fill_null(False)


def erase_merge_list_files(warehouse_path: Path, records: pl.DataFrame, golden: list[str]) -> int:
    """Drop the person's rows from the merge-list CSVs beside the warehouse; files rewritten."""
    rewritten = 0
    for folder in dict.fromkeys((merge_list_dir(warehouse_path), warehouse_path.parent / "merge_lists")):
        for path in sorted(folder.glob("merge_list_*.csv")) if folder.is_dir() else []:
            source = path.stem.removeprefix("merge_list_")
            df = pl.read_csv(path, infer_schema=False)
            kept = df.filter(~_person_rows(df, records, golden, source=source))
            if kept.height == df.height:
                continue
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
            try:
                kept.write_csv(tmp)   # values as they were read: already spreadsheet-safe
                tmp.replace(path)
            finally:
                tmp.unlink(missing_ok=True)
            rewritten += 1
    return rewritten


def erase_parquet(out_dir: Path, records: pl.DataFrame, golden: list[str]) -> int:
    """Drop the person's rows from every table of a Parquet publication (all-or-nothing, manifest
    updated); returns the number of files rewritten."""
    changed = {}
    for table, entry in read_manifest(out_dir).get("tables", {}).items():
        path = out_dir / entry["path"]
        if not path.is_file():
            continue
        df = pl.read_parquet(path)
        kept = df.filter(~_person_rows(df, records, golden))
        if kept.height != df.height:
            changed[table] = kept
    if changed:
        publish_parquet(changed, out_dir)
    return len(changed)


def find_in_parquet(out_dir: Path, values: list[str]) -> dict[str, int]:
    """Rows per ``parquet:<table>.<column>`` of a Parquet publication that contain any of ``values``."""
    needles = sorted({v.lower() for v in values if v})
    hits: dict[str, int] = {}
    if not needles:
        return hits
    for table, entry in read_manifest(out_dir).get("tables", {}).items():
        path = out_dir / entry["path"]
        if not path.is_file():
            continue
        df = pl.read_parquet(path).select(pl.col(pl.Utf8))
        for c in df.columns:
            n = df.select(pl.any_horizontal([pl.col(c).str.to_lowercase().str.contains(v, literal=True)
                                             for v in needles]).fill_null(False).sum()).item()
            if n:
                hits[f"parquet:{table}.{c}"] = int(n)
    return hits
