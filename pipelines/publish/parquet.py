"""Publish polars frames as Parquet files for a data lake: ``<out_dir>/<schema>/<table>.parquet``.

All-or-nothing: every table is first written to a temporary file beside its target; only when
all are written are they moved into place with ``os.replace`` (atomic per file), followed by
``_manifest.json``. A failure while writing removes the temporary files and leaves the previously
published files as they were; temporary files of a killed publish are removed by the next one
(one publisher per folder at a time).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.publish.tables import Hook, PublishError, call, check_tables, descriptions, split_table

MANIFEST = "_manifest.json"


def publish_parquet(tables: Mapping[str, pl.DataFrame], out_dir: str | Path, *,
                    comments: Mapping[str, Mapping[str, str]] | None = None,
                    table_comments: Mapping[str, str] | None = None,
                    compression: str = "zstd", hook: Hook | None = None) -> dict:
    """Write every frame to ``<out_dir>/<schema>/<table>.parquet`` and update the manifest.

    Column and table descriptions (default: ``pipelines.schema_docs``) go into the Parquet
    field and schema metadata under ``description``. Returns the manifest entries written.
    """
    check_tables(tables)
    out = Path(out_dir)
    col_docs, tab_docs = descriptions(tables, comments, table_comments)
    t0 = time.perf_counter()
    staged: list[tuple[Path, Path]] = []
    entries: dict[str, dict] = {}
    published_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    try:
        for table, df in tables.items():
            schema, name = split_table(table)
            folder = out / schema
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{name}.parquet"
            for stale in folder.glob(f".{name}.parquet.*.tmp"):  # left by a killed publish
                stale.unlink(missing_ok=True)
            tmp = folder / f".{name}.parquet.{uuid.uuid4().hex}.tmp"
            staged.append((tmp, target))
            _write(df, tmp, col_docs.get(table, {}), tab_docs.get(table), compression)
            entries[table] = {
                "path": f"{schema}/{name}.parquet",
                "rows": df.height,
                "columns": {c: str(t) for c, t in df.schema.items()},
                "sha256": _sha256(tmp),
                "published_at": published_at,
            }
            call(hook, f"written:{table}")
        call(hook, "before_swap")
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    done: list[str] = []
    try:
        for tmp, target in staged:
            os.replace(tmp, target)
            done.append(str(target))
    except OSError as exc:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise PublishError(f"moving Parquet files into place failed after {len(done)} of "
                           f"{len(staged)} files ({exc}); the manifest still lists the previous "
                           "publication") from exc
    _write_manifest(out, entries)
    return {"tables": entries, "seconds": round(time.perf_counter() - t0, 3)}


def read_manifest(out_dir: str | Path) -> dict:
    """The manifest of a Parquet publication (``{"tables": {}}`` if none yet)."""
    path = Path(out_dir) / MANIFEST
    if not path.exists():
        return {"tables": {}}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PublishError(f"{path}: not valid JSON (line {exc.lineno}): {exc.msg}") from exc


def _write(df: pl.DataFrame, path: Path, col_docs: Mapping[str, str], table_doc: str | None,
           compression: str) -> None:
    table = df.to_arrow()
    fields = [f.with_metadata({"description": col_docs[f.name]}) if f.name in col_docs else f
              for f in table.schema]
    meta = {"description": table_doc} if table_doc else None
    table = table.cast(pa.schema(fields, metadata=meta))
    pq.write_table(table, path, compression=compression)
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_manifest(out: Path, entries: Mapping[str, dict]) -> None:
    """Previous entries whose files still exist are kept; this publication's entries replace theirs."""
    try:
        manifest = read_manifest(out)
    except PublishError:
        manifest = {"tables": {}}
    kept = {t: e for t, e in manifest.get("tables", {}).items()
            if t not in entries and (out / e.get("path", "")).is_file()}
    manifest = {"format": 1, "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "tables": dict(sorted({**kept, **entries}.items()))}
    tmp = out / f".{MANIFEST}.{uuid.uuid4().hex}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, out / MANIFEST)
