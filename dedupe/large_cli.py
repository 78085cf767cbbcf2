"""``crm-golden dedupe --large``: the chunked engine behind the ``dedupe`` sub-command, chosen by
flag or automatically for a Parquet input above ``AUTO_LARGE_RECORDS`` records.

``dedupe/cli.py`` registers the options with ``add_large_arguments(parser)`` and hands over
with ``if use_large(args, settings): return run_large(args, settings, model)``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from dedupe.matching.explain import with_level_labels
from dedupe.matching.large import AUTO_LARGE_RECORDS, Progress, deduplicate_large
from dedupe.matching.model import FSModel
from dedupe.matching.settings import Settings


def add_large_arguments(parser) -> None:
    parser.add_argument("--large", action="store_true",
                        help="chunked engine for tables of millions of records (bounded memory, progress "
                        f"lines); automatic for Parquet inputs above {AUTO_LARGE_RECORDS:,} records")
    parser.add_argument("--workdir", help="folder for the chunked engine's intermediate Parquet files "
                        "(default: a temporary folder next to --out, removed afterwards)")


def use_large(args, settings: Settings) -> bool:
    """``--large``, or a big Parquet input matched on one table with the polars engine."""
    if getattr(args, "large", False):
        return True
    if args.link_with or getattr(settings, "engine", "polars") != "polars":
        return False
    if Path(args.input).suffix.lower() not in (".parquet", ".pq") or not Path(args.input).exists():
        return False
    return pq.ParquetFile(args.input).metadata.num_rows > AUTO_LARGE_RECORDS


def _print_progress(event: Progress) -> None:
    print(f"crm-golden dedupe: {event}", file=sys.stderr, flush=True)


def run_large(args, settings: Settings, model: FSModel | None) -> int:
    """Match with ``deduplicate_large`` and write what the in-memory path writes (``dedupe/cli.py``
    has refused ``--link-with`` and the Spark engine with ``--large`` already)."""
    t0 = time.perf_counter()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix=".crm-golden-", dir=out.parent))
    try:
        res = deduplicate_large(args.input, settings, workdir=workdir, model=model, progress=_print_progress)
        uid = settings.unique_id
        res.clusters.select(uid, "cluster_id").write_parquet(out)
        if args.pairs:
            Path(args.pairs).parent.mkdir(parents=True, exist_ok=True)
            writer = None
            for part in sorted((workdir / "pairs").glob("part-*.parquet")):
                table = with_level_labels(pl.read_parquet(part), settings).to_arrow()
                writer = writer or pq.ParquetWriter(args.pairs, table.schema)
                writer.write_table(table)
            if writer is not None:
                writer.close()
        if args.save_model:
            res.model.save(args.save_model)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    rules = ", ".join(f"{k} {v:,}" for k, v in res.blocking_counts.items())
    print(f"{res.clusters.height:,} records -> {res.clusters['cluster_id'].n_unique():,} clusters; "
          f"{res.candidate_pairs:,} candidate pairs ({rules}); chunked polars engine; "
          f"{time.perf_counter() - t0:.1f} s; wrote {out}", file=sys.stderr)
    return 0
